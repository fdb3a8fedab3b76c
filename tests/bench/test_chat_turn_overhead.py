"""Chat turn overhead excluding model time, over the embedded cloud with the offline provider.

200 turns (20 sessions x 10 messages of the todo commands) go through the real HTTP API. For each turn the
handler reports its total time and the time spent waiting for the provider; the overhead is our code, the
tool calls and DynamoDB. Target: p95 overhead under 300 ms, so that a real model's time dominates and the
3 s p95 chat target holds with Bedrock. The client-observed latency (adding the local gateway and the
emulator's Lambda invoke, which AWS replaces with API Gateway and Lambda) is printed for context.

The emulator runs the chat Lambda in this process, so the benchmark also records every AWS request a turn
makes and splits the overhead into the chat's own DynamoDB work (the turn lock, the messages, the commit),
the tools' AWS work and the rest (our code). The chat's own work is asserted exactly: three requests a turn.

``--bench-size=small`` (make test): 30 turns (3 sessions), the same assertions.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from botocore.client import BaseClient

from crewhouse.local import lambda_runtime
from crewhouse.local.cloud import EmbeddedCloud, LocalCloudConfig
from crewhouse.local.seed import sign_in, sign_up_and_confirm
from tests.bench.size import by_size
from tests.support.moto_server import free_port

# 20 sessions (200 turns); a small run (make test) 3 sessions (30 turns), against the same ceilings.
SESSIONS = int(os.environ.get("CHAT_BENCH_SESSIONS") or by_size(3, 20))
SCRIPT = ["add buy milk tomorrow priority A", "add call the bank", "add write report priority B",
          "list my tasks", "complete 1", "what's on tomorrow", "add book dentist", "list my tasks",
          "complete 2", "list my tasks"]
TARGET_P95_MS = 300.0  # the target: NOT met reliably on the embedded cloud here (see README)
# What the benchmark asserts meanwhile: the p95 measured once the chat's own work was cut to three requests a
# turn (0.33-0.50 s on a busy 2-core machine; it was 0.8-0.97 s), with headroom, so that a regression still
# fails it. What is left over the target is the tools' work, not the chat's: "list my tasks" turns, whose
# task Queries take 0.1-0.45 s on moto (its response serializer walks every attribute of every task returned,
# ~3 ms a task in process). The chat's own requests are asserted exactly instead (CHAT_REQUESTS_PER_TURN).
CEILING_P95_MS = 800.0
CHAT_REQUESTS_PER_TURN = 3  # UpdateItem (turn lock, returns the context), BatchWriteItem (messages), UpdateItem
CHAT_HANDLER = "crewhouse.chat.api.handler"
# A person reads the reply before typing the next message. Meanwhile the emulator indexes the last turn's
# task changes in this same Python process (in AWS: other Lambdas); the next turn starts once that
# background work has settled, so that competition for the interpreter is not counted as its overhead.


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Request:
    table: str
    operation: str
    ms: float


@dataclass
class TurnTrace:
    requests: list[Request] = field(default_factory=list)

    def of_table(self, table: str) -> list[Request]:
        return [r for r in self.requests if r.table == table]

    def others(self, table: str) -> list[Request]:
        return [r for r in self.requests if r.table != table]


def table_of(params: dict[str, Any]) -> str:
    if "TableName" in params:
        return str(params["TableName"])
    for key in ("RequestItems", "TransactItems"):
        if params.get(key):
            first = params[key]
            if isinstance(first, dict):
                return str(next(iter(first)))
            return str(next(iter(first[0].values())).get("TableName", ""))
    return ""


def trace_chat_turns(monkeypatch: pytest.MonkeyPatch) -> list[TurnTrace]:
    """Record the AWS requests of every chat turn the in-process Lambda runtime runs (context-local)."""
    traces: list[TurnTrace] = []
    current: ContextVar[TurnTrace | None] = ContextVar("chat_bench_turn", default=None)
    invoke: Callable[..., tuple[Any, bool]] = lambda_runtime.invoke_in_process
    make_api_call: Callable[..., Any] = BaseClient._make_api_call

    def traced_invoke(handler_path: str, environment: Any, event: Any, context: Any) -> tuple[Any, bool]:
        http = ((event.get("requestContext") or {}).get("http") or {}) if isinstance(event, dict) else {}
        is_turn = http.get("method") == "POST" and str(http.get("path", "")).endswith("/messages")
        if handler_path != CHAT_HANDLER or not is_turn:
            return invoke(handler_path, environment, event, context)
        trace = TurnTrace()
        token = current.set(trace)
        try:
            return invoke(handler_path, environment, event, context)
        finally:
            current.reset(token)
            traces.append(trace)

    def traced_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        trace = current.get()
        if trace is None:
            return make_api_call(client, operation, params)
        started = time.perf_counter()
        try:
            return make_api_call(client, operation, params)
        finally:
            trace.requests.append(Request(table_of(params), operation, (time.perf_counter() - started) * 1000))

    monkeypatch.setattr(lambda_runtime, "invoke_in_process", traced_invoke)
    monkeypatch.setattr(BaseClient, "_make_api_call", traced_call)
    return traces


def test_chat_turn_overhead(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    overhead: list[float] = []
    model: list[float] = []
    client_ms: list[float] = []
    traces = trace_chat_turns(monkeypatch)
    with EmbeddedCloud(LocalCloudConfig(aws_port=free_port(), api_port=free_port())) as cloud:
        assert cloud.stack is not None
        chat_table = cloud.stack.resources[next(k for k in cloud.stack.resources if k.startswith("ChatChatTable"))]
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        sign_up_and_confirm(cloud.stack, email, "Bench-password-1!")
        token = sign_in(cloud.stack, email, "Bench-password-1!").id_token
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=cloud.api_url, headers=headers, timeout=30) as api:
            warm = api.post("/chat/sessions", json={}).json()["id"]  # warm the functions (cold starts excluded)
            api.post(f"/chat/sessions/{warm}/messages", json={"text": "help"}).raise_for_status()
            traces.clear()
            for _ in range(SESSIONS):
                session = api.post("/chat/sessions", json={}).json()["id"]
                for text in SCRIPT:
                    cloud.settle()
                    started = time.perf_counter()
                    response = api.post(f"/chat/sessions/{session}/messages", json={"text": text})
                    client_ms.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, response.text
                    timings = response.json()["timings"]
                    overhead.append(timings["total_ms"] - timings["model_ms"])
                    model.append(timings["model_ms"])
    p50, p95 = statistics.median(overhead), percentile(overhead, 0.95)
    chat_ms = [sum(r.ms for r in t.of_table(chat_table)) for t in traces]
    tools_ms = [sum(r.ms for r in t.others(chat_table)) for t in traces]
    ours_ms = [o - c - t for o, c, t in zip(overhead, chat_ms, tools_ms, strict=True)]
    chat_requests = [len(t.of_table(chat_table)) for t in traces]
    tool_requests = [len(t.others(chat_table)) for t in traces]
    slowest = sorted(range(len(overhead)), key=lambda i: -overhead[i])[:max(1, len(overhead) // 20)]
    with capsys.disabled():
        print(f"\nchat turns: {len(overhead)} (offline provider, embedded cloud)")
        print(f"  overhead excluding model time   p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   "
              f"(target p95 < {TARGET_P95_MS:.0f})")
        print(f"  model (offline provider) time   p50 {statistics.median(model):7.1f} ms   "
              f"p95 {percentile(model, 0.95):7.1f} ms")
        print(f"  client-observed (local gateway) p50 {statistics.median(client_ms):7.1f} ms   "
              f"p95 {percentile(client_ms, 0.95):7.1f} ms")
        print("  breakdown of the overhead, per turn:")
        print(f"    chat's own DynamoDB requests  p50 {statistics.median(chat_ms):7.1f} ms   "
              f"p95 {percentile(chat_ms, 0.95):7.1f} ms   ({statistics.mean(chat_requests):.1f} requests)")
        print(f"    tools' AWS requests           p50 {statistics.median(tools_ms):7.1f} ms   "
              f"p95 {percentile(tools_ms, 0.95):7.1f} ms   ({statistics.mean(tool_requests):.1f} requests)")
        print(f"    our code (the rest)           p50 {statistics.median(ours_ms):7.1f} ms   "
              f"p95 {percentile(ours_ms, 0.95):7.1f} ms")
        print(f"  slowest 5% of turns: {statistics.mean(overhead[i] for i in slowest):.0f} ms on average, of which "
              f"tools' AWS requests {statistics.mean(tools_ms[i] for i in slowest):.0f} ms, chat's own "
              f"{statistics.mean(chat_ms[i] for i in slowest):.0f} ms; their messages: "
              f"{sorted({SCRIPT[i % len(SCRIPT)] for i in slowest})}")
        verdict = "met" if p95 < TARGET_P95_MS else f"not met; asserted ceiling {CEILING_P95_MS:.0f} ms"
        print(f"  p95 overhead / target = {p95 / TARGET_P95_MS:.2f}   (target {verdict})")
    assert len(overhead) == SESSIONS * len(SCRIPT) == len(traces)
    assert set(chat_requests) == {CHAT_REQUESTS_PER_TURN}, \
        f"the chat's own DynamoDB requests per turn: {sorted(set(chat_requests))}, expected {CHAT_REQUESTS_PER_TURN}"
    assert p95 < CEILING_P95_MS, f"p95 overhead {p95:.0f} ms is over the recorded ceiling {CEILING_P95_MS:.0f} ms"
