"""The jobs ports over boto3 (SQS, Step Functions, EventBridge Scheduler, the notes table), and the one
place that wires a :class:`JobService` from a function's settings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from crewhouse.core.aws import aws_client
from crewhouse.core.errors import NotFound
from crewhouse.core.identity import Identity
from crewhouse.core.table import Table
from crewhouse.jobs.logic import JobService, Limits
from crewhouse.jobs.settings import JobsSettings
from crewhouse.jobs.store import DynamoJobStore


class SqsJobQueue:
    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs, self._url = sqs, queue_url

    def send(self, message: Mapping[str, Any]) -> None:
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(dict(message)))


class StepFunctionsExecutions:
    def __init__(self, sfn: Any, state_machine_arn: str) -> None:
        self._sfn, self._arn = sfn, state_machine_arn

    def start(self, name: str, payload: Mapping[str, Any]) -> str:
        # Same name and same input: Step Functions answers with the running execution instead of a second one.
        body = json.dumps(dict(payload), sort_keys=True)
        try:
            return str(self._sfn.start_execution(stateMachineArn=self._arn, name=name, input=body)["executionArn"])
        except self._sfn.exceptions.ExecutionAlreadyExists:
            return self._arn.replace(":stateMachine:", ":execution:") + f":{name}"

    def stop(self, execution_arn: str, cause: str) -> None:
        self._sfn.stop_execution(executionArn=execution_arn, error="Crewhouse.JobCancelled", cause=cause)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for page in self._sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn,
                                                                               PaginationConfig={"MaxItems": 1000}):
            events.extend(page.get("events", []))
        return events


class SchedulerJobSchedules:
    """One-time EventBridge Scheduler schedules that invoke the schedule-due function."""

    def __init__(self, scheduler: Any, group: str, target_arn: str | None, role_arn: str | None) -> None:
        self._scheduler, self._group, self._target, self._role = scheduler, group, target_arn, role_arn

    def create(self, name: str, at: datetime, payload: Mapping[str, Any]) -> None:
        if not (self._target and self._role):
            raise RuntimeError("JOB_SCHEDULE_TARGET_ARN and JOB_SCHEDULE_ROLE_ARN are required for run_at jobs")
        self._scheduler.create_schedule(
            Name=name, GroupName=self._group, ScheduleExpression=f"at({at.strftime('%Y-%m-%dT%H:%M:%S')})",
            ScheduleExpressionTimezone="UTC", FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
            Target={"Arn": self._target, "RoleArn": self._role, "Input": json.dumps(dict(payload)),
                    "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600}},
        )

    def delete(self, name: str) -> None:
        self._scheduler.delete_schedule(Name=name, GroupName=self._group)


class NotesNotebooks:
    """Whether a notebook exists on the caller's own partition (someone else's answers False: 404)."""

    def __init__(self, settings: JobsSettings) -> None:
        self._settings = settings

    def exists(self, identity: Identity, notebook_id: str) -> bool:
        from crewhouse.notes.wiring import service_for

        try:
            service_for().get_notebook(identity, notebook_id)
        except NotFound:
            return False
        return True


def job_service(settings: JobsSettings) -> JobService:
    queue = SqsJobQueue(aws_client("sqs", settings), settings.job_queue_url) if settings.job_queue_url else None
    executions = (StepFunctionsExecutions(aws_client("stepfunctions", settings), settings.job_state_machine_arn)
                  if settings.job_state_machine_arn else None)
    schedules = SchedulerJobSchedules(aws_client("scheduler", settings), settings.job_schedule_group,
                                      settings.job_schedule_target_arn, settings.job_schedule_role_arn)
    return JobService(DynamoJobStore(Table(aws_client("dynamodb", settings), settings.jobs_table)), queue=queue,
                      executions=executions, schedules=schedules, notebooks=NotesNotebooks(settings),
                      limits=Limits(settings.tenant_job_concurrency, settings.global_job_concurrency))
