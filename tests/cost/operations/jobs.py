"""Agent jobs: each job type end to end (submit to succeeded: dispatch, the state machine's transitions, the
agent step's Lambda, the result note, the notifications), a failed job and its redrive, a cancelled one, and the
reads. The summarize job end to end is a headline row (``core``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from crewhouse.jobs import registry
from crewhouse.jobs.types.base import JobOutput, JobRun, PermanentJobError
from crewhouse.jobs.types.content import ContentParams
from tests.cost.catalog import Context, Effect, Metered
from tests.cost.operations.agents_support import ok, wait_until

TERMINAL = {"succeeded", "failed", "cancelled"}


class AlwaysFails:
    """A job type whose agent step fails for good (a bad source, a refused prompt): no retry, the job fails."""

    name, description, params_model = "cost-always-fails", "fails at once (cost tests)", ContentParams

    def run(self, run: JobRun) -> JobOutput:
        raise PermanentJobError("the source cannot be read")


def _failing_type() -> str:
    if registry.get_type(AlwaysFails.name) is None:  # the embedded functions run in this process
        registry.register(AlwaysFails())
    return AlwaysFails.name


def _job(ctx: Context, job_id: str) -> dict[str, Any]:
    return dict(ok(ctx.api.get(f"/jobs/{job_id}", headers=ctx.headers)))


def _submit(ctx: Context, body: dict[str, Any]) -> str:
    return str(ok(ctx.api.post("/jobs", json=body, headers=ctx.headers), 202)["id"])


def _ended(ctx: Context, job_id: str, status: str) -> Effect:
    """Metered: every execution the reading saw started has ended (its tail included); warming: the job's
    status over the API (that reading is not kept)."""
    if ctx.meter.active:
        sfn, reading = ctx.meter.client("stepfunctions"), ctx.meter.reading
        return lambda: bool(reading.executions) and all(
            sfn.describe_execution(executionArn=arn)["status"] != "RUNNING" for arn in reading.executions)
    return lambda: _job(ctx, job_id)["status"] == status


def _end_to_end(body_of: Callable[[Context], dict[str, Any]],
                status: str = "succeeded") -> Callable[[Context, Any], Effect]:
    def run(ctx: Context, _: Any) -> Effect:
        job_id = _submit(ctx, body_of(ctx))
        ctx.state["last_job"] = job_id
        return _ended(ctx, job_id, status)

    return run


def _csv_file(ctx: Context) -> str:
    """A small CSV file of the user's, scanned and available (made once)."""
    if "csv_file" not in ctx.state:
        rows = io.StringIO()
        writer = csv.writer(rows)
        writer.writerow(["region", "units", "price"])
        for n in range(40):
            writer.writerow([("north", "south", "east")[n % 3], 10 + n, 99.5 + n])
        data = rows.getvalue().encode()
        created = ok(ctx.api.post("/files", json={"filename": "sales.csv", "content_type": "text/csv",
                                                  "size": len(data)}, headers=ctx.headers), 201)
        upload = created["upload"]
        posted = httpx.post(upload["url"], data=upload["fields"], files={"file": ("sales.csv", data)}, timeout=60)
        assert posted.status_code == 204, posted.text
        wait_until(lambda: ok(ctx.api.get(f"/files/{created['id']}", headers=ctx.headers))["status"]
                   == "available", what="the CSV file's scan")
        ctx.state["csv_file"] = created["id"]
    return str(ctx.state["csv_file"])


RESEARCH_TOPIC = "zephyrine tariffs"  # a word no other row writes: the source is the note below


def _research_sources(ctx: Context) -> None:
    """A note on the research topic (made once), and no report of an earlier research run: the job's search reads
    the same source each time, whichever rows ran before. One source, not three: the report cites each source by
    its (random) id, and three ids' index terms vary the result note's BatchWriteItems by one between runs."""
    if "research_note" not in ctx.state:
        ctx.state["research_note"] = ok(ctx.api.post("/notes", json={"title": "Zephyrine tariffs", "body": (
            "Zephyrine tariffs: the import duty on zephyrine cells falls to 2 % in May; installers expect prices "
            "to follow within a quarter.")}, headers=ctx.headers), 201)["id"]
    for job_id in ctx.state.pop("research_jobs", []):
        result = _job(ctx, job_id).get("result") or {}
        if result.get("note_id"):
            ok(ctx.api.delete(f"/notes/{result['note_id']}", headers=ctx.headers), 204)


def research_body(ctx: Context) -> dict[str, Any]:
    return {"type": "research", "params": {"topic": RESEARCH_TOPIC, "depth": "quick"}}


def research(ctx: Context, _: Any) -> Effect:
    job_id = _submit(ctx, research_body(ctx))
    ctx.state.setdefault("research_jobs", []).append(job_id)
    return _ended(ctx, job_id, "succeeded")


def content_body(ctx: Context) -> dict[str, Any]:
    return {"type": "content", "params": {"brief": "Announce the solar battery: twelve hours of storage, ten-year "
                                                   "warranty, launch on May 3.", "format": "blog_post",
                                          "max_words": 200}}


def analyze_body(ctx: Context) -> dict[str, Any]:
    return {"type": "analyze", "params": {"file_id": _csv_file(ctx), "group_by": "region"}}


def failing_body(ctx: Context) -> dict[str, Any]:
    return {"type": _failing_type(), "params": {"brief": "anything"}}


def _finished_job(ctx: Context) -> str:
    if "finished_job" not in ctx.state:
        job_id = _submit(ctx, content_body(ctx))
        wait_until(lambda: _job(ctx, job_id)["status"] in TERMINAL, what="the job's end")
        ctx.state["finished_job"] = job_id
    return str(ctx.state["finished_job"])


def _failed_job(ctx: Context) -> str:
    job_id = _submit(ctx, failing_body(ctx))
    wait_until(lambda: _job(ctx, job_id)["status"] == "failed", what="the job's failure")
    return job_id


def _scheduled_job(ctx: Context) -> str:
    run_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    job_id = _submit(ctx, {**content_body(ctx), "run_at": run_at})
    assert _job(ctx, job_id)["status"] == "scheduled"
    return job_id


def submit_scheduled(ctx: Context, _: Any) -> Effect:
    _scheduled_job(ctx)
    return None


def cancel_scheduled(ctx: Context, job_id: str) -> Effect:
    assert ok(ctx.api.post(f"/jobs/{job_id}/cancel", headers=ctx.headers))["status"] == "cancelled"
    return None


def redrive(ctx: Context, job_id: str) -> Effect:
    ok(ctx.api.post(f"/jobs/{job_id}/redrive", headers=ctx.headers), 202)
    return _ended(ctx, job_id, "failed")  # the type fails again: a redrive's full round trip


def list_jobs(ctx: Context, _: Any) -> Effect:
    _finished_job(ctx)
    assert ok(ctx.api.get("/jobs", headers=ctx.headers))["items"]
    return None


def job_types(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.get("/jobs/types", headers=ctx.headers))
    return None


def get_job(ctx: Context, job_id: str) -> Effect:
    assert _job(ctx, job_id)["status"] == "succeeded"
    return None


def job_events(ctx: Context, job_id: str) -> Effect:
    assert ok(ctx.api.get(f"/jobs/{job_id}/events", headers=ctx.headers))["events"]
    return None


def dead_lettered_jobs(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.get("/jobs/dead-letters", headers=ctx.headers))
    return None


METERED: list[Metered] = [
    Metered("research job (one source note), end to end", ("POST /jobs",), research, _research_sources),
    Metered("content job, end to end", ("POST /jobs",), _end_to_end(content_body)),
    Metered("analyze job (40-row CSV), end to end", ("POST /jobs",), _end_to_end(analyze_body)),
    Metered("failed job (permanent error), end to end", ("POST /jobs",), _end_to_end(failing_body, "failed")),
    Metered("submit a job to run tomorrow", ("POST /jobs",), submit_scheduled),
    Metered("cancel a scheduled job", ("POST /jobs/{job_id}/cancel",), cancel_scheduled, _scheduled_job),
    Metered("redrive a failed job, to its next failure", ("POST /jobs/{job_id}/redrive",), redrive, _failed_job),
    Metered("list my jobs", ("GET /jobs",), list_jobs),
    Metered("job types", ("GET /jobs/types",), job_types),
    Metered("get a job", ("GET /jobs/{job_id}",), get_job, _finished_job),
    Metered("a job's timeline", ("GET /jobs/{job_id}/events",), job_events, _finished_job),
    Metered("dead-lettered jobs", ("GET /jobs/dead-letters",), dead_lettered_jobs),
]
