"""Business metrics on the embedded cloud (issue 21): one of each operation over real HTTP, and the EMF records the
functions write for them.

The embedded cloud runs every function in this process and their stdout is this process's: an EMF record is a
line of it (in AWS, a line of the function's log group, which CloudWatch turns into the metric). The cloud turns
Powertools metrics off for its console (``POWERTOOLS_METRICS_DISABLED``); this test turns them on for its span and
reads the lines with ``capsys``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from crewhouse.core.business_metrics import CONTEXT_OF, BusinessMetric
from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer
from tests.integration.test_files_flow import upload_small
from tests.integration.test_files_flow import wait_for as wait_for_file
from tests.integration.test_jobs_flow import finished, misconfigured, submit
from tests.integration.test_jobs_flow import wait_for as wait_for_job
from tests.support.waiting import eventually


class EmfLines:
    """The EMF records written to stdout while the test runs (every thread's: the functions run on moto's)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.records: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def read(self) -> list[dict[str, Any]]:
        with self.lock:
            for line in self.capsys.readouterr().out.splitlines():
                if line.startswith('{"_aws"'):
                    self.records.append(json.loads(line))
            return list(self.records)

    def of(self, metric: BusinessMetric, tenant_id: str) -> list[dict[str, Any]]:
        return [r for r in self.read() if metric.value in r and r.get("tenant_id") == tenant_id]


@pytest.fixture
def emf(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> EmfLines:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()
    return EmfLines(capsys)


def test_each_operation_writes_its_business_metric(api: httpx.Client, cloud: EmbeddedCloud,
                                                   new_user: Callable[[], SignedInUser], emf: EmfLines) -> None:
    user = new_user()
    me = bearer(user.id_token)
    tenant_id = api.get("/me", headers=me).json()["tenant_id"]

    task = api.post("/tasks", json={"title": "Water the plants"}, headers=me)
    assert task.status_code == 201, task.text
    assert api.post(f"/tasks/{task.json()['id']}/complete", headers=me).status_code == 200
    assert api.post("/notes", json={"title": "Plants", "body": "Twice a week."}, headers=me).status_code == 201
    uploaded = upload_small(api, me, b"plain text, nothing else\n" * 8, "text/plain", "plants.txt")
    wait_for_file(api, me, uploaded["id"], "available")
    done = wait_for_job(api, user, submit(api, user, {"type": "summarize", "params": {
        "text": "Plants need water, light and a little patience. " * 10}})["id"], finished)
    assert done["status"] == "succeeded", done
    with misconfigured(cloud, "JobsJobStep", "NOTES_TABLE"):  # the result note cannot be stored: the job fails
        failed = wait_for_job(api, user, submit(api, user, {"type": "summarize", "params": {
            "text": "Cacti need little water and much light. " * 10}})["id"], finished)
    assert failed["status"] == "failed", failed
    session = api.post("/chat/sessions", json={}, headers=me).json()["id"]
    turn = api.post(f"/chat/sessions/{session}/messages", json={"text": "add repot the fern"}, headers=me)
    assert turn.status_code == 200 and turn.json()["tool_calls"], turn.text

    # How many records this tenant's operations wrote: the chat's tool created a task, and the succeeded job wrote
    # its result note.
    expected = {
        BusinessMetric.TASKS_CREATED: 2, BusinessMetric.TASKS_COMPLETED: 1, BusinessMetric.NOTES_WRITTEN: 2,
        BusinessMetric.FILES_UPLOADED: 1, BusinessMetric.JOBS_SUBMITTED: 2, BusinessMetric.JOBS_SUCCEEDED: 1,
        BusinessMetric.JOBS_FAILED: 1, BusinessMetric.JOB_DURATION: 2, BusinessMetric.CHAT_TURNS: 1,
        BusinessMetric.CHAT_TOOL_CALLS: 1,
    }
    eventually(lambda: all(len(emf.of(metric, tenant_id)) >= count for metric, count in expected.items()), 10)
    assert {metric: len(emf.of(metric, tenant_id)) for metric in expected} == expected
    for metric in expected:
        for record in emf.of(metric, tenant_id):
            (directive,) = record["_aws"]["CloudWatchMetrics"]
            assert directive["Namespace"] == "Crewhouse" and directive["Dimensions"] == [["service", "context"]]
            assert (record["service"], record["context"]) == ("crewhouse", CONTEXT_OF[metric])
    (tool_calls,) = emf.of(BusinessMetric.CHAT_TOOL_CALLS, tenant_id)
    assert tool_calls[BusinessMetric.CHAT_TOOL_CALLS.value] == [float(len(turn.json()["tool_calls"]))]
    durations = [r[BusinessMetric.JOB_DURATION.value][0] for r in emf.of(BusinessMetric.JOB_DURATION, tenant_id)]
    assert all(0 < ms < 120_000 for ms in durations), durations
