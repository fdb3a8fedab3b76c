"""Chat turn overhead excluding model time, over the embedded cloud with the offline provider.

200 turns (20 sessions x 10 messages of the todo commands) go through the real HTTP API. For each turn the
handler reports its total time and the time spent waiting for the provider; the overhead is our code, the
tool calls and DynamoDB. Target: p95 overhead under 300 ms, so that a real model's time dominates and the
3 s p95 chat target holds with Bedrock. The client-observed latency (adding the local gateway and the
emulator's Lambda invoke, which AWS replaces with API Gateway and Lambda) is printed for context.
"""

from __future__ import annotations

import statistics
import time
import uuid

import httpx
import pytest

from crewhouse.local.cloud import EmbeddedCloud, LocalCloudConfig
from crewhouse.local.seed import sign_in, sign_up_and_confirm
from tests.support.moto_server import free_port

SESSIONS = int(__import__("os").environ.get("CHAT_BENCH_SESSIONS", "20"))
SCRIPT = ["add buy milk tomorrow priority A", "add call the bank", "add write report priority B",
          "list my tasks", "complete 1", "what's on tomorrow", "add book dentist", "list my tasks",
          "complete 2", "list my tasks"]
TARGET_P95_MS = 300.0  # the target: NOT met yet on the embedded cloud (see README's status table)
# What the benchmark asserts meanwhile: the p95 measured when this was written (about 0.7-0.9 s here),
# with headroom, so that a regression still fails it.
CEILING_P95_MS = 1500.0
# A person reads the reply before typing the next message. Meanwhile the emulator indexes the last turn's
# task changes in this same Python process (in AWS: other Lambdas); the next turn starts once that
# background work has settled, so that competition for the interpreter is not counted as its overhead.


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def test_chat_turn_overhead(capsys: pytest.CaptureFixture[str]) -> None:
    overhead: list[float] = []
    model: list[float] = []
    client_ms: list[float] = []
    with EmbeddedCloud(LocalCloudConfig(aws_port=free_port(), api_port=free_port())) as cloud:
        assert cloud.stack is not None
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        sign_up_and_confirm(cloud.stack, email, "Bench-password-1!")
        token = sign_in(cloud.stack, email, "Bench-password-1!").id_token
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=cloud.api_url, headers=headers, timeout=30) as api:
            api.post("/chat/sessions", json={}).raise_for_status()  # warm the functions (cold starts excluded)
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
    with capsys.disabled():
        print(f"\nchat turns: {len(overhead)} (offline provider, embedded cloud)")
        print(f"  overhead excluding model time   p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   "
              f"(target p95 < {TARGET_P95_MS:.0f})")
        print(f"  model (offline provider) time   p50 {statistics.median(model):7.1f} ms   "
              f"p95 {percentile(model, 0.95):7.1f} ms")
        print(f"  client-observed (local gateway) p50 {statistics.median(client_ms):7.1f} ms   "
              f"p95 {percentile(client_ms, 0.95):7.1f} ms")
        verdict = "met" if p95 < TARGET_P95_MS else f"not met; asserted ceiling {CEILING_P95_MS:.0f} ms"
        print(f"  p95 overhead / target = {p95 / TARGET_P95_MS:.2f}   (target {verdict})")
    assert len(overhead) == SESSIONS * len(SCRIPT)
    assert p95 < CEILING_P95_MS, f"p95 overhead {p95:.0f} ms is over the recorded ceiling {CEILING_P95_MS:.0f} ms"
