"""The agent step over moto's DynamoDB: its first write starts the run, and progress is written at most once per
pace interval while every report is announced."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from crewhouse.jobs import registry, runner
from crewhouse.jobs.logic import JobRef
from crewhouse.jobs.models import JobSubmit
from crewhouse.jobs.settings import JobsSettings
from crewhouse.jobs.types.base import JobOutput, JobRun
from crewhouse.llm.offline import OfflineProvider
from crewhouse.llm.provider import FailoverProvider
from tests.component.jobs.test_admission import ALICE
from tests.unit.jobs.fakes import FakeSources

CLOCK = [0.0]


class Steps(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: list[float]  # the moments (on CLOCK) of its progress reports


class Stepper:
    name, description, params_model = "test-stepper", "reports progress at given moments", Steps

    def run(self, run: JobRun) -> JobOutput:
        assert isinstance(run.params, Steps)
        for i, moment in enumerate(run.params.at, start=1):
            CLOCK[0] = moment
            run.progress(i * 10, f"step {i}")
        return JobOutput(title="Steps", markdown="done")


@pytest.fixture(autouse=True)
def offline_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    if registry.get_type("test-stepper") is None:
        registry.register(Stepper())
    monkeypatch.setattr("crewhouse.providers.wiring.tenant_provider", lambda *args, **kwargs: None)
    monkeypatch.setattr(runner, "build_provider", lambda settings: FailoverProvider([OfflineProvider()]))
    monkeypatch.setattr(runner, "job_sources", lambda settings, identity: FakeSources())
    monkeypatch.setattr(runner, "search_provider", lambda settings, identity: None)


def test_progress_is_written_at_most_once_per_interval_and_every_report_is_announced(make_harness: Any) -> None:
    h = make_harness()
    job = h.service.submit(ALICE, JobSubmit.model_validate({"type": "test-stepper",
                                                           "params": {"at": [0.5, 1.0, 6.0, 7.0, 12.0]}}))
    ref = JobRef("t1", "alice", job.id)
    arn = h.service.dispatch(ref)
    writes: list[int] = []
    report = h.service.report_progress

    def counted(ref: JobRef, percent: int, message: str, started: Any) -> None:
        writes.append(percent)
        report(ref, percent, message, started)

    h.service.report_progress = counted
    announced: list[int] = []
    CLOCK[0] = 0.0
    output = runner.run_attempt(h.service, JobsSettings(), ref, 1, announce=lambda p, m: announced.append(p),
                                execution_arn=arn, progress_pace=runner.Pace(5, clock=lambda: CLOCK[0]))
    assert output["markdown"] == "done"
    assert announced == [10, 20, 30, 40, 50]
    assert writes == [30, 50]  # 6.0 s and 12.0 s: the attempt's start (0 s) was the last write before each
    stored = h.store.get("t1", "alice", job.id)
    assert stored is not None and (stored["status"], stored["progress"], stored["attempts"]) == ("running", 50, 1)
    assert stored["execution_arn"] == arn
