"""What each operation costs in AWS: requests by service, capacity units, transitions, Lambda time and dollars.

One embedded cloud; each operation runs once unmetered (warming the caches that would otherwise add calls: the
functions' module-level clients and settings, the authorizer's JWKS and the bus token verification, the
tenant/membership reads they cache per container), then once under the meter over real HTTP. Work the operation
sets off (stream workers, queue pollers, state machines, EventBridge deliveries) is waited for before the meter
closes: see ``settled``. The functions' requests per ``service:Operation`` are asserted exactly against
``BUDGETS``; a change that adds or removes a request fails naming it. ``CREWHOUSE_WRITE_COST=1`` also writes
``docs/cost.md``.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from crewhouse.local.cloud import EmbeddedCloud, LocalCloudConfig
from crewhouse.local.seed import sign_in, sign_up_and_confirm
from tests.cost.meter import ACCOUNT, Meter, Reading
from tests.cost.prices import TAKEN, dollars, lines, unpriced
from tests.support.moto_server import embedded_cloud_environment, free_port

DOC = Path(__file__).resolve().parents[2] / "docs" / "cost.md"
SETTLE_TIMEOUT = 60.0

# The functions' (and Step Functions integrations') AWS requests per operation, as measured when written.
# Step Functions' service integrations count here too (its Lambda Invokes), and so do the receives and deletes
# Lambda's SQS event source mapping makes, marked "(poller)". Measured 2026-12-04.
# Since issue 21's per-user limits, each HTTP request adds one UpdateItem (its caller's bucket, in the rate-limit
# table); a caller's 1st, 11th, 21st … request adds one more (the tenant's bucket), which none of these readings hits.
# A bus agent's requests are charged to the agent's own bucket by the bus only.
BUDGETS: dict[str, dict[str, int]] = {
    "create a task": {"dynamodb:BatchWriteItem": 2, "dynamodb:GetItem": 1, "dynamodb:PutItem": 1,
                      "dynamodb:Query": 2, "dynamodb:UpdateItem": 1, "events:PutEvents": 1},
    "move a task": {"dynamodb:BatchWriteItem": 1, "dynamodb:GetItem": 2, "dynamodb:PutItem": 1, "dynamodb:Query": 2,
                    "dynamodb:UpdateItem": 1, "events:PutEvents": 1},
    "list a day": {"dynamodb:GetItem": 1, "dynamodb:Query": 3, "dynamodb:UpdateItem": 1},
    "create a note": {"dynamodb:BatchWriteItem": 10, "dynamodb:GetItem": 1, "dynamodb:TransactWriteItems": 1,
                      "dynamodb:UpdateItem": 1, "events:PutEvents": 1},
    "get a note": {"dynamodb:GetItem": 2, "dynamodb:UpdateItem": 1},
    # Since issue 16's chat producers: chat.tool_call and chat.reply (one PutEvents each), each fanned out (one
    # counter UpdateItem, one replay PutItem, one subscribers Query; no subscriber here, so no membership read).
    "chat turn, one tool call": {"dynamodb:BatchWriteItem": 3, "dynamodb:GetItem": 1, "dynamodb:PutItem": 3,
                                 "dynamodb:Query": 4, "dynamodb:UpdateItem": 5, "events:PutEvents": 3},
    # Since issue 16: 3 job.progress events for live updates, each fanned out (one counter UpdateItem, one replay
    # PutItem, one subscribers Query), and job.succeeded's in-app notification (announced as notification.created,
    # fanned out the same way) and e-mail (GetItems: the owner's membership, profile and preferences). Since issue
    # 17: no web-search key read (only research searches); the pipeline cut (docs/cost.md, "The agent-job
    # pipeline"): no MarkRunning or MarkSucceeded step (2 Invokes), the agent step's start is the run's start (2
    # UpdateItems to 1), progress written at most every 5 s (3 UpdateItems to none for this fast job), dispatch
    # reads nothing (1 GetItem), a submission nobody waits before is admitted as it is made (1 Query and 1
    # transaction), and success gives the slot back in the same transaction (1 UpdateItem).
    "summarize job, end to end": {"dynamodb:BatchWriteItem": 18, "dynamodb:GetItem": 8, "dynamodb:Query": 7,
                                  "dynamodb:PutItem": 6, "dynamodb:TransactWriteItems": 5,
                                  "dynamodb:UpdateItem": 9, "events:PutEvents": 6, "email:SendEmail": 1,
                                  "lambda:Invoke": 2, "sqs:SendMessage": 1,
                                  "sqs:ReceiveMessage (poller)": 1, "sqs:DeleteMessageBatch (poller)": 1,
                                  "states:SendTaskSuccess": 1, "states:StartExecution": 1},
    # Since issue 16's bus producer: bus.message (one PutEvents), fanned out (UpdateItem, PutItem, Query).
    "bus message: send, receive, ack": {"dynamodb:GetItem": 1, "dynamodb:PutItem": 4, "dynamodb:Query": 1,
                                        "dynamodb:UpdateItem": 5, "events:PutEvents": 1,
                                        "sqs:DeleteMessageBatch": 1, "sqs:ReceiveMessage": 1,
                                        "sqs:SendMessage": 1},
}
ATTEMPTS = 3  # a reading that caught a scheduled function (the bus sweep runs every minute) is taken again


@dataclass
class Row:
    name: str
    reading: Reading


@dataclass
class Context:
    cloud: EmbeddedCloud
    api: httpx.Client
    meter: Meter
    headers: dict[str, str]
    state: dict[str, Any]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- settling: the operation's asynchronous work has all run ------------------------------------------------


def _stream_ends(region: str) -> dict[str, tuple[str, int]]:
    """Table name -> (shard id, sequence number of its stream's last record)."""
    from moto.dynamodb.models import dynamodb_backends

    ends = {}
    for name, table in dynamodb_backends[ACCOUNT][region].tables.items():
        shard = getattr(table, "stream_shard", None)
        if shard is not None and shard.items:
            ends[name] = (shard.id, shard.starting_sequence_number + len(shard.items) - 1)
    return ends


def _pending(cloud: EmbeddedCloud, baseline: dict[str, tuple[str, int]]) -> list[str]:
    """What the embedded cloud still has to deliver: stream records past a mapping's checkpoint (written since
    ``baseline``), messages in queues a function consumes, Lambda invocations running."""
    from moto.awslambda.models import lambda_backends
    from moto.sqs.models import sqs_backends

    region = cloud.config.region
    waiting: list[str] = []
    ends = _stream_ends(region)
    queues = sqs_backends[ACCOUNT][region].queues
    states = cloud._streams._states if cloud._streams is not None else {}
    for mapping in list(lambda_backends[ACCOUNT][region]._event_source_mappings.values()):
        source = mapping.event_source_arn
        if ":dynamodb:" in source:
            table = source.split(":table/", 1)[1].split("/", 1)[0]
            if table not in ends or ends[table] == baseline.get(table):
                continue
            shard_id, last = ends[table]
            state = states.get(mapping.uuid)
            checkpoint = state.shards.get(shard_id) if state is not None else None
            if checkpoint is None or checkpoint.sequence_number is None or int(checkpoint.sequence_number) < last:
                waiting.append(f"stream of {table}")
        elif ":sqs:" in source:
            queue = queues.get(source.rsplit(":", 1)[1])
            if queue is not None and queue._messages:
                waiting.append(f"queue {queue.name}")
    return waiting


def settled(ctx: Context, baseline: dict[str, tuple[str, int]], effect: Callable[[], bool] | None) -> None:
    """Poll until the operation's effect is there and nothing it set off is still pending (twice in a row, so
    a delivery between two checks is not missed)."""
    from crewhouse.local import eventbridge

    deadline = time.monotonic() + SETTLE_TIMEOUT
    quiet = 0
    while quiet < 2:
        assert time.monotonic() < deadline, f"still pending: {_pending(ctx.cloud, baseline)}"
        eventbridge.drain(timeout=max(0.0, deadline - time.monotonic()))
        with ctx.meter.own_calls():
            done = effect is None or effect()
        quiet = quiet + 1 if done and ctx.meter.in_flight == 0 and not _pending(ctx.cloud, baseline) else 0
        time.sleep(0.02)


# --- the operations ---------------------------------------------------------------------------------------

Effect = Callable[[], bool] | None


def create_task(ctx: Context) -> Effect:
    response = ctx.api.post("/tasks", json={"title": "Buy milk", "priority": "A",  # same terms each time

                                            "planned_date": ctx.state["day"]},
                            headers=ctx.headers)
    assert response.status_code == 201, response.text
    ctx.state.setdefault("tasks", []).append(response.json()["id"])
    return None


def move_task(ctx: Context) -> Effect:
    task = ctx.state["tasks"][0]
    priority = "C" if ctx.state.get("moved") != "C" else "B"
    ctx.state["moved"] = priority
    response = ctx.api.post(f"/tasks/{task}/move", json={"priority": priority}, headers=ctx.headers)
    assert response.status_code == 200, response.text
    return None


def list_day(ctx: Context) -> Effect:
    response = ctx.api.get("/tasks", params={"planned_date": ctx.state["day"]}, headers=ctx.headers)
    assert response.status_code == 200 and response.json()["items"], response.text
    return None


def create_note(ctx: Context) -> Effect:
    response = ctx.api.post("/notes", json={"title": "Battery launch", "body": (
        "The solar battery launches on May 3. It stores energy for twelve hours. Installers get training in "
        "April. The warranty lasts ten years. Pricing is announced at launch.")}, headers=ctx.headers)
    assert response.status_code == 201, response.text
    ctx.state.setdefault("notes", []).append(response.json()["id"])
    return None


def get_note(ctx: Context) -> Effect:
    response = ctx.api.get(f"/notes/{ctx.state['notes'][0]}", headers=ctx.headers)
    assert response.status_code == 200, response.text
    return None


def chat_turn(ctx: Context) -> Effect:
    if "session" not in ctx.state:
        ctx.state["session"] = ctx.api.post("/chat/sessions", json={}, headers=ctx.headers).json()["id"]
    response = ctx.api.post(f"/chat/sessions/{ctx.state['session']}/messages",
                            json={"text": "add buy oat milk tomorrow"}, headers=ctx.headers)
    assert response.status_code in (200, 201), response.text
    return None


def summarize_job(ctx: Context) -> Effect:
    response = ctx.api.post("/jobs", json={"type": "summarize", "params": {"note_ids": [ctx.state["notes"][0]],
                                                                            "length": "short"}},
                            headers=ctx.headers)
    assert response.status_code == 202, response.text
    ctx.state.setdefault("jobs", []).append(response.json()["id"])
    sfn, reading = ctx.meter.client("stepfunctions"), ctx.meter.reading

    def ended() -> bool:  # the execution the dispatch started has finished (its tail included)
        return bool(reading.executions) and all(
            sfn.describe_execution(executionArn=arn)["status"] != "RUNNING" for arn in reading.executions)

    return ended if ctx.meter.active else _unmetered_job_done(ctx, response.json()["id"])


def _unmetered_job_done(ctx: Context, job_id: str) -> Callable[[], bool]:
    def done() -> bool:
        job = ctx.api.get(f"/jobs/{job_id}", headers=ctx.headers).json()
        return bool(job["status"] == "succeeded")

    return done


def bus_message(ctx: Context) -> Effect:
    sender, receiver = ctx.state["sender"], ctx.state["receiver"]
    sent = ctx.api.post("/messages", json={"to": receiver["id"], "payload": {"hello": "world"}},
                        headers={**sender["headers"], "Idempotency-Key": uuid.uuid4().hex})
    assert sent.status_code == 202, sent.text
    inbox = ctx.api.get(f"/agents/{receiver['id']}/messages", params={"wait": 5, "max": 10},
                        headers=receiver["headers"])
    assert inbox.status_code == 200, inbox.text
    messages = inbox.json()["messages"]
    assert len(messages) == 1, messages
    acked = ctx.api.post(f"/agents/{receiver['id']}/messages/ack",
                         json={"receipts": [messages[0]["receipt"]]}, headers=receiver["headers"])
    assert acked.status_code == 200, acked.text
    return None


OPERATIONS: dict[str, Callable[[Context], Effect]] = {
    "create a task": create_task,
    "move a task": move_task,
    "list a day": list_day,
    "create a note": create_note,
    "get a note": get_note,
    "chat turn, one tool call": chat_turn,
    "summarize job, end to end": summarize_job,
    "bus message: send, receive, ack": bus_message,
}


# --- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report() -> Iterator[list[Row]]:
    rows: list[Row] = []
    yield rows
    print("\n\n" + table(rows))
    if os.environ.get("CREWHOUSE_WRITE_COST") == "1" and rows:
        write_doc(rows)


@pytest.fixture(scope="module")
def ctx() -> Iterator[Context]:
    with embedded_cloud_environment(), \
            EmbeddedCloud(LocalCloudConfig(aws_port=free_port(), api_port=free_port())) as cloud:
        assert cloud.stack is not None
        meter = Meter(cloud.aws_endpoint, cloud.config.region)
        with meter.installed(), httpx.Client(base_url=cloud.api_url, timeout=60,
                                             event_hooks={"request": [meter.count_api_request]}) as api:
            email, password = f"cost-{uuid.uuid4().hex[:8]}@example.com", "Correct-horse-42!"
            sign_up_and_confirm(cloud.stack, email, password)
            headers = bearer(sign_in(cloud.stack, email, password).id_token)
            day = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
            context = Context(cloud, api, meter, headers, {"day": day})
            context.state["sender"] = agent(api, headers, "agent-producer")
            context.state["receiver"] = agent(api, headers, "agent-consumer")
            before = _stream_ends(cloud.config.region)
            create_task(context)  # what the other operations act on, so each runs alone too (-k)
            create_note(context)
            settled(context, before, None)
            yield context


def agent(api: httpx.Client, admin: dict[str, str], role: str) -> dict[str, Any]:
    # The highest rate: each request finds the agent's bucket idle, so admission is its one UpdateItem. At the
    # default 1,000 a minute (60 ms apart) a receive and its ack come sooner on a quiet machine and charge a second
    # UpdateItem, and later on a loaded one: the count would depend on the machine's speed.
    registered = api.post("/agents", json={"name": role, "capabilities": [], "role": role,
                                           "rate_limit_per_minute": 100_000}, headers=admin)
    assert registered.status_code == 201, registered.text
    record = registered.json()
    credentials = record["credentials"]
    token = api.post("/bus/token", data={"grant_type": "client_credentials", "client_id": credentials["client_id"],
                                         "client_secret": credentials["client_secret"]})
    assert token.status_code == 200, token.text
    return {"id": record["id"], "headers": bearer(token.json()["access_token"])}


def scheduled_functions(cloud: EmbeddedCloud) -> set[str]:
    """Functions a rate or cron schedule invokes: their runs are not the operation's."""
    assert cloud.stack is not None
    resources = cloud.stack.template["Resources"]
    found = set()
    for spec in resources.values():
        if spec["Type"] == "AWS::Scheduler::Schedule" and str(
                spec["Properties"].get("ScheduleExpression", "")).startswith(("rate(", "cron(")):
            target = spec["Properties"]["Target"]["Arn"]
            if isinstance(target, dict) and "Fn::GetAtt" in target:
                found.add(cloud.stack.resources[target["Fn::GetAtt"][0]])
    return found


# --- the test ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_operation_cost(name: str, ctx: Context, report: list[Row]) -> None:
    run = OPERATIONS[name]
    region = ctx.cloud.config.region
    before = _stream_ends(region)
    warm_effect = run(ctx)  # warm: caches filled, first-call imports done
    settled(ctx, before, warm_effect)
    scheduled = scheduled_functions(ctx.cloud)
    for _ in range(ATTEMPTS):
        baseline = _stream_ends(region)
        ctx.meter.start()
        effect = run(ctx)
        settled(ctx, baseline, effect)
        reading = ctx.meter.stop()
        if not any(i.function in scheduled for i in reading.invocations):
            break
    else:
        pytest.fail(f"{name}: a scheduled function ran during each of {ATTEMPTS} readings")
    report.append(Row(name, reading))
    measured = dict(sorted(reading.requests.items()))
    print(f"\n{name}: {measured}")
    if os.environ.get("CREWHOUSE_COST_CALLS") == "1":  # each call with its capacity, in order
        print("\n".join(f"  {call} RCU {reads:g} WCU {writes:g}" for call, reads, writes in reading.calls))
    budget = BUDGETS.get(name)
    assert budget is not None, f"no budget for {name!r}; measured {measured}"
    changed = {k: (budget.get(k, 0), measured.get(k, 0)) for k in budget.keys() | measured.keys()
               if budget.get(k, 0) != measured.get(k, 0)}
    assert not changed, (f"{name}: AWS requests changed (request: (budget, measured)): {changed}; "
                         f"update BUDGETS if intended")


def test_capacity_and_price_rules() -> None:
    """AWS's unit rules and the price arithmetic, on numbers worked by hand (no cloud needed)."""
    from tests.cost.meter import Invocation, _payload_units, _read_units, _write_units

    assert (_read_units(4096, True), _read_units(4097, True), _read_units(100, False)) == (1, 2, 0.5)
    assert (_write_units(1024), _write_units(1025), _write_units(0)) == (1, 2, 1)
    assert _payload_units("sqs", "SendMessage", {"MessageBody": "x" * 65537}, None) == 2
    assert _payload_units("events", "PutEvents", {"Entries": [{"Detail": "{}"}] * 3}, None) == 3
    reading = Reading(read_units=2, write_units=8, transitions=4, api_requests=1,
                      invocations=[Invocation("f", 1024, 100.0)])
    expected = (2 * 0.125 + 8 * 0.625 + 1.00) / 1e6 + 4 * 0.025 / 1e3 + 0.20 / 1e6 + 0.1 * 0.0000133334
    assert abs(dollars(reading) - expected) < 1e-12, (dollars(reading), expected)


# --- the report ---------------------------------------------------------------------------------------------

HEADER = ("| operation | requests by service | RCU | WCU | transitions | Lambda invocations (ms) | "
          "$ per 1,000 | $ per 1,000,000 |\n|---|---|---|---|---|---|---|---|")


def row_text(row: Row) -> str:
    r = row.reading
    services = dict(sorted(r.by_service().items()))
    services_text = ", ".join(f"{s} {n}" for s, n in services.items()) or "none"
    if r.api_requests:
        services_text = f"HTTP API {r.api_requests}, " + services_text
    extra = f" (unpriced: {', '.join(unpriced(r))})" if unpriced(r) else ""
    cost = dollars(r)
    return (f"| {row.name} | {services_text}{extra} | {r.read_units:g} | {r.write_units:g} | {r.transitions} | "
            f"{len(r.invocations)} ({r.lambda_ms:.0f}) | {cost * 1000:.4f} | {cost * 1_000_000:.2f} |")


def invocations(reading: Reading) -> str:
    """Each function's invocations, memory and measured ms; how many the emulator's machinery made."""
    by_function: dict[str, list[float]] = {}
    memory: dict[str, int] = {}
    for invocation in reading.invocations:
        short = invocation.function.removeprefix("Crewhouse-").rsplit("-", 1)[0]
        by_function.setdefault(short, []).append(invocation.ms)
        memory[short] = invocation.memory_mb
    parts = [f"{name} x{len(ms)} ({memory[name]} MB, {sum(ms):.0f} ms)" for name, ms in sorted(by_function.items())]
    return f"{', '.join(parts)}; {reading.emulator_invokes} invoked by the gateway and pollers"


def table(rows: list[Row]) -> str:
    body = "\n".join(row_text(row) for row in rows)
    detail = "\n".join(f"- {row.name}: " + ", ".join(f"{k} {v}" for k, v in sorted(row.reading.requests.items()))
                       + f"; Lambda invocations {invocations(row.reading)}"
                       + "; $ per 1,000,000 by line: " + ", ".join(f"{k} {v * 1_000_000:.2f}"
                                                                   for k, v in lines(row.reading).items() if v)
                       for row in rows)
    return f"{HEADER}\n{body}\n\nRequests by operation (the budgets):\n\n{detail}\n"


def write_doc(rows: list[Row]) -> None:
    text = DOC.read_text() if DOC.exists() else ""
    marker = "<!-- generated by make cost: everything below this line -->"
    head = text.split(marker, 1)[0] if marker in text else text
    DOC.write_text(f"{head.rstrip()}\n\n{marker}\n\nMeasured {date.today().isoformat()} "
                   f"(prices taken {TAKEN}), `make cost`:\n\n{table(rows)}")
