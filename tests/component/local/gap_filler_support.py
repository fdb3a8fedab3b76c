"""Shared set-up for the gap-filler component tests: Lambda functions backed by in-process handlers."""

from __future__ import annotations

import io
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import requests

from tests.support.moto_server import client, running_moto_server

T = TypeVar("T")

HANDLERS = "tests.support.sample_handlers"


def unique(prefix: str) -> str:
    """moto's backends are process-wide, so every test names its resources uniquely."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _role_arn(endpoint: str) -> str:
    iam = client("iam", endpoint)
    try:
        return str(iam.get_role(RoleName="gap-filler-lambda")["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(iam.create_role(RoleName="gap-filler-lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"])


def create_function(endpoint: str, handler: str, environment: dict[str, str] | None = None,
                    name: str | None = None) -> tuple[str, str]:
    """A Lambda running ``tests.support.sample_handlers.<handler>``; returns ``(name, arn)``."""
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("placeholder.py", "")
    name = name or unique(handler.replace("_", "-"))
    response = client("lambda", endpoint).create_function(
        FunctionName=name, Runtime="python3.11", Role=_role_arn(endpoint), Handler=f"{HANDLERS}.{handler}",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": {"AWS_ENDPOINT_URL": endpoint, **(environment or {})}},
    )
    return name, str(response["FunctionArn"])


def wait_for(probe: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def receive_all(sqs: Any, queue_url: str, expected: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Receive until ``expected`` messages arrived (or the timeout passed); deletes nothing."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        messages += sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                        WaitTimeSeconds=0, VisibilityTimeout=60).get("Messages", [])
        if len(messages) < expected:
            time.sleep(0.05)
    return messages


@contextmanager
def executing_moto_server() -> Iterator[str]:
    """A moto server whose Step Functions run their state machines, with the local gap fillers installed."""
    from crewhouse.local import stepfunctions

    with running_moto_server() as url:
        requests.post(f"{url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}},
                      timeout=5).raise_for_status()
        stepfunctions.install()
        try:
            yield url
        finally:
            requests.post(f"{url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": False}},
                          timeout=5)
