"""The headline rows (README's cost table): budget-checked in `make test` as well as in `make bench`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.cost.catalog import Context, Effect, Metered
from tests.cost.operations.agents_support import alternate, bus_agent, kept, ok

NOTE_BODY = ("The solar battery launches on May 3. It stores energy for twelve hours. Installers get training in "
             "April. The warranty lasts ten years. Pricing is announced at launch.")


def first_task(ctx: Context) -> str:
    if "tasks" not in ctx.state:
        create_task(ctx, None)
    return str(ctx.state["tasks"][0])


def first_note(ctx: Context) -> str:
    if "notes" not in ctx.state:
        create_note(ctx, None)
    return str(ctx.state["notes"][0])


def create_task(ctx: Context, _: Any) -> Effect:
    created = ok(ctx.api.post("/tasks", json={"title": "Buy milk", "priority": "A",  # same terms each time
                                              "planned_date": ctx.state["day"]}, headers=ctx.headers), 201)
    ctx.state.setdefault("tasks", []).append(created["id"])
    return None


def move_task(ctx: Context, task: str) -> Effect:
    priority = alternate(ctx, "moved", "C", "B")
    ok(ctx.api.post(f"/tasks/{task}/move", json={"priority": priority}, headers=ctx.headers))
    return None


def list_day(ctx: Context, _: Any) -> Effect:
    assert ok(ctx.api.get("/tasks", params={"planned_date": ctx.state["day"]}, headers=ctx.headers))["items"]
    return None


def create_note(ctx: Context, _: Any) -> Effect:
    created = ok(ctx.api.post("/notes", json={"title": "Battery launch", "body": NOTE_BODY}, headers=ctx.headers),
                 201)
    ctx.state.setdefault("notes", []).append(created["id"])
    return None


def get_note(ctx: Context, note: str) -> Effect:
    ok(ctx.api.get(f"/notes/{note}", headers=ctx.headers))
    return None


def chat_session(ctx: Context) -> str:
    return str(kept(ctx, "session",
                    lambda: ok(ctx.api.post("/chat/sessions", json={}, headers=ctx.headers), 201)["id"]))


def chat_turn(ctx: Context, session: str) -> Effect:
    response = ctx.api.post(f"/chat/sessions/{session}/messages", json={"text": "add buy oat milk tomorrow"},
                            headers=ctx.headers)
    assert response.status_code in (200, 201), response.text
    return None


def summarize_job(ctx: Context, note: str) -> Effect:
    job = ok(ctx.api.post("/jobs", json={"type": "summarize", "params": {"note_ids": [note], "length": "short"}},
                          headers=ctx.headers), 202)
    sfn, reading = ctx.meter.client("stepfunctions"), ctx.meter.reading

    def ended() -> bool:  # the execution the dispatch started has finished (its tail included)
        return bool(reading.executions) and all(
            sfn.describe_execution(executionArn=arn)["status"] != "RUNNING" for arn in reading.executions)

    return ended if ctx.meter.active else job_succeeded(ctx, job["id"])


def job_succeeded(ctx: Context, job_id: str) -> Callable[[], bool]:
    def done() -> bool:
        return bool(ok(ctx.api.get(f"/jobs/{job_id}", headers=ctx.headers))["status"] == "succeeded")

    return done


def bus_pair(ctx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
    return bus_agent(ctx, "producer"), bus_agent(ctx, "consumer")


def bus_message(ctx: Context, pair: tuple[dict[str, Any], dict[str, Any]]) -> Effect:
    sender, receiver = pair
    ok(ctx.api.post("/messages", json={"to": receiver["id"], "payload": {"hello": "world"}},
                    headers={**sender["headers"], "Idempotency-Key": uuid.uuid4().hex}), 202)
    inbox = ok(ctx.api.get(f"/agents/{receiver['id']}/messages", params={"wait": 5, "max": 10},
                           headers=receiver["headers"]))["messages"]
    assert len(inbox) == 1, inbox
    ok(ctx.api.post(f"/agents/{receiver['id']}/messages/ack", json={"receipts": [inbox[0]["receipt"]]},
                    headers=receiver["headers"]))
    return None


METERED = [
    Metered("create a task", ("POST /tasks",), create_task, headline=True),
    Metered("move a task", ("POST /tasks/{task_id}/move",), move_task, first_task, headline=True),
    Metered("list a day", ("GET /tasks",), list_day, first_task, headline=True),
    Metered("create a note", ("POST /notes",), create_note, headline=True),
    Metered("get a note", ("GET /notes/{note_id}",), get_note, first_note, headline=True),
    Metered("chat turn, one tool call", ("POST /chat/sessions/{session_id}/messages",), chat_turn, chat_session,
            headline=True),
    Metered("summarize job, end to end", ("POST /jobs",), summarize_job, first_note, headline=True),
    Metered("bus message: send, receive, ack", ("POST /messages", "GET /agents/{agent_id}/messages",
                                                "POST /agents/{agent_id}/messages/ack"), bus_message, bus_pair,
            headline=True),
]
