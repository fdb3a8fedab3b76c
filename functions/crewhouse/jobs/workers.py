"""Background handlers of the jobs context (each a Lambda; dependencies injectable for tests).

- ``dispatch``: the job queue's consumer (SQS, partial batch failures). Starts one Step Functions
  execution per job run, named after the job. A failed message comes back with exponential backoff; on its
  last receive the job is recorded as dead-lettered before SQS moves the message to the DLQ.
- ``job_step``: the state machine's bookkeeping steps: ``finish`` (store the result, mark the job succeeded and
  give its slot back) and ``fail``.
- ``run_agent``: the agent step (``lambda:invoke.waitForTaskToken``, invoked asynchronously), which also
  starts the run.
- ``schedule_due``: an EventBridge Scheduler one-time schedule fired for a ``run_at`` job.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from crewhouse.core.aws import aws_client
from crewhouse.core.observability import logger
from crewhouse.core.settings import load_settings
from crewhouse.jobs.logic import JobCancelled, JobRef, JobService
from crewhouse.jobs.settings import JobsSettings

RETRY_BASE_SECONDS = 2
RETRY_MAX_SECONDS = 300


def _service(settings: JobsSettings) -> JobService:
    from crewhouse.jobs.adapters import job_service

    return job_service(settings)


def retry_delay(receive_count: int) -> int:
    """Exponential backoff for a message that failed its ``receive_count``-th delivery."""
    return int(min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, receive_count - 1)))


@logger.inject_lambda_context(clear_state=True)
def dispatch(event: dict[str, Any], context: Any, *, service: JobService | None = None,
             sqs: Any = None) -> dict[str, Any]:
    settings = load_settings(JobsSettings)
    service = service or _service(settings)
    processor = BatchProcessor(event_type=EventType.SQS)

    def handle(record: SQSRecord) -> None:
        ref = JobRef.of(json.loads(record.body))
        receives = int(record.attributes.approximate_receive_count or 1)
        try:
            service.dispatch(ref)
        except Exception as exc:
            if receives >= settings.dispatch_max_receives:
                service.dead_letter(ref, f"dispatch failed {receives} times: {type(exc).__name__}: {exc}")
            elif settings.job_queue_url:
                (sqs or aws_client("sqs", settings)).change_message_visibility(
                    QueueUrl=settings.job_queue_url, ReceiptHandle=record.receipt_handle,
                    VisibilityTimeout=retry_delay(receives))
            raise

    return dict(process_partial_response(event=event, record_handler=handle, processor=processor, context=context))


@logger.inject_lambda_context(clear_state=True)
def job_step(event: dict[str, Any], context: Any, *, service: JobService | None = None) -> dict[str, Any]:
    """``{"action": ..., "job": {tenant_id, user_id, job_id, run}, ...}`` from the state machine."""
    settings = load_settings(JobsSettings)
    service = service or _service(settings)
    ref = JobRef.of(event["job"])
    action = event["action"]
    logger.append_keys(job_id=ref.job_id, action=action)
    try:
        if action == "finish":
            from crewhouse.jobs.results import store_result

            item = service.begin_storing(ref)  # not cancelled meanwhile: then nothing is written
            if item["status"] == "succeeded":  # this step's earlier try got that far
                return {"status": "succeeded", "type": item["type"], "result": item.get("result")}
            output = event["output"]
            result = store_result(settings, item, output)
            service.succeed(ref, result, output.get("usage") or {}, output.get("provider") or "",
                            agent_ms=output.get("agent_ms"))
            return {"status": "succeeded", "type": item["type"], "result": result}
        if action == "fail":
            error = event.get("error") or {}
            failed = service.fail(ref, str(error.get("Error", "error")), str(error.get("Cause", "")),
                                  event.get("state"))
            return {"status": failed["status"] if failed else "cancelled", "error": error.get("Error")}
    except JobCancelled as exc:
        raise JobCancelledError(str(exc)) from exc
    raise ValueError(f"unknown job step {action!r}")


class JobCancelledError(Exception):
    """Raised to Step Functions as ``errorType`` ``JobCancelledError``: the state machine ends as cancelled."""


@logger.inject_lambda_context(clear_state=True)
def run_agent(event: dict[str, Any], context: Any, *, service: JobService | None = None,
              sfn: Any = None) -> dict[str, Any]:
    from crewhouse.jobs.runner import run_and_report

    settings = load_settings(JobsSettings)
    service = service or _service(settings)
    error = run_and_report(service, settings, sfn or aws_client("stepfunctions", settings), event,
                           events=None if sfn is not None else aws_client("events", settings))
    return {"error": error or None}


@logger.inject_lambda_context(clear_state=True)
def schedule_due(event: dict[str, Any], context: Any, *, service: JobService | None = None) -> dict[str, Any]:
    settings = load_settings(JobsSettings)
    service = service or _service(settings)
    return {"queued": service.schedule_due(JobRef.of(event))}
