"""The embedded cloud, started once for the integration tier and driven over real HTTP and boto3.

The tier needs nothing from another tier: ``make integration`` (or ``pytest tests/integration``) runs it
alone, and ``make test`` runs it in its own process. moto's state is process-wide and ``mock_aws`` (the
component tier) resets it, so no ``mock_aws`` may be active while this cloud is up: the fixture checks
that, and gives the process environment back as it found it when the cloud stops.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from crewhouse.local.cloud import EmbeddedCloud, LocalCloudConfig
from crewhouse.local.seed import SignedInUser, sign_in, sign_up_and_confirm
from tests.support.moto_server import embedded_cloud_environment, free_port


@pytest.fixture(scope="package")
def cloud() -> Iterator[EmbeddedCloud]:
    with embedded_cloud_environment(), \
            EmbeddedCloud(LocalCloudConfig(aws_port=free_port(), api_port=free_port())) as started:
        yield started


@pytest.fixture(scope="package")
def api(cloud: EmbeddedCloud) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cloud.api_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="package")
def new_user(cloud: EmbeddedCloud) -> Callable[[], SignedInUser]:
    """Signs up, confirms (running the post-confirmation trigger) and signs in a fresh user."""
    assert cloud.stack is not None
    stack = cloud.stack

    def make() -> SignedInUser:
        email = f"user-{uuid.uuid4().hex[:10]}@example.com"
        password = "Correct-horse-42!"
        sign_up_and_confirm(stack, email, password)
        return sign_in(stack, email, password)

    return make


@pytest.fixture(scope="package")
def user(new_user: Callable[[], SignedInUser]) -> SignedInUser:
    return new_user()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(autouse=True)
def no_dynamodb_scans(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every request path reads by key: any Scan during an integration test fails it."""
    from moto.dynamodb.models import DynamoDBBackend

    scans: list[Any] = []
    original = DynamoDBBackend.scan

    def recording_scan(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        scans.append(args[:1])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "scan", recording_scan)
    yield scans
    assert scans == [], f"DynamoDB Scan on a request path: {scans}"
