"""Deliver EventBridge events to Lambda and Step Functions targets.

Covers: moto's ``Rule.send_to_targets`` (moto/events/models.py) only knows log groups, archives, SQS,
event buses and API destinations; a Lambda target raises ``NotImplementedError`` (failing the whole
``PutEvents`` call) and Step Functions targets do not exist. It also ignores a target's ``Input`` and
``InputPath`` and delivers to ``DISABLED`` rules.

:func:`install` wraps that method. Lambda (``arn:...:lambda:...``) and state machine (``arn:...:states:...``)
targets are delivered *asynchronously*, as EventBridge does: each delivery runs on a small thread pool and
calls back into the moto server over HTTP (``lambda:Invoke`` with ``InvocationType=Event``, which lands in
the patched ``LambdaFunction.invoke`` of :mod:`crewhouse.local.lambda_runtime`; ``states:StartExecution``
with a unique ``name``). The payload honours the target's ``Input`` (constant JSON), ``InputPath`` and
``InputTransformer`` (via moto's ``EventTemplateParser``), else it is the full event with an ISO ``time``.
Every other target type is still handed to moto's original code. Delivery failures are logged, not retried.

Not covered: scheduled rules (``ScheduleExpression``) never fire; retries and dead-letter queues.
The patch lives in the moto server's process, so call :func:`install` where the server runs.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from datetime import UTC, datetime
from typing import Any

from crewhouse.local import patches

logger = logging.getLogger(__name__)

#: Target ARN services delivered by this module; everything else stays with moto.
HANDLED_SERVICES = frozenset({"lambda", "states"})

_original_send: Callable[..., None] | None = None
_endpoint_url: str | None = None

_executor: ThreadPoolExecutor | None = None
_pending: set[Future[None]] = set()
_pending_lock = threading.Lock()

_clients: dict[tuple[str, str, str, str], Any] = {}
_clients_lock = threading.Lock()


# --- shared helpers (also used by crewhouse.local.scheduler) --------------------------------------------


def resolve_endpoint(endpoint_url: str | None = None) -> str:
    """The moto server to call back into: explicit URL, else ``http://127.0.0.1:$MOTO_PORT`` (default 5000)."""
    if endpoint_url:
        return endpoint_url.rstrip("/")
    return f"http://127.0.0.1:{os.environ.get('MOTO_PORT', '5000')}"


def arn_parts(arn: str) -> tuple[str, str, str]:
    """``(service, region, account)`` of an ARN; raises ``ValueError`` for anything that is not an ARN."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"Not an ARN: {arn!r}")
    return parts[2], parts[3], parts[4]


def endpoint_client(service: str, endpoint_url: str, region: str, account: str = "") -> Any:
    """A cached boto3 client on ``endpoint_url`` that acts in ``account`` (via moto's ``x-moto-account-id``).

    Retries are off: a retried ``Invoke`` or ``SendMessage`` would deliver twice. The read timeout covers
    the longest Lambda run because moto executes ``InvocationType=Event`` synchronously.
    """
    key = (service, endpoint_url, region, account)
    with _clients_lock:  # boto3 client creation is not thread-safe
        found = _clients.get(key)
        if found is None:
            import boto3
            from botocore.config import Config

            found = boto3.session.Session().client(
                service, region_name=region or "us-east-1", endpoint_url=endpoint_url,
                aws_access_key_id="test", aws_secret_access_key="test",
                config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=910),
            )
            if account:
                def _add_account(request: Any, **_: Any) -> None:
                    request.headers["x-moto-account-id"] = account

                found.meta.events.register("before-sign", _add_account)
            _clients[key] = found
        return found


# --- payloads ---------------------------------------------------------------------------------------------


def public_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event as AWS delivers it: no moto-internal ``ingestion-time``, ``time`` as ISO-8601 UTC."""
    out = {key: value for key, value in event.items() if key != "ingestion-time"}
    when = out.get("time")
    if isinstance(when, int | float):
        out["time"] = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def target_payload(target: Mapping[str, Any], event: Mapping[str, Any]) -> Any:
    """What a target receives: ``Input``, else ``InputPath``, else ``InputTransformer``, else the event."""
    delivered = public_event(event)
    if target.get("Input") is not None:
        return json.loads(target["Input"])
    if target.get("InputPath"):
        from jsonpath_ng.ext import parse  # moto dependency

        matches = parse(target["InputPath"]).find(delivered)
        return matches[0].value if matches else None
    transformer = target.get("InputTransformer")
    if transformer:
        from moto.events.utils import EventTemplateParser

        return EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate", ""),
            input_paths_map=transformer.get("InputPathsMap") or {},
            event={**delivered, "ingestion-time": event.get("ingestion-time", time.time())},  # type: ignore[typeddict-item]
        )
    return delivered


# --- delivery ---------------------------------------------------------------------------------------------


def _deliver(target_arn: str, payload: Any, rule_name: str, endpoint_url: str) -> None:
    service, region, account = arn_parts(target_arn)
    body = json.dumps(payload)
    if service == "lambda":
        response = endpoint_client("lambda", endpoint_url, region, account).invoke(
            FunctionName=target_arn, InvocationType="Event", Payload=body.encode("utf-8"))
        if response.get("FunctionError"):
            logger.warning("Rule %s: Lambda target %s failed: %s", rule_name, target_arn,
                           response["Payload"].read().decode("utf-8", "replace"))
    elif service == "states":
        endpoint_client("stepfunctions", endpoint_url, region, account).start_execution(
            stateMachineArn=target_arn, name=str(uuid.uuid4()), input=body)
    else:  # pragma: no cover - filtered by the caller
        raise ValueError(f"Unsupported target {target_arn}")


def _run_delivery(target_arn: str, payload: Any, rule_name: str, endpoint_url: str) -> None:
    try:
        _deliver(target_arn, payload, rule_name, endpoint_url)
    except Exception:  # an async target failure never reaches the PutEvents caller
        logger.exception("Rule %s: delivery to %s failed", rule_name, target_arn)


def _submit(target_arn: str, payload: Any, rule_name: str) -> None:
    global _executor
    endpoint_url = resolve_endpoint(_endpoint_url)
    with _pending_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="crewhouse-eventbridge")
        future = _executor.submit(_run_delivery, target_arn, payload, rule_name, endpoint_url)
        _pending.add(future)
    future.add_done_callback(_forget)


def _forget(future: Future[None]) -> None:
    with _pending_lock:
        _pending.discard(future)


def _is_handled(target: Mapping[str, Any]) -> bool:
    try:
        return arn_parts(str(target.get("Arn", "")))[0] in HANDLED_SERVICES
    except ValueError:
        return False


def _send_to_targets(rule: Any, original_event: Any, transform_input: bool = True) -> None:
    """Replacement for ``Rule.send_to_targets``: ours go to the pool, the rest to moto's original."""
    assert _original_send is not None
    if rule.state == "DISABLED":
        return
    ours = [target for target in rule.targets if _is_handled(target)]
    if ours and rule.event_pattern.matches_event(original_event):
        for target in ours:
            try:
                payload = target_payload(target, original_event)
            except Exception:
                logger.exception("Rule %s: cannot build the input for target %s", rule.name, target.get("Id"))
                continue
            _submit(target["Arn"], payload, rule.name)
    if not ours:
        _original_send(rule, original_event, transform_input)
    elif len(ours) < len(rule.targets):
        others = copy.copy(rule)
        others.targets = [target for target in rule.targets if not _is_handled(target)]
        _original_send(others, copy.deepcopy(original_event), transform_input)


# --- public API -------------------------------------------------------------------------------------------


def install(endpoint_url: str | None = None) -> None:
    """Patch moto's ``Rule.send_to_targets`` once; every call updates the endpoint deliveries call back into.

    ``endpoint_url=None`` means ``http://127.0.0.1:$MOTO_PORT``, read at delivery time.
    """
    global _original_send, _endpoint_url
    from moto.events.models import Rule

    from crewhouse.local import lambda_runtime

    lambda_runtime.install()
    _endpoint_url = endpoint_url
    _original_send = patches.patch(
        Rule, "send_to_targets", _send_to_targets, kind="accuracy",
        reason="delivers to Lambda and Step Functions targets asynchronously, honours Input, InputPath and "
               "InputTransformer and skips DISABLED rules (moto fails on a Lambda target)").original


def drain(timeout: float = 10.0) -> bool:
    """Wait until every queued delivery (including ones queued meanwhile) finished; False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        with _pending_lock:
            pending = {future for future in _pending if not future.done()}
        if not pending:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        wait_futures(pending, timeout=remaining)
