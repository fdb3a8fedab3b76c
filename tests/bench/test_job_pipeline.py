"""Agent-job pipeline latency and throughput over the embedded cloud, with the offline provider.

200 ``summarize`` jobs (``CREWHOUSE_BENCH_JOBS``) are submitted over HTTP by 4 users (4 tenants, each with the
default limit of 3 running jobs), and run through the whole pipeline: admission, SQS, the dispatcher, the
real state machine in moto's interpreter, the agent step, the result note and the bookkeeping steps.

For each job the timestamps the pipeline records split its life into:
- the line: submitted -> admitted (waiting for a tenant slot: queueing, not pipeline work);
- submit -> running and submit -> succeeded, as a user sees them;
- the agent step's own time (``agent_ms``, measured around the job type's ``run``): the baseline;
- pipeline overhead = admitted -> succeeded minus the agent step: SQS, dispatch, Step Functions, the
  bookkeeping Lambdas and storing the result.
Target: overhead under 25 % of the job's time at p50. Printed, with throughput in jobs/s (first submit to
last finish, from the jobs' own timestamps) and the CPU time the whole process spends per job. The bench
polls for completion every 2 s: it runs in the same process as the cloud it measures and should not load it.

``--bench-size=small`` (make test): 20 jobs, polled every second, the same ceiling.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from crewhouse.local.cloud import EmbeddedCloud, LocalCloudConfig
from crewhouse.local.seed import sign_in, sign_up_and_confirm
from tests.bench.size import by_size
from tests.support.moto_server import free_port

JOBS = int(os.environ.get("CREWHOUSE_BENCH_JOBS") or by_size(20, 200))  # small run (make test): 20
USERS = 4
TARGET_OVERHEAD_SHARE = 0.25  # the target at p50: NOT met with the offline provider (README)
# What is asserted meanwhile: the overhead measured when this was written, with headroom, so that a
# regression still fails.
CEILING_OVERHEAD_P50_MS = 6000.0
POLL_SECONDS = by_size(1.0, 2.0)  # a small run is over in seconds: a 2 s poll would be a large share
TEXT = ("Crewhouse runs agent jobs on SQS and Step Functions. Each job is admitted when its tenant has a free "
        "slot. The dispatcher starts one execution per job, named after the job. The agent step reports "
        "progress as it goes. A result note is written when the job succeeds. Failed jobs are retried with "
        "backoff, and jobs that cannot be dispatched end in the dead-letter queue with their reason.")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def seconds(job: dict[str, Any], start: str, end: str) -> float:
    return (datetime.fromisoformat(job[end]) - datetime.fromisoformat(job[start])).total_seconds()


def test_job_pipeline_latency_and_throughput(capsys: pytest.CaptureFixture[str]) -> None:
    with EmbeddedCloud(LocalCloudConfig(aws_port=free_port(), api_port=free_port())) as cloud, \
            httpx.Client(base_url=cloud.api_url, timeout=60) as api:
        assert cloud.stack is not None
        headers = []
        for _ in range(USERS):
            email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
            sign_up_and_confirm(cloud.stack, email, "Bench-password-1!")
            headers.append({"Authorization": f"Bearer {sign_in(cloud.stack, email, 'Bench-password-1!').id_token}"})

        began = time.perf_counter()
        cpu_began = time.process_time()
        submitted: dict[str, dict[str, str]] = {}
        for index in range(JOBS):
            owner = headers[index % USERS]
            response = api.post("/jobs", json={"type": "summarize", "params": {"text": TEXT, "length": "short"}},
                                headers=owner)
            assert response.status_code == 202, response.text
            submitted[response.json()["id"]] = owner
        submit_seconds = time.perf_counter() - began

        finished: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 900
        while len(finished) < JOBS and time.monotonic() < deadline:
            for owner in headers:
                page = api.get("/jobs", params={"limit": 200}, headers=owner).json()["items"]
                finished.update({j["id"]: j for j in page if j["status"] in ("succeeded", "failed", "cancelled")})
            time.sleep(POLL_SECONDS)
        cpu_seconds = time.process_time() - cpu_began

    assert len(finished) == JOBS, f"{JOBS - len(finished)} jobs did not finish"
    jobs = list(finished.values())
    assert all(j["status"] == "succeeded" for j in jobs), [j["error"] for j in jobs if j["status"] != "succeeded"]
    to_running = [seconds(j, "created_at", "started_at") * 1000 for j in jobs]
    to_done = [seconds(j, "created_at", "finished_at") * 1000 for j in jobs]
    line = [seconds(j, "created_at", "admitted_at") * 1000 for j in jobs]
    agent = [float(j["agent_ms"]) for j in jobs]
    first = min(datetime.fromisoformat(j["created_at"]) for j in jobs)
    total_seconds = (max(datetime.fromisoformat(j["finished_at"]) for j in jobs) - first).total_seconds()
    admitted_to_done = [seconds(j, "admitted_at", "finished_at") * 1000 for j in jobs]
    overhead = [whole - own for whole, own in zip(admitted_to_done, agent, strict=True)]
    share = [o / whole for o, whole in zip(overhead, admitted_to_done, strict=True)]
    rows = [("submit -> running", to_running), ("submit -> succeeded", to_done), ("waiting in line", line),
            ("agent step (baseline)", agent), ("admitted -> succeeded", admitted_to_done),
            ("pipeline overhead", overhead)]
    with capsys.disabled():
        print(f"\n\njob pipeline: {JOBS} summarize jobs, {USERS} tenants x limit 3, offline provider")
        print(f"{'':24} {'p50 ms':>9} {'p95 ms':>9} {'mean ms':>9}")
        for name, values in rows:
            print(f"{name:24} {percentile(values, 0.5):9.0f} {percentile(values, 0.95):9.0f} "
                  f"{statistics.fmean(values):9.0f}")
        print(f"overhead / agent step at p50: {percentile(overhead, 0.5) / max(percentile(agent, 0.5), 1):.1f}x; "
              f"overhead share of the job at p50: {percentile(share, 0.5):.0%} "
              f"(target < {TARGET_OVERHEAD_SHARE:.0%})")
        print(f"throughput: {JOBS / total_seconds:.2f} jobs/s ({total_seconds:.1f} s, submitting took "
              f"{submit_seconds:.1f} s); process CPU per job {cpu_seconds / JOBS * 1000:.0f} ms\n")
    assert percentile(overhead, 0.5) < CEILING_OVERHEAD_P50_MS
