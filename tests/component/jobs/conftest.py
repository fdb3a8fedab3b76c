"""Jobs on moto's DynamoDB, with small recording fakes of our own queue, executions and schedules ports."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import pytest
from pydantic import BaseModel, ConfigDict

from crewhouse.core.table import Table
from crewhouse.jobs import keys, registry
from crewhouse.jobs.logic import JobRef, JobService, Limits
from crewhouse.jobs.store import DynamoJobStore
from crewhouse.jobs.types.base import JobOutput, JobRun
from tests.support.mock import mocked_aws
from tests.support.tables import create_table

EXECUTION_ARN_PREFIX = "arn:aws:states:us-east-1:123456789012:execution:agent-job:"


@dataclass
class RecordingQueue:
    messages: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0

    def send(self, message: Mapping[str, Any]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("queue unavailable")
        self.messages.append(dict(message))


@dataclass
class RecordingExecutions:
    """Step Functions' naming rule: one execution per name; a repeated start returns the same one."""

    started: dict[str, dict[str, Any]] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)
    fail_starts: int = 0

    def start(self, name: str, payload: Mapping[str, Any]) -> str:
        if self.fail_starts:
            self.fail_starts -= 1
            raise RuntimeError("StartExecution throttled")
        self.started.setdefault(name, dict(payload))
        return f"{EXECUTION_ARN_PREFIX}{name}"

    @staticmethod
    def arn_of(ref: JobRef) -> str:
        """The ARN the state machine's context gives the run's first step (``$$.Execution.Id``)."""
        return f"{EXECUTION_ARN_PREFIX}{keys.execution_name(ref.job_id, ref.run)}"

    def stop(self, execution_arn: str, cause: str) -> None:
        self.stopped.append(execution_arn)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return []


@dataclass
class RecordingSchedules:
    created: dict[str, tuple[datetime, dict[str, Any]]] = field(default_factory=dict)

    def create(self, name: str, at: datetime, payload: Mapping[str, Any]) -> None:
        self.created[name] = (at, dict(payload))

    def delete(self, name: str) -> None:
        self.created.pop(name, None)


class EchoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str


class EchoType:
    """A job type the tests add: adding a type is one class and one registration."""

    name = "echo"
    description = "Echoes its text (tests only)"
    params_model = EchoParams

    def run(self, run: JobRun) -> JobOutput:
        assert isinstance(run.params, EchoParams)
        return JobOutput(title="Echo", markdown=run.params.text)


@pytest.fixture(scope="session", autouse=True)
def echo_type() -> None:
    if registry.get_type("echo") is None:
        registry.register(EchoType())


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_aws(monkeypatch):
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "JobsJobsTable", "jobs")
        yield client


@dataclass
class Harness:
    service: JobService
    store: DynamoJobStore
    queue: RecordingQueue
    executions: RecordingExecutions
    schedules: RecordingSchedules


@pytest.fixture
def make_harness(dynamodb: Any) -> Any:
    def make(tenant_limit: int = 3, account_limit: int = 100, *, empty_table: bool = False) -> Harness:
        if empty_table:
            # For a property test: its examples share this fixture, and moto deep-copies a whole table for
            # every transaction (its rollback copy), so a table carried over from earlier examples makes each
            # later one slower. Each example starts from an empty table instead, as the test assumes anyway.
            dynamodb.delete_table(TableName="jobs")
            create_table(dynamodb, "JobsJobsTable", "jobs")
        store = DynamoJobStore(Table(dynamodb, "jobs"))
        queue, executions, schedules = RecordingQueue(), RecordingExecutions(), RecordingSchedules()
        service = JobService(store, queue=queue, executions=executions, schedules=schedules,
                             limits=Limits(tenant_limit, account_limit))
        return Harness(service, store, queue, executions, schedules)

    return make
