"""The platform Lambda in-process, against moto (``mock_aws``)."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from crewhouse.core.settings import function_environment
from crewhouse.platform.api import handler
from crewhouse.platform.models import Tenant
from crewhouse.platform.store import DynamoTenantStore
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.mock import mocked_aws

TABLE = "platform"
BUCKET = "files"
ENV = {"PLATFORM_TABLE": TABLE, "FILES_BUCKET": BUCKET, "AWS_REGION": "us-east-1"}


def create_table(dynamodb: Any) -> None:
    dynamodb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                                     {"AttributeName": "SK", "KeyType": "RANGE"}],
                          AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                                {"AttributeName": "SK", "AttributeType": "S"}])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with mocked_aws(monkeypatch):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        yield {"dynamodb": dynamodb, "s3": s3}


def call(event: dict[str, Any]) -> tuple[int, Any]:
    with function_environment(ENV):
        response = handler(event, lambda_context())
    return response["statusCode"], response_json(response)


def test_health_needs_no_dependency() -> None:
    status, body = call(http_event("GET", "/health"))
    assert (status, body) == (200, {"status": "ok"})


def test_ready_when_table_and_bucket_answer(aws: dict[str, Any]) -> None:
    create_table(aws["dynamodb"])
    aws["s3"].create_bucket(Bucket=BUCKET)
    status, body = call(http_event("GET", "/ready", claims=claims_for()))
    assert status == 200
    assert body == {"status": "ready", "checks": {"dynamodb": "ok", "s3": "ok"}}


def test_ready_names_the_failing_dependency(aws: dict[str, Any]) -> None:
    create_table(aws["dynamodb"])  # no bucket
    status, body = call(http_event("GET", "/ready", claims=claims_for()))
    assert status == 503
    assert body["failing"] == ["s3"]
    assert body["checks"]["dynamodb"] == "ok"


def test_me_shows_user_tenant_and_roles(aws: dict[str, Any]) -> None:
    create_table(aws["dynamodb"])
    DynamoTenantStore(aws["dynamodb"], TABLE).create_tenant(
        Tenant(id="t1", name="Acme", owner_id="u1", created_at="2026-11-22T00:00:00+00:00"), "a@acme.test")
    status, body = call(http_event("GET", "/me", claims=claims_for("t1", "u1", "[admin]", "a@acme.test")))
    assert status == 200
    assert body["user_id"] == "u1"
    assert body["tenant"]["name"] == "Acme"
    assert body["roles"] == ["admin"]


def test_me_without_tenant_claim_is_403() -> None:
    status, body = call(http_event("GET", "/me", claims={"sub": "u1"}))
    assert status == 403
    assert body["type"].endswith("/no-tenant")


def test_openapi_lists_every_route() -> None:
    status, body = call(http_event("GET", "/openapi.json", claims=claims_for()))
    assert status == 200
    assert {"/health", "/ready", "/me"} <= set(body["paths"])
    assert body["components"]["securitySchemes"]["cognito"]["scheme"] == "bearer"
