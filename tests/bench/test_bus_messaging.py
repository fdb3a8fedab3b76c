"""The agentic context bus under load on the embedded cloud: concurrent SDK agents send and receive.

50 external agents (``--bench-size=small``: 5), each a thread with its own ``crewhouse_bus`` client on its own
client credentials, send direct messages to random peers and long-poll, ack and count their inbox for 60 s
(small: 5 s), then drain. Asserted: no message lost, none delivered again after its ack, and the AWS requests a
delivered message costs, by service and operation, within the budget below. The requests are counted exactly
(every botocore call the functions make, through ``BaseClient._make_api_call``), and are what carries to AWS;
throughput and latency are printed, not asserted (one interpreter runs the cloud and every agent).
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.client import BaseClient
from crewhouse_bus import BusClient

from crewhouse.local.cloud import EmbeddedCloud, LocalCloudConfig
from crewhouse.local.seed import sign_in, sign_up_and_confirm
from tests.bench.size import by_size
from tests.support.moto_server import free_port

AGENTS = by_size(5, 50)
SECONDS = by_size(5.0, 60.0)
# The functions' AWS requests per message sent (its send, its share of receives and acks), as measured when this
# was written (small run: SendMessage 1.00, DeleteMessageBatch 0.72, PutItem 2.82 (idempotency record, audit of
# the send and of the ack), UpdateItem 3.64 (each request's rate-limit admission, the idempotency record's
# completion), GetItem 1.40 (the recipient's record)), with headroom for the batching that timing decides. Since
# issue 16 each message is announced for live updates (bus.message: one PutEvents) and the realtime fan-out numbers
# and keeps it (one more UpdateItem, PutItem and Query): measured full size PutItem 3.60, UpdateItem 4.46, Query 0.93.
BUDGET_PER_MESSAGE = {"sqs:SendMessage": 1.0, "sqs:DeleteMessageBatch": 1.0, "dynamodb:PutItem": 4.2,
                      "dynamodb:UpdateItem": 5.5, "dynamodb:GetItem": 2.0, "dynamodb:Query": 1.2,
                      "events:PutEvents": 1.0}


class RequestCounter:
    """Counts the AWS API calls made in this process while ``counting``: the functions' own (signed with their
    role's temporary credentials, ``ASIA…``, which is what each pays for in AWS) apart from the emulator's (the
    gateway invoking functions, the pollers and the scheduler loop, which stand in for AWS's own machinery)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.emulator_calls: Counter[str] = Counter()
        self.counting = False
        self._lock = threading.Lock()
        self._original = BaseClient._make_api_call

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        counter, original = self, self._original

        def counted(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            if counter.counting:
                credentials = client._request_signer._credentials
                key = credentials.access_key if credentials is not None else ""
                calls = counter.calls if key.startswith("ASIA") else counter.emulator_calls
                with counter._lock:
                    calls[f"{client.meta.service_model.endpoint_prefix}:{operation}"] += 1
            return original(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", counted)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Agent:
    """One agent: a thread that sends to random peers as fast as it can, and one that long-polls and acks."""

    def __init__(self, client: BusClient, agent_id: str, peers: list[str]) -> None:
        self.client, self.agent_id, self.peers = client, agent_id, peers
        self.sent: set[str] = set()
        self.received: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.sending, self.receiving = threading.Event(), threading.Event()
        self.threads = [threading.Thread(target=self.send, daemon=True),
                        threading.Thread(target=self.receive, daemon=True)]

    def start(self) -> None:
        self.sending.set()
        self.receiving.set()
        for thread in self.threads:
            thread.start()

    def send(self) -> None:
        rng = random.Random(self.agent_id)
        while self.sending.is_set():
            answer = self.client.send(rng.choice(self.peers), {"n": len(self.sent)},
                                      idempotency_key=uuid.uuid4().hex)
            self.sent.add(str(answer["id"]))

    def receive(self) -> None:
        while self.receiving.is_set():
            messages = self.client.receive(self.agent_id, wait=2, max=10)
            now = datetime.now(UTC)
            for message in messages:
                self.received[str(message["id"])] += 1
                self.latencies.append((now - datetime.fromisoformat(str(message["sent_at"]))).total_seconds() * 1000)
            if messages:
                self.client.ack(self.agent_id, [str(m["receipt"]) for m in messages])


def test_concurrent_agents_lose_nothing_and_count_their_requests(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    counter = RequestCounter()
    counter.install(monkeypatch)
    with EmbeddedCloud(LocalCloudConfig(aws_port=free_port(), api_port=free_port())) as cloud:
        assert cloud.stack is not None
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        sign_up_and_confirm(cloud.stack, email, "Bench-password-1!")
        admin_token = sign_in(cloud.stack, email, "Bench-password-1!").id_token
        base = f"{cloud.api_url}/"
        agents: list[tuple[str, BusClient]] = []
        with BusClient.builder().base_url(base).bearer_token(admin_token).build() as admin:
            for index in range(AGENTS):
                record = admin.register_agent(f"bench-{index}", role="agent-full", rate_limit_per_minute=100_000)
                credentials = record["credentials"]
                assert credentials is not None, record
                client = (BusClient.builder().base_url(base)
                          .client_credentials(credentials["client_id"], credentials["client_secret"]).build())
                agents.append((record["id"], client))
        ids = [agent_id for agent_id, _ in agents]
        loops = [Agent(client, agent_id, [p for p in ids if p != agent_id]) for agent_id, client in agents]
        counter.counting = True
        began = time.perf_counter()
        for loop in loops:
            loop.start()
        time.sleep(SECONDS)
        for loop in loops:
            loop.sending.clear()
        sent_seconds = time.perf_counter() - began
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # drain: every message sent is received (or the test fails)
            if set().union(*(loop.sent for loop in loops)) <= set().union(*(loop.received for loop in loops)):
                break
            time.sleep(0.5)
        time.sleep(2)  # a late duplicate would show up in this time
        for loop in loops:
            loop.receiving.clear()
        for loop in loops:
            for thread in loop.threads:
                thread.join(timeout=30)
        counter.counting = False
        for _, client in agents:
            client.close()

    sent = set().union(*(loop.sent for loop in loops))
    received: Counter[str] = Counter()
    for loop in loops:
        received.update(loop.received)
    latencies = [ms for loop in loops for ms in loop.latencies]
    lost = sent - set(received)
    twice = [message for message, times in received.items() if times > 1]
    per_message = {name: count / max(len(sent), 1) for name, count in sorted(counter.calls.items())}
    with capsys.disabled():
        print(f"\n\nbus messaging: {AGENTS} agents for {SECONDS:.0f} s, {len(sent)} messages sent, "
              f"{len(received)} received, {len(lost)} lost, {len(twice)} delivered twice")
        print(f"throughput {len(sent) / sent_seconds:.1f} messages/s; end-to-end latency p50 "
              f"{percentile(latencies, 0.5):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms, "
              f"mean {statistics.fmean(latencies):.0f} ms")
        print("AWS requests per message sent, made by the functions (empty long-polls included):")
        for name, value in per_message.items():
            print(f"  {name:40} {value:6.2f}")
        print(f"  {'total':40} {sum(per_message.values()):6.2f}")
        invocations = counter.emulator_calls["lambda:Invoke"] / max(len(sent), 1)
        print(f"Lambda invocations per message (API Gateway -> the functions and the authorizer): {invocations:.2f}\n")
    assert sent and not lost, f"{len(lost)} of {len(sent)} messages lost"
    assert not twice, f"{len(twice)} messages delivered again after their ack"
    over = {name: per_message.get(name, 0.0) for name, budget in BUDGET_PER_MESSAGE.items()
            if per_message.get(name, 0.0) > budget}
    assert not over, f"requests per message over budget: {over} (budget {BUDGET_PER_MESSAGE})"
