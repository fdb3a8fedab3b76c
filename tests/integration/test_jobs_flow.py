"""Agent jobs over HTTP on the embedded cloud: the real state machine runs in moto's interpreter, with
our Lambdas in-process, fed by the real SQS poller and the local scheduler.

Test-only job types (registered in this process, which is where the embedded Lambdas run) stand in for
the failures a real provider causes: a transient error on the first attempt, and a long-running step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import boto3
import httpx
import pytest
from pydantic import BaseModel, ConfigDict

from crewhouse.jobs import registry
from crewhouse.jobs.types.base import JobOutput, JobRun, TransientJobError
from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer
from tests.support.waiting import eventually

TERMINAL = {"succeeded", "failed", "cancelled"}


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = "x"


class FlakyOnce:
    """Fails its first attempt with a transient error, then succeeds."""

    name, description, params_model = "test-flaky", "fails once, then works", Text
    attempts: ClassVar[dict[str, int]] = {}
    lock: ClassVar[threading.Lock] = threading.Lock()

    def run(self, run: JobRun) -> JobOutput:
        with self.lock:
            self.attempts[run.job_id] = self.attempts.get(run.job_id, 0) + 1
            first = self.attempts[run.job_id] == 1
        run.progress(20, "trying")
        if first:
            raise TransientJobError("the model was throttled")
        return JobOutput(title="Flaky", markdown="worked on the second attempt")


class Slow:
    """Reports progress for up to 30 s; stops when the job is cancelled (progress raises)."""

    name, description, params_model = "test-slow", "takes its time", Text
    stopped: ClassVar[dict[str, str]] = {}

    def run(self, run: JobRun) -> JobOutput:
        try:
            for step in range(1, 300):
                run.progress(min(95, step), f"step {step}")
                time.sleep(0.1)
        except Exception as exc:
            self.stopped[run.job_id] = type(exc).__name__
            raise
        return JobOutput(title="Slow", markdown="finished")


class Nap:
    """Takes half a second: long enough for runs to overlap when the limit allows it."""

    name, description, params_model = "test-nap", "sleeps briefly", Text

    def run(self, run: JobRun) -> JobOutput:
        run.progress(50, "napping")
        time.sleep(0.5)
        return JobOutput(title="Nap", markdown="rested")


@pytest.fixture(scope="module", autouse=True)
def test_types() -> Iterator[None]:
    for job_type in (FlakyOnce(), Slow(), Nap()):
        if registry.get_type(job_type.name) is None:
            registry.register(job_type)
    yield


def wait_for(api: httpx.Client, user: SignedInUser, job_id: str, done: Callable[[dict[str, Any]], bool],
             timeout: float = 40.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/jobs/{job_id}", headers=bearer(user.id_token)).json()
        if done(job) or time.monotonic() > deadline:
            return dict(job)
        time.sleep(0.1)


def finished(job: dict[str, Any]) -> bool:
    return job.get("status") in TERMINAL


def submit(api: httpx.Client, user: SignedInUser, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/jobs", json=body, headers=bearer(user.id_token))
    assert response.status_code == 202, response.text
    return dict(response.json())


def sfn(cloud: EmbeddedCloud) -> Any:
    return boto3.client("stepfunctions", endpoint_url=cloud.aws_endpoint, region_name=cloud.config.region,
                        aws_access_key_id="test", aws_secret_access_key="test")


def terminal_execution(cloud: EmbeddedCloud, execution_arn: str) -> dict[str, Any] | None:
    """The execution's description once it has ended, else None."""
    execution = sfn(cloud).describe_execution(executionArn=execution_arn)
    return None if execution["status"] == "RUNNING" else dict(execution)


def test_summarize_runs_to_a_result_note(api: httpx.Client, cloud: EmbeddedCloud, user: SignedInUser) -> None:
    note = api.post("/notes", json={"title": "Battery launch", "body": (
        "The solar battery launches on May 3. It stores energy for twelve hours. "
        "Installers get training in April. The warranty lasts ten years. Pricing is announced at launch.")},
        headers=bearer(user.id_token)).json()
    job = submit(api, user, {"type": "summarize", "params": {"note_ids": [note["id"]], "length": "short"},
                             "priority": "high"})
    assert job["status"] == "queued"
    done = wait_for(api, user, job["id"], finished)
    assert done["status"] == "succeeded", done
    assert done["progress"] == 100 and done["attempts"] == 1 and done["error"] is None
    assert done["execution_arn"].endswith(f":{job['id']}")  # the execution is named after the job
    assert "console.aws.amazon.com/states" in done["console_url"]
    result = api.get(f"/notes/{done['result']['note_id']}", headers=bearer(user.id_token)).json()
    assert "offline" in result["body"].lower()  # the offline provider says so in every result
    assert "agent-job" in result["tags"]
    assert done["result"]["preview"] == result["body"][:500]  # the start of the result, without reading the note
    # The job record is what a client trusts: `succeeded` means the result is stored and readable. The
    # execution may still be running its tail (EmitSucceeded), so its own status is awaited, not assumed.
    execution = eventually(lambda: terminal_execution(cloud, done["execution_arn"]), timeout=30)
    assert execution and execution["status"] == "SUCCEEDED", execution
    timeline = api.get(f"/jobs/{job['id']}/events", headers=bearer(user.id_token)).json()["events"]
    entered = [e["state"] for e in timeline if e["type"] == "state_entered"]
    assert entered == ["RunAgent", "StoreResult", "EmitSucceeded"]
    listed = api.get("/jobs", params={"status": "succeeded"}, headers=bearer(user.id_token)).json()["items"]
    assert job["id"] in [j["id"] for j in listed]


def test_a_transient_failure_is_retried(api: httpx.Client, user: SignedInUser) -> None:
    job = submit(api, user, {"type": "test-flaky", "params": {}})
    done = wait_for(api, user, job["id"], finished)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    timeline = api.get(f"/jobs/{job['id']}/events", headers=bearer(user.id_token)).json()["events"]
    failures = [e for e in timeline if e["type"] == "task_failed"]
    assert failures and "Crewhouse.TransientError" in failures[0]["detail"]
    assert any(e["type"] == "retry" and e["state"] == "RunAgent" for e in timeline)


@contextmanager
def misconfigured(cloud: EmbeddedCloud, function: str, variable: str) -> Iterator[None]:
    """The function's ``variable`` names something that does not exist, until the block ends."""
    lambdas = boto3.client("lambda", endpoint_url=cloud.aws_endpoint, region_name=cloud.config.region,
                           aws_access_key_id="test", aws_secret_access_key="test")
    name = cloud.function_name(function)
    environment = lambdas.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    broken = {**environment, variable: environment[variable] + "-missing"}
    lambdas.update_function_configuration(FunctionName=name, Environment={"Variables": broken})
    try:
        yield
    finally:
        lambdas.update_function_configuration(FunctionName=name, Environment={"Variables": environment})


def test_dispatch_failure_dead_letters_then_redrive_succeeds(api: httpx.Client, cloud: EmbeddedCloud,
                                                              user: SignedInUser) -> None:
    with misconfigured(cloud, "JobsJobDispatcher", "JOB_STATE_MACHINE_ARN"):
        job = submit(api, user, {"type": "test-flaky", "params": {"text": "dlq"}})
        dead = wait_for(api, user, job["id"], finished)
    assert dead["status"] == "failed" and dead["dead_lettered"], dead
    # As in AWS, the dispatcher's role may start only its own state machine: another ARN is refused by IAM.
    assert dead["error"]["code"] == "dead_lettered" and "AccessDeniedException" in dead["error"]["message"]
    letters = api.get("/jobs/dead-letters", headers=bearer(user.id_token)).json()["items"]
    assert [j["id"] for j in letters] == [job["id"]]

    redriven = api.post(f"/jobs/{job['id']}/redrive", headers=bearer(user.id_token))
    assert redriven.status_code == 202, redriven.text
    done = wait_for(api, user, job["id"], finished)
    assert done["status"] == "succeeded" and not done["dead_lettered"], done
    assert done["execution_arn"].endswith(f":{job['id']}-run2")
    assert api.get("/jobs/dead-letters", headers=bearer(user.id_token)).json()["items"] == []


def test_cancel_while_running_stops_the_execution(api: httpx.Client, cloud: EmbeddedCloud,
                                                  user: SignedInUser) -> None:
    job = submit(api, user, {"type": "test-slow", "params": {}})
    running = wait_for(api, user, job["id"], lambda j: j["status"] == "running" and j["progress"] >= 3)
    assert running["status"] == "running" and running["eta"] is not None, running
    cancelled = api.post(f"/jobs/{job['id']}/cancel", headers=bearer(user.id_token))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    client = sfn(cloud)
    deadline = time.monotonic() + 20
    while client.describe_execution(executionArn=running["execution_arn"])["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution was not stopped"
        time.sleep(0.1)
    # Stopped either way: StopExecution aborted it, or the agent step saw the cancellation first and the state
    # machine ended in its Cancelled state (a race both orders of which AWS allows too).
    status = client.describe_execution(executionArn=running["execution_arn"])["status"]
    if status != "ABORTED":
        events = sorted(client.get_execution_history(executionArn=running["execution_arn"])["events"],
                        key=lambda e: e["id"])
        entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
        assert (status, entered[-1:]) == ("SUCCEEDED", ["Cancelled"]), (status, entered)
    deadline = time.monotonic() + 10
    while job["id"] not in Slow.stopped and time.monotonic() < deadline:
        time.sleep(0.1)
    assert Slow.stopped.get(job["id"]) == "JobCancelled"  # the agent step noticed and stopped working
    again = api.post(f"/jobs/{job['id']}/cancel", headers=bearer(user.id_token))
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    assert wait_for(api, user, job["id"], finished)["status"] == "cancelled"


def test_a_scheduled_job_fires_when_due(api: httpx.Client, user: SignedInUser) -> None:
    run_at = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    job = submit(api, user, {"type": "test-flaky", "params": {"text": "later"}, "run_at": run_at})
    assert job["status"] == "scheduled"
    time.sleep(1)
    assert api.get(f"/jobs/{job['id']}", headers=bearer(user.id_token)).json()["status"] == "scheduled"
    done = wait_for(api, user, job["id"], finished, timeout=60)
    assert done["status"] == "succeeded", done
    assert datetime.fromisoformat(done["started_at"]) >= datetime.fromisoformat(run_at) - timedelta(seconds=1)


def test_bad_input_is_a_clear_4xx(api: httpx.Client, user: SignedInUser, new_user: Callable[[], SignedInUser]) -> None:
    headers = bearer(user.id_token)
    unknown = api.post("/jobs", json={"type": "nope", "params": {}}, headers=headers)
    assert unknown.status_code == 422 and "summarize" in unknown.text
    bad = api.post("/jobs", json={"type": "summarize", "params": {"length": "epic"}}, headers=headers)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["errors"]
    other = new_user()
    notebook = api.post("/notebooks", json={"name": "Theirs"}, headers=bearer(other.id_token)).json()
    foreign = api.post("/jobs", json={"type": "summarize", "params": {"text": "Some text to summarise here."},
                                      "result": {"kind": "note", "notebook_id": notebook["id"]}}, headers=headers)
    assert foreign.status_code == 404, foreign.text
    mine = submit(api, user, {"type": "test-slow", "params": {}, "run_at": (
        datetime.now(UTC) + timedelta(hours=1)).isoformat()})
    for method, path in (("GET", ""), ("POST", "/cancel"), ("GET", "/events")):
        stranger = api.request(method, f"/jobs/{mine['id']}{path}", headers=bearer(other.id_token))
        assert stranger.status_code == 404, (method, path, stranger.text)
    assert api.post(f"/jobs/{mine['id']}/cancel", headers=headers).json()["status"] == "cancelled"


def test_a_tenant_never_runs_more_jobs_than_its_limit(api: httpx.Client, new_user: Callable[[], SignedInUser]) -> None:
    owner = new_user()  # a fresh tenant: limit 3, nothing else running
    ids = [submit(api, owner, {"type": "test-nap", "params": {}})["id"] for _ in range(8)]
    done = [wait_for(api, owner, job_id, finished, timeout=90) for job_id in ids]
    assert all(j["status"] == "succeeded" for j in done), done
    # Count overlapping runs: +1 at each start, -1 at each finish, in time order.
    edges = sorted([(datetime.fromisoformat(j["started_at"]), 1) for j in done]
                   + [(datetime.fromisoformat(j["finished_at"]), -1) for j in done], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert 1 < peak <= 3, peak  # they did run side by side, and never more than the limit


def test_a_failed_store_keeps_the_report_and_names_the_step(api: httpx.Client, cloud: EmbeddedCloud,
                                                            user: SignedInUser) -> None:
    with misconfigured(cloud, "JobsJobStep", "NOTES_TABLE"):  # the result note cannot be written
        job = submit(api, user, {"type": "summarize", "params": {"text": "Solar batteries store the day's sun "
                                                                         "for the evening. " * 20}})
        failed = wait_for(api, user, job["id"], finished)
    assert failed["status"] == "failed" and failed["failed_step"] == "StoreResult", failed
    assert failed["partial"] and "offline" in failed["partial"]["markdown"].lower()  # the agent's report, kept
    assert failed["result"] is None and failed["error"]["message"]
    assert "stackTrace" not in failed["error"]["message"] and "File \"" not in failed["error"]["message"]
