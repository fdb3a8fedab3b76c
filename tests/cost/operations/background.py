"""Background flows: what a schedule does per run, and what a user's action sets off in functions no API
operation answers with (a queue's consumer, a one-time schedule's target).

A schedule's run is metered by invoking its target the way EventBridge Scheduler does (the schedule's own
``Target.Input``, signed by the emulator, so only the function's own requests are billed); what it sets off
(streams, rules, queues, state machines) is waited for like any row's. The prose on what these cost a month is
in ``docs/cost.md``; flows not metered here are listed there with why."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import jwt

from crewhouse.local.websockets import WebSocketClient
from tests.cost.catalog import Context, Effect, Metered
from tests.cost.operations.agents_support import bus_agent, hosted_agent, ok, received, wait_until


def _emulator(ctx: Context, service: str) -> Any:
    """A client signed as the emulator (EventBridge Scheduler's own machinery), not as a function."""
    return boto3.client(service, endpoint_url=ctx.cloud.aws_endpoint, region_name=ctx.cloud.config.region,
                        aws_access_key_id="test", aws_secret_access_key="test")


def _stack_schedule(ctx: Context, logical_part: str) -> tuple[str, str]:
    """(function name, input) of the stack's schedule whose logical id contains ``logical_part``."""
    assert ctx.cloud.stack is not None
    found = [(key, spec) for key, spec in ctx.cloud.stack.template["Resources"].items()
             if spec["Type"] == "AWS::Scheduler::Schedule" and logical_part in key]
    assert len(found) == 1, f"{len(found)} schedules match {logical_part!r}"
    target = found[0][1]["Properties"]["Target"]
    return ctx.cloud.stack.resources[target["Arn"]["Fn::GetAtt"][0]], str(target.get("Input") or "{}")


def _invoke(ctx: Context, function: str, body: str) -> None:
    # RequestResponse rather than the scheduler's Event: the same run, and the reading knows when it has ended.
    answer = _emulator(ctx, "lambda").invoke(FunctionName=function, Payload=body.encode())
    assert "FunctionError" not in answer, answer["Payload"].read()


def _run_stack_schedule(logical_part: str) -> Callable[[Context, Any], Effect]:
    def run(ctx: Context, _: Any) -> Effect:
        function, body = _stack_schedule(ctx, logical_part)
        _invoke(ctx, function, body)
        return None

    return run


def _one_time_schedule(ctx: Context, mentioning: str) -> dict[str, Any]:
    """The one-time schedule (of any group) whose target input names ``mentioning``."""
    scheduler = _emulator(ctx, "scheduler")

    def find() -> dict[str, Any] | None:
        for group in scheduler.list_schedule_groups()["ScheduleGroups"]:
            for summary in scheduler.list_schedules(GroupName=group["Name"])["Schedules"]:
                schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=group["Name"])
                if mentioning in str(schedule["Target"].get("Input", "")):
                    return dict(schedule)
        return None

    return dict(wait_until(find, what=f"a schedule for {mentioning}"))


def _fire(ctx: Context, schedule: dict[str, Any]) -> None:
    """Delivers the schedule's input to its Lambda target with the context attributes AWS fills in."""
    body = str(schedule["Target"].get("Input") or "{}")
    for key, value in {"<aws.scheduler.schedule-arn>": schedule["Arn"],
                       "<aws.scheduler.scheduled-time>": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "<aws.scheduler.execution-id>": "cost-run", "<aws.scheduler.attempt-number>": "1"}.items():
        body = body.replace(key, value)
    _invoke(ctx, schedule["Target"]["Arn"], body)


# --- one-time schedules a user's action made -----------------------------------------------------------------


def _task_with_reminder(ctx: Context) -> dict[str, Any]:
    at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    task = ok(ctx.api.post("/tasks", json={"title": "Call the installer", "reminders": [{"at": at.isoformat()}]},
                           headers=ctx.headers), 201)
    return _one_time_schedule(ctx, task["id"])


def reminder_fires(ctx: Context, schedule: dict[str, Any]) -> Effect:
    _fire(ctx, schedule)
    return None


def _job_for_tomorrow(ctx: Context) -> dict[str, Any]:
    run_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    job = ok(ctx.api.post("/jobs", json={"type": "content", "run_at": run_at,
                                         "params": {"brief": "A short launch note for the solar battery."}},
                          headers=ctx.headers), 202)
    return {"job": job["id"], "schedule": _one_time_schedule(ctx, job["id"])}


def scheduled_job_fires(ctx: Context, prepared: dict[str, Any]) -> Effect:
    _fire(ctx, prepared["schedule"])
    if ctx.meter.active:
        sfn, reading = ctx.meter.client("stepfunctions"), ctx.meter.reading
        return lambda: bool(reading.executions) and all(
            sfn.describe_execution(executionArn=arn)["status"] != "RUNNING" for arn in reading.executions)
    return lambda: ok(ctx.api.get(f"/jobs/{prepared['job']}", headers=ctx.headers))["status"] == "succeeded"


# --- queues ----------------------------------------------------------------------------------------------------


def hosted_agent_answers(ctx: Context, _: Any) -> Effect:
    """A bus message to a hosted agent: its SQS inbox feeds the HostedAgents function, which answers the sender."""
    sender, helper = bus_agent(ctx, "producer"), hosted_agent(ctx, "Helper")
    # Not waiting for the reply in the request: its polling would count the machine's speed, not the work.
    ok(ctx.api.post("/messages/requests", json={"to": helper["id"], "payload": {"text": "Name one solar fact"},
                                                "timeout_seconds": 20, "wait": False},
                    headers=sender["headers"]), 202)
    return None


def _sender_inbox_empty(ctx: Context) -> None:
    sender = bus_agent(ctx, "producer")
    for message in received(ctx, sender, wait=0):
        ok(ctx.api.post(f"/agents/{sender['id']}/messages/ack", json={"receipts": [message["receipt"]]},
                        headers=sender["headers"]))


METERED: list[Metered] = [
    Metered("bus offline sweep, one run, nobody overdue (every minute)", (),
            _run_stack_schedule("OfflineSweepSchedule"), scheduled_runs=1),
    Metered("files retention sweep, one run (daily)", (), _run_stack_schedule("RetentionSweepSchedule"),
            scheduled_runs=1),
    Metered("a task reminder fires", (), reminder_fires, _task_with_reminder),
    Metered("a run_at job's schedule fires, job end to end", (), scheduled_job_fires, _job_for_tomorrow),
    Metered("a hosted agent answers a bus request (SQS inbox)", (), hosted_agent_answers,
            _sender_inbox_empty),
]


# --- live updates ------------------------------------------------------------------------------------------------


def _future_job(ctx: Context) -> dict[str, str]:
    """A job of the user's scheduled far ahead (made once): a topic to subscribe to, with nothing running."""
    if "live_job" not in ctx.state:
        job = ok(ctx.api.post("/jobs", json={"type": "content", "params": {"brief": "Live"},
                                             "run_at": "2099-01-01T00:00:00Z"}, headers=ctx.headers), 202)
        token = ctx.headers["Authorization"].removeprefix("Bearer ")
        claims = jwt.decode(token, options={"verify_signature": False})
        ctx.state["live_job"] = {"id": job["id"], "token": token, "tenant": claims["tenant_id"],
                                 "user": claims["sub"]}
    return dict(ctx.state["live_job"])


def live_update(ctx: Context, job: dict[str, str]) -> Effect:
    """A browser connects, subscribes to a job and receives one progress event, then disconnects: the WebSocket
    API's authorizer, $connect, subscribe and $disconnect, and the fan-out function's delivery. The event is put
    on the bus as the job runner would; that PutEvents is the producer's, billed in its own rows."""
    assert ctx.cloud.websocket_url
    with WebSocketClient.connect(f"{ctx.cloud.websocket_url}?token={job['token']}") as client:
        client.send({"action": "subscribe", "topic": f"job:{job['id']}"})
        assert client.receive_json()["type"] == "subscribed"
        put = _emulator(ctx, "events").put_events(Entries=[{
            "Source": "crewhouse.jobs", "DetailType": "job.progress", "EventBusName": "crewhouse",
            "Detail": json.dumps({"job": {"tenant_id": job["tenant"], "user_id": job["user"], "job_id": job["id"],
                                          "run": 1}, "progress": 40, "message": "step 40"})}])
        assert put["FailedEntryCount"] == 0
        while (message := client.receive_json(10))["type"] != "event":
            pass
        assert message["detail_type"] == "job.progress", message
    return None


METERED.append(Metered("live update: connect, subscribe, one job event, disconnect", (), live_update,
                       _future_job))
