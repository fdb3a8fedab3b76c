"""Property: whatever the interleaving of deliveries, duplicates, errors and cancellations, every job ends
in exactly one terminal state (or dead-lettered, with its reason), each admission slot is given back exactly
once, and a tenant never has more jobs running than its limit.

The pipeline around the service is simulated step by step (queue deliveries, the state machine's steps),
over the real store on moto's DynamoDB; the real state machine runs in the integration tier.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crewhouse.core.errors import Conflict
from crewhouse.core.identity import Identity
from crewhouse.jobs.logic import JobCancelled, JobRef
from crewhouse.jobs.models import TERMINAL, JobSubmit
from tests.component.jobs.conftest import Harness

MAX_RECEIVES = 3
MAX_ATTEMPTS = 3


@dataclass
class Run:
    ref: JobRef
    phase: str = "new"  # new -> running -> done
    attempts: int = 0


@dataclass
class Simulation:
    h: Harness
    identity: Identity
    limit: int
    jobs: list[str] = field(default_factory=list)
    delivered: int = 0  # index into the queue's sent messages
    inbox: list[tuple[dict[str, Any], int]] = field(default_factory=list)  # (message, receives)
    runs: dict[str, Run] = field(default_factory=dict)  # execution name -> run
    succeeded: dict[str, int] = field(default_factory=dict)
    max_running: int = 0

    def pull_sent(self) -> None:
        sent = self.h.queue.messages
        self.inbox.extend((message, 0) for message in sent[self.delivered:])
        self.delivered = len(sent)

    def deliver(self, fail: bool, duplicate: bool) -> None:
        self.pull_sent()
        if not self.inbox:
            return
        message, receives = self.inbox.pop(0)
        receives += 1
        ref = JobRef.of(message)
        if fail:
            self.h.executions.fail_starts = 1
        try:
            self.h.service.dispatch(ref)
        except RuntimeError as exc:
            if receives >= MAX_RECEIVES:
                self.h.service.dead_letter(ref, f"dispatch failed {receives} times: {exc}")
            else:
                self.inbox.append((message, receives))
        finally:
            self.h.executions.fail_starts = 0
        if duplicate and not fail:
            self.inbox.append((message, receives))  # SQS delivers at least once
        self.track_runs()

    def track_runs(self) -> None:
        for name, payload in self.h.executions.started.items():
            self.runs.setdefault(name, Run(JobRef.of(payload["job"])))

    def step(self, pick: int, outcome: str) -> None:
        active = [run for run in self.runs.values() if run.phase != "done"]
        if not active:
            return
        run = active[pick % len(active)]
        try:
            if run.phase == "new":
                self.h.service.start_attempt(run.ref, 1, self.h.executions.arn_of(run.ref))
                run.phase = "running"
            elif outcome == "ok":
                self.h.service.succeed(run.ref, {"kind": "note", "note_id": "n"}, {}, "offline")
                self.succeeded[run.ref.job_id] = self.succeeded.get(run.ref.job_id, 0) + 1
                run.phase = "done"
            elif outcome == "transient" and run.attempts + 1 < MAX_ATTEMPTS:
                run.attempts += 1  # the state machine retries the agent step
            else:
                self.h.service.fail(run.ref, "Crewhouse.PermanentError", outcome)
                run.phase = "done"
        except JobCancelled:
            run.phase = "done"  # the Catch ends the execution as cancelled

    def cancel(self, pick: int) -> None:
        if self.jobs:
            with contextlib.suppress(Conflict):  # already finished: nothing to cancel
                self.h.service.cancel(self.identity, self.jobs[pick % len(self.jobs)])

    def observe(self) -> None:
        running = sum(1 for job_id in self.jobs
                      if (item := self.h.store.get(self.identity.tenant_id, self.identity.user_id, job_id))
                      and item["status"] == "running")
        holders = self.h.store.slot_holders(self.identity.tenant_id)
        assert len(holders) <= self.limit
        self.max_running = max(self.max_running, running)
        assert running <= self.limit

    def drain(self) -> None:
        for _ in range(500):
            self.pull_sent()
            if self.inbox:
                self.deliver(fail=False, duplicate=False)
            elif any(run.phase != "done" for run in self.runs.values()):
                self.step(0, "ok")
            else:
                return
            self.observe()
        raise AssertionError("the pipeline did not settle")


actions = st.lists(st.tuples(st.sampled_from(["deliver", "duplicate", "fail_dispatch", "step", "cancel"]),
                             st.integers(0, 50), st.sampled_from(["ok", "ok", "transient", "permanent"])),
                   max_size=60)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(1, 3), priorities=st.lists(st.sampled_from(["high", "normal", "low"]), min_size=1,
                                                    max_size=6), plan=actions)
def test_every_job_ends_exactly_once_and_every_slot_comes_back(make_harness: Any, limit: int, priorities: list[str],
                                                                plan: list[tuple[str, int, str]]) -> None:
    h = make_harness(tenant_limit=limit, empty_table=True)
    identity = Identity(tenant_id=f"t-{uuid.uuid4().hex[:8]}", user_id="u", role="member", scopes=frozenset())
    sim = Simulation(h, identity, limit)
    for priority in priorities:
        job = h.service.submit(identity, JobSubmit.model_validate({"type": "echo", "params": {"text": "x"},
                                                                   "priority": priority}))
        sim.jobs.append(job.id)
    for kind, pick, outcome in plan:
        if kind in ("deliver", "duplicate", "fail_dispatch"):
            sim.deliver(fail=kind == "fail_dispatch", duplicate=kind == "duplicate")
        elif kind == "step":
            sim.step(pick, outcome)
        else:
            sim.cancel(pick)
        sim.observe()
    sim.drain()

    for job_id in sim.jobs:
        item = h.store.get(identity.tenant_id, identity.user_id, job_id)
        assert item is not None
        assert item["status"] in TERMINAL, item
        assert item.get("admissions", 0) == item.get("releases", 0), item  # every slot taken came back once
        assert sim.succeeded.get(job_id, 0) == (1 if item["status"] == "succeeded" else 0)
        if item.get("dead_lettered"):
            assert item["status"] == "failed" and item["error"]["code"] == "dead_lettered"
            assert "dispatch failed" in item["error"]["message"]
    assert h.store.slot_holders(identity.tenant_id) == []
    assert h.store.slot_holders(None) == []
