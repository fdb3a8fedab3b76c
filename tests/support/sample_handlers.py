"""Tiny Lambda handlers used by the local runtime's tests."""

from __future__ import annotations

import json
import threading
from typing import Any

from crewhouse.core.settings import current_environment


def echo(event: Any, context: Any) -> dict[str, Any]:
    return {"event": event, "greeting": current_environment().get("GREETING"),
            "function": context.function_name}


def fail(event: Any, context: Any) -> None:
    raise ValueError("boom")


# --- SQS event source mapping handlers: each records the batch it received, so tests can read deliveries. ---

_sqs_batches: list[tuple[str, list[dict[str, Any]]]] = []
_sqs_batches_lock = threading.Lock()


def _record_sqs_batch(event: Any, context: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = list(event["Records"])
    with _sqs_batches_lock:
        _sqs_batches.append((context.function_name, records))
    return records


def sqs_batches(function_name: str) -> list[list[dict[str, Any]]]:
    """The ``Records`` of every batch ``function_name`` received, in delivery order."""
    with _sqs_batches_lock:
        return [records for name, records in _sqs_batches if name == function_name]


def record_sqs(event: Any, context: Any) -> None:
    _record_sqs_batch(event, context)


def report_failed_sqs(event: Any, context: Any) -> dict[str, Any]:
    """Reports every message whose body starts with ``fail`` as a batch item failure."""
    records = _record_sqs_batch(event, context)
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records
                                  if r["body"].startswith("fail")]}


def report_unknown_sqs(event: Any, context: Any) -> dict[str, Any]:
    """An invalid ReportBatchItemFailures response: the identifier is not in the batch."""
    _record_sqs_batch(event, context)
    return {"batchItemFailures": [{"itemIdentifier": "not-a-message-id"}]}


def raise_sqs(event: Any, context: Any) -> None:
    _record_sqs_batch(event, context)
    raise RuntimeError("cannot process this batch")


# --- Gap-filler handlers (EventBridge targets, Scheduler, Cognito triggers): each records its event. ---

_recorded_events: list[tuple[str, Any]] = []
_recorded_events_lock = threading.Lock()


def _record_event(event: Any, context: Any) -> None:
    with _recorded_events_lock:
        _recorded_events.append((context.function_name, event))


def recorded_events(function_name: str) -> list[Any]:
    """Every event ``function_name`` received through the record/trigger handlers below, in order."""
    with _recorded_events_lock:
        return [event for name, event in _recorded_events if name == function_name]


def record_event(event: Any, context: Any) -> dict[str, Any]:
    _record_event(event, context)
    return {"recorded": True}


def record_and_fail_first_call(event: Any, context: Any) -> dict[str, Any]:
    """Records the event; the function's first call fails (a redrive's test: the second one succeeds)."""
    _record_event(event, context)
    if len(recorded_events(context.function_name)) == 1:
        raise ValueError("the first call fails")
    return {"recorded": True}


def pre_sign_up_gate(event: Any, context: Any) -> Any:
    """Cognito PreSignUp: rejects e-mails of ``BLOCKED_DOMAIN``; auto-confirms when ``AUTO_CONFIRM=true``."""
    _record_event(event, context)
    env = current_environment()
    email = str(event["request"]["userAttributes"].get("email", ""))
    blocked = env.get("BLOCKED_DOMAIN")
    if blocked and email.endswith("@" + blocked):
        raise ValueError(f"Sign-ups from {blocked} are not allowed")
    if env.get("AUTO_CONFIRM") == "true":
        event["response"]["autoConfirmUser"] = True
        event["response"]["autoVerifyEmail"] = True
    return event


def post_confirmation_tenant(event: Any, context: Any) -> Any:
    """Cognito PostConfirmation: stamps ``custom:tenant_id`` (``TENANT_PREFIX`` + sub) on the new user."""
    from crewhouse.core.aws import aws_client
    from crewhouse.core.settings import CoreSettings, load_settings

    _record_event(event, context)
    tenant_id = current_environment().get("TENANT_PREFIX", "tenant-") + event["request"]["userAttributes"]["sub"]
    aws_client("cognito-idp", load_settings(CoreSettings)).admin_update_user_attributes(
        UserPoolId=event["userPoolId"], Username=event["userName"],
        UserAttributes=[{"Name": "custom:tenant_id", "Value": tenant_id}])
    return event


def pre_token_claims(event: Any, context: Any) -> Any:
    """Cognito pre token generation (v2/v3): adds ``team`` (``TEAM``), suppresses ``custom:tenant_id``, and
    tries to override ``sub`` (a reserved claim Cognito keeps)."""
    _record_event(event, context)
    add = {"team": current_environment().get("TEAM", "blue"), "sub": "forged"}
    details = {"claimsToAddOrOverride": add, "claimsToSuppress": ["custom:tenant_id"]}
    event["response"] = {"claimsAndScopeOverrideDetails": {"idTokenGeneration": details,
                                                           "accessTokenGeneration": details}}
    return event


sqs_gate = threading.Event()


def gated_sqs(event: Any, context: Any) -> None:
    """A slow function: holds its batch until a test sets ``sqs_gate`` (5 s at most, so nothing hangs)."""
    sqs_gate.wait(5)
    _record_sqs_batch(event, context)


# --- HTTP API (payload format 2.0) handlers for the local gateway's tests. ---


def http_echo(event: Any, context: Any) -> dict[str, Any]:
    """Answers with the event it got (JSON body), a custom header and two cookies."""
    import json

    return {"statusCode": 200, "headers": {"content-type": "application/json", "x-handler": "http_echo"},
            "cookies": ["session=abc; Path=/; HttpOnly", "theme=dark"], "body": json.dumps({"event": event})}


def http_sleep(event: Any, context: Any) -> dict[str, Any]:
    """Sleeps ``?seconds=`` (default 2) before answering 204: outlives a short integration timeout."""
    import time

    time.sleep(float((event.get("queryStringParameters") or {}).get("seconds", "2")))
    return {"statusCode": 204}


def http_bare(event: Any, context: Any) -> dict[str, Any]:
    """Returns no ``statusCode``: API Gateway must infer a 200 JSON response from the whole result."""
    return {"hello": "world", "path": event["rawPath"]}


# --- DynamoDB stream handlers: each records the batch it received; ``fail_times`` (N) on an item's NewImage makes
# --- the handlers fail on that record that many times before accepting it.

_stream_batches: list[tuple[str, list[dict[str, Any]]]] = []
_stream_failures: dict[str, int] = {}  # eventID -> failures it has caused so far
_stream_lock = threading.Lock()


def _record_stream_batch(event: Any, context: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = list(event["Records"])
    with _stream_lock:
        _stream_batches.append((context.function_name, records))
    return records


def stream_batches(function_name: str) -> list[list[dict[str, Any]]]:
    """The ``Records`` of every batch ``function_name`` received, in delivery order."""
    with _stream_lock:
        return [records for name, records in _stream_batches if name == function_name]


def _fails_now(record: dict[str, Any]) -> bool:
    """True (and counted) while the record has ``fail_times`` failures left."""
    wanted = int(((record["dynamodb"].get("NewImage") or {}).get("fail_times") or {}).get("N", "0"))
    with _stream_lock:
        done = _stream_failures.get(record["eventID"], 0)
        if done >= wanted:
            return False
        _stream_failures[record["eventID"]] = done + 1
        return True


def record_stream(event: Any, context: Any) -> None:
    _record_stream_batch(event, context)


def raise_on_failing_stream(event: Any, context: Any) -> None:
    """A poison record fails its whole batch (an unhandled error) while it has ``fail_times`` left."""
    failing = [record for record in _record_stream_batch(event, context) if _fails_now(record)]
    if failing:
        raise RuntimeError(f"cannot process {failing[0]['dynamodb']['Keys']}")


def report_failing_stream(event: Any, context: Any) -> dict[str, Any]:
    """Reports records with ``fail_times`` left as ``batchItemFailures`` (by SequenceNumber)."""
    records = _record_stream_batch(event, context)
    return {"batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}
                                  for record in records if _fails_now(record)]}


def report_unknown_stream(event: Any, context: Any) -> dict[str, Any]:
    """An invalid ReportBatchItemFailures response: the identifier is not in the batch."""
    _record_stream_batch(event, context)
    return {"batchItemFailures": [{"itemIdentifier": "not-a-sequence-number"}]}


def answer_task_token(event: Any, context: Any) -> None:
    """A waitForTaskToken target that answers at once (``{"wait": true}``: never answers)."""
    _record_event(event, context)
    if event.get("wait"):
        return
    import boto3

    from crewhouse.core.settings import current_environment

    environment = current_environment()
    boto3.client("stepfunctions", endpoint_url=environment["AWS_ENDPOINT_URL"], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test").send_task_success(
        taskToken=event["token"], output=json.dumps({"answered": True}))


def whoami(event: Any, context: Any) -> dict[str, Any]:
    """Who the function's AWS calls are made as (its role's assumed-role session)."""
    from crewhouse.core.aws import aws_client
    from crewhouse.core.settings import CoreSettings, load_settings

    settings = load_settings(CoreSettings)
    return {"arn": aws_client("sts", settings).get_caller_identity()["Arn"], "key": settings.aws_access_key_id}
