"""What each operation costs in AWS: requests by service, capacity units, transitions, Lambda time and dollars.

Every row of ``tests/cost/operations`` (``CREWHOUSE_COST_ALL=1``, as `make bench` and `make cost` run it; `make
test` runs the headline rows). One embedded cloud; each row is prepared, then runs once unmetered (warming the
caches that would otherwise add calls: the functions' module-level clients and settings, the authorizer's JWKS and
the bus token verification, the tenant/membership reads they cache per container), then is prepared again and runs
once under the meter over real HTTP. Work the operation sets off (stream workers, queue pollers, state machines,
EventBridge deliveries) is waited for before the meter
closes: see ``settled``. The functions' requests per ``service:Operation`` are asserted exactly against
``budgets.json``; a change that adds or removes a request fails naming it (``CREWHOUSE_WRITE_BUDGETS=1`` rewrites
the budgets of the rows run, for a deliberate change). ``CREWHOUSE_WRITE_COST=1`` also writes ``docs/cost.md``.
Why each budget is what it is: docs/cost.md.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from crewhouse.local.cloud import EmbeddedCloud, LocalCloudConfig
from crewhouse.local.seed import sign_in, sign_up_and_confirm
from tests.cost.catalog import Context, Metered
from tests.cost.meter import ACCOUNT, Meter, Reading
from tests.cost.operations import UNMETERED, all_metered
from tests.cost.operations.agents_support import align_tenant_block, bearer
from tests.cost.prices import TAKEN, dollars, lines, unpriced
from tests.support.moto_server import embedded_cloud_environment, free_port

DOC = Path(__file__).resolve().parents[2] / "docs" / "cost.md"
OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
BUDGETS_FILE = Path(__file__).with_name("budgets.json")
# The functions' (and Step Functions integrations') AWS requests per row, as measured when written; the receives
# and deletes Lambda's SQS event source mapping makes are marked "(poller)". Per-user limits (issue 21) add one
# UpdateItem per HTTP request; the tenant's block (one more UpdateItem per 10 of a user's requests) is kept out of
# every reading by ``align_tenant_block``.
BUDGETS: dict[str, dict[str, int]] = json.loads(BUDGETS_FILE.read_text())
ALL_ROWS = all_metered()
_ONLY = {m for m in os.environ.get("CREWHOUSE_COST_MODULES", "").split(",") if m}  # e.g. "files,notes": their rows
ROWS = (all_metered(_ONLY) if _ONLY else ALL_ROWS if os.environ.get("CREWHOUSE_COST_ALL") == "1"
        else [row for row in ALL_ROWS if row.headline])
SETTLE_TIMEOUT = 60.0

# The functions' (and Step Functions integrations') AWS requests per operation, as measured when written.
# Step Functions' service integrations count here too (its Lambda Invokes), and so do the receives and deletes
# Lambda's SQS event source mapping makes, marked "(poller)". Measured 2026-12-04.
# Since issue 21's per-user limits, each HTTP request adds one UpdateItem (its caller's bucket, in the rate-limit
# table); a caller's 1st, 11th, 21st … request adds one more (the tenant's bucket), which none of these readings hits.
# A bus agent's requests are charged to the agent's own bucket by the bus only.
ATTEMPTS = 3  # a reading that caught a scheduled function (the bus sweep runs every minute) is taken again


@dataclass
class Row:
    name: str
    reading: Reading


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


# --- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report() -> Iterator[list[Row]]:
    rows: list[Row] = []
    yield rows
    print("\n\n" + table(rows))
    if os.environ.get("CREWHOUSE_WRITE_COST") == "1" and rows:
        write_doc(rows)
    if os.environ.get("CREWHOUSE_WRITE_BUDGETS") == "1" and rows:  # the rows run; every other row's budget kept
        on_file = json.loads(BUDGETS_FILE.read_text())  # re-read: another run may have written rows since import
        written = {**on_file, **{row.name: dict(sorted(row.reading.requests.items())) for row in rows}}
        known = {row.name for row in ALL_ROWS}
        BUDGETS_FILE.write_text(json.dumps({k: v for k, v in sorted(written.items()) if k in known}, indent=2)
                                + "\n")


# A job's agent step writes its progress at most every PROGRESS_EVERY_SECONDS (5 s): on a loaded machine the
# offline step sometimes took longer and wrote once more. Readings hold the pace open, so each job's count is a
# step shorter than the pace; in AWS each further 5 s of a model step adds one UpdateItem (docs/cost.md).
PROGRESS_PACE_SECONDS = 3600.0


@pytest.fixture(scope="module")
def ctx() -> Iterator[Context]:
    from crewhouse.jobs import runner

    with embedded_cloud_environment(), pytest.MonkeyPatch.context() as patch, \
            EmbeddedCloud(LocalCloudConfig(aws_port=free_port(), api_port=free_port())) as cloud:
        patch.setattr(runner, "PROGRESS_EVERY_SECONDS", PROGRESS_PACE_SECONDS)
        assert cloud.stack is not None
        meter = Meter(cloud.aws_endpoint, cloud.config.region)
        with meter.installed(), httpx.Client(base_url=cloud.api_url, timeout=60,
                                             event_hooks={"request": [meter.count_api_request]}) as api:
            email, password = f"cost-{uuid.uuid4().hex[:8]}@example.com", "Correct-horse-42!"
            sign_up_and_confirm(cloud.stack, email, password)
            headers = bearer(sign_in(cloud.stack, email, password).id_token)
            day = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
            yield Context(cloud, api, meter, headers, {"day": day})


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


def prepared(ctx: Context, row: Metered) -> Any:
    """The row's unmetered preparation, with everything it set off delivered."""
    region = ctx.cloud.config.region
    before = _stream_ends(region)
    result = row.prepare(ctx) if row.prepare is not None else None
    settled(ctx, before, None)
    return result


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_operation_cost(row: Metered, ctx: Context, report: list[Row]) -> None:
    region = ctx.cloud.config.region
    argument = prepared(ctx, row)
    before = _stream_ends(region)
    settled(ctx, before, row.run(ctx, argument))  # warm: caches filled, first-call imports done
    scheduled = scheduled_functions(ctx.cloud)
    for _ in range(ATTEMPTS):
        argument = prepared(ctx, row)
        align_tenant_block(ctx)
        baseline = _stream_ends(region)
        ctx.meter.start()
        effect = row.run(ctx, argument)
        settled(ctx, baseline, effect)
        reading = ctx.meter.stop()
        if sum(i.function in scheduled for i in reading.invocations) <= row.scheduled_runs:
            break
    else:
        pytest.fail(f"{row.name}: a scheduled function ran during each of {ATTEMPTS} readings")
    report.append(Row(row.name, reading))
    measured = dict(sorted(reading.requests.items()))
    print(f"\n{row.name}: {measured}")
    if os.environ.get("CREWHOUSE_COST_CALLS") == "1":  # each call with its capacity, in order
        print("\n".join(f"  {call} RCU {reads:g} WCU {writes:g}" for call, reads, writes in reading.calls))
    if os.environ.get("CREWHOUSE_WRITE_BUDGETS") == "1":
        return
    budget = BUDGETS.get(row.name)
    assert budget is not None, f"no budget for {row.name!r}; measured {measured} (CREWHOUSE_WRITE_BUDGETS=1)"
    changed = {k: (budget.get(k, 0), measured.get(k, 0)) for k in budget.keys() | measured.keys()
               if budget.get(k, 0) != measured.get(k, 0)}
    assert not changed, (f"{row.name}: AWS requests changed (request: (budget, measured)): {changed}; "
                         f"CREWHOUSE_WRITE_BUDGETS=1 rewrites tests/cost/budgets.json if intended")


def openapi_operations() -> set[str]:
    paths = json.loads(OPENAPI.read_text())["paths"]
    return {f"{method.upper()} {path}" for path, item in paths.items() for method in item
            if method in ("get", "put", "post", "patch", "delete")}


def test_every_api_operation_has_a_row_or_a_reason() -> None:
    """No cloud: the rows' routes and UNMETERED's keys name real operations, and together cover all of them;
    every budget belongs to a row and every row has a budget."""
    operations = openapi_operations()
    covered = {route for row in ALL_ROWS for route in row.routes}
    assert not covered - operations, f"rows name operations the API does not have: {sorted(covered - operations)}"
    assert not set(UNMETERED) - operations, f"UNMETERED names unknown operations: {sorted(set(UNMETERED) - operations)}"
    assert not covered & set(UNMETERED), f"metered and UNMETERED at once: {sorted(covered & set(UNMETERED))}"
    missing = operations - covered - set(UNMETERED)
    assert not missing, f"operations with neither a row nor a reason in UNMETERED: {sorted(missing)}"
    names = {row.name for row in ALL_ROWS}
    assert not set(BUDGETS) - names, f"budgets of rows that no longer exist: {sorted(set(BUDGETS) - names)}"
    assert not names - set(BUDGETS), f"rows without a budget: {sorted(names - set(BUDGETS))}"


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
    sending = Reading(requests=Counter({"kms:Decrypt": 2, "email:SendEmail": 1, "cognito-idp:InitiateAuth": 1}))
    assert abs(dollars(sending) - (2 * 0.03 / 10_000 + 0.10 / 1_000)) < 1e-12, dollars(sending)
    assert unpriced(sending) == ["cognito-idp"]  # billed per monthly active user: named, never a silent zero


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
