"""Pure rules of the job pipeline: error classification, dispatch backoff, the readable timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError, EndpointConnectionError

from crewhouse.jobs.logic import JobCancelled, readable_history
from crewhouse.jobs.runner import CANCELLED, PERMANENT, TRANSIENT, classify
from crewhouse.jobs.types.base import PermanentJobError, TransientJobError
from crewhouse.jobs.workers import RETRY_MAX_SECONDS, retry_delay
from crewhouse.llm.provider import ProviderUnavailable


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "Converse")


def test_errors_map_to_the_state_machines_retry_and_catch_names() -> None:
    assert classify(TransientJobError("x")) == TRANSIENT
    assert classify(ProviderUnavailable("throttled")) == TRANSIENT
    assert classify(client_error("ThrottlingException", 400)) == TRANSIENT
    assert classify(client_error("InternalServerError", 500)) == TRANSIENT
    assert classify(EndpointConnectionError(endpoint_url="http://x")) == TRANSIENT
    assert classify(client_error("ValidationException", 400)) == PERMANENT
    assert classify(PermanentJobError("no such note")) == PERMANENT
    assert classify(ValueError("a bug")) == PERMANENT  # retrying a deterministic bug only wastes attempts
    assert classify(JobCancelled("stopped")) == CANCELLED


def test_dispatch_retries_back_off_exponentially_up_to_a_ceiling() -> None:
    delays = [retry_delay(n) for n in range(1, 12)]
    assert delays[:4] == [2, 4, 8, 16]
    assert delays == sorted(delays) and max(delays) == RETRY_MAX_SECONDS


def test_history_reads_as_states_retries_and_outcome() -> None:
    t0 = datetime(2026, 11, 22, tzinfo=UTC)

    def at(seconds: int) -> datetime:
        return t0 + timedelta(seconds=seconds)

    events = [
        {"type": "ExecutionStarted", "timestamp": at(0), "executionStartedEventDetails": {}},
        {"type": "TaskStateEntered", "timestamp": at(1), "stateEnteredEventDetails": {"name": "RunAgent"}},
        {"type": "TaskScheduled", "timestamp": at(1), "taskScheduledEventDetails": {}},
        {"type": "TaskFailed", "timestamp": at(2),
         "taskFailedEventDetails": {"error": "Crewhouse.TransientError", "cause": "throttled"}},
        {"type": "TaskScheduled", "timestamp": at(4), "taskScheduledEventDetails": {}},
        {"type": "TaskSucceeded", "timestamp": at(5), "taskSucceededEventDetails": {}},
        {"type": "TaskStateExited", "timestamp": at(5), "stateExitedEventDetails": {"name": "RunAgent"}},
        {"type": "ExecutionSucceeded", "timestamp": at(6), "executionSucceededEventDetails": {}},
    ]
    timeline = [(e.type, e.state, e.detail) for e in readable_history(events)]
    assert timeline == [
        ("execution_started", None, ""),
        ("state_entered", "RunAgent", ""),
        ("task_failed", "RunAgent", "Crewhouse.TransientError: throttled"),
        ("retry", "RunAgent", "Retrying after a failure"),
        ("state_exited", "RunAgent", ""),
        ("execution_succeeded", None, ""),
    ]


def test_heartbeats_go_out_at_most_once_per_interval() -> None:
    from crewhouse.jobs.runner import Heartbeat

    now = [100.0]
    sent: list[float] = []
    beat = Heartbeat(lambda: sent.append(now[0]), every_seconds=60, clock=lambda: now[0])
    for moment in (100.0, 130.0, 159.9, 160.0, 170.0, 230.0):
        now[0] = moment
        beat()
    assert sent == [160.0, 230.0]


def test_the_progress_pace_is_due_at_most_once_per_interval_from_the_start() -> None:
    from crewhouse.jobs.runner import Pace

    now = [0.0]
    pace = Pace(5, clock=lambda: now[0])
    due = []
    for moment in (0.1, 4.9, 5.0, 6.0, 9.9, 10.0, 30.0):
        now[0] = moment
        due.append(pace.due())
    assert due == [False, False, True, False, False, True, True]


def test_the_failed_step_is_read_from_what_the_state_holds() -> None:
    from crewhouse.jobs.logic import failed_step

    assert failed_step({"job": {}}) == "RunAgent"
    assert failed_step({"job": {}, "output": {}}) == "StoreResult"


def test_a_lambda_failure_reads_as_its_type_and_message_without_the_stack_trace() -> None:
    import json

    from crewhouse.jobs.logic import readable_cause

    document = json.dumps({"errorMessage": "Requested resource not found", "errorType": "ResourceNotFoundException",
                           "requestId": "r-1", "stackTrace": ['  File "/var/task/crewhouse/jobs/results.py", ...']})
    assert readable_cause(document) == "ResourceNotFoundException: Requested resource not found"
    assert readable_cause("no readable source") == "no readable source"
    assert readable_cause('["not", "an", "error document"]') == '["not", "an", "error document"]'
    assert len(readable_cause("x" * 5000)) == 1000
