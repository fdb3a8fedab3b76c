"""Personal access tokens against moto: created and listed through the platform Lambda, judged by the authorizer
Lambda (the sample event of events/platform-authorizer.json), with the keyed hash's key in Secrets Manager."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from crewhouse.core.settings import function_environment
from crewhouse.core.table import Table
from crewhouse.platform import authorizer
from crewhouse.platform.personal_tokens import token_digest
from crewhouse.platform.store import DynamoPlatformStore
from crewhouse.platform.token_store import MAX_TOKENS_PER_PRINCIPAL, DynamoPersonalTokens
from tests.component.platform.test_platform_api import ENV, as_user, aws, tenant  # noqa: F401  # fixtures
from tests.support.events import lambda_context

SAMPLE = Path(__file__).resolve().parents[3] / "events" / "platform-authorizer.json"


@pytest.fixture
def hash_secret(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    """The key in Secrets Manager, as the stack generates it; both functions read it from there."""
    arn = str(boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="token-hash", SecretString="s" * 64)["ARN"])
    monkeypatch.setitem(ENV, "TOKEN_HASH_SECRET_ARN", arn)
    return arn


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    with function_environment({**ENV, "USER_POOL_ID": "us-east-1_test", "API_AUDIENCES": "x"}):
        return dict(authorizer.handler(event, lambda_context("authorizer")))


def request_with(token: str) -> dict[str, Any]:
    event = json.loads(SAMPLE.read_text())
    event["headers"]["authorization"] = f"Bearer {token}"
    event["identitySource"] = [event["headers"]["authorization"]]
    return dict(event)


def test_a_created_token_is_stored_only_as_its_keyed_hash_and_authorizes_its_owner(
        aws: dict[str, Any], tenant: DynamoPlatformStore, hash_secret: str) -> None:  # noqa: F811
    status, created = as_user("owner")("POST", "/me/tokens", {"name": "cli", "scopes": ["read", "write"]})
    assert status == 201, created
    token = created["token"]
    raw = json.dumps(aws["dynamodb"].scan(TableName="platform")["Items"])
    assert token not in raw and token_digest(b"s" * 64, token) in raw  # the secret's key, not another

    answer = authorize(request_with(token))
    assert answer == {"isAuthorized": True, "context": {
        "credential": "personal-token", "sub": "owner", "tenant_id": "t1", "iat": answer["context"]["iat"],
        "token_id": created["id"], "token_access": "read write"}}
    [listed] = as_user("owner")("GET", "/me/tokens")[1]
    assert listed["last_used_at"] is not None and "token" not in listed

    assert as_user("owner")("DELETE", f"/me/tokens/{created['id']}")[0] == 204
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(request_with(token))
    assert as_user("owner")("DELETE", f"/me/tokens/{created['id']}")[0] == 404
    assert aws["dynamodb"].scan(TableName="platform", FilterExpression="begins_with(SK, :t)",
                                ExpressionAttributeValues={":t": {"S": "TOKEN"}})["Items"] == []


def test_the_sample_event_token_is_refused_until_it_exists(
        aws: dict[str, Any], hash_secret: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    event = json.loads(SAMPLE.read_text())
    capsys.readouterr()
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(event)
    # The refusal is counted (EMF), so the errors alarm can tell refusals from faults.
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m.get("CredentialsRefused") for m in emitted] == [[1.0]], emitted
    token = event["headers"]["authorization"].removeprefix("Bearer ")
    DynamoPersonalTokens(Table(aws["dynamodb"], "platform")).add(
        digest=token_digest(b"s" * 64, token), token_id="sample", principal_id="ada", tenant_id="t1",
        listing={"name": "sample", "prefix": token[:8], "access": ["read"], "created_epoch": 1,
                 "expires_epoch": 4_000_000_000})
    assert authorize(event)["context"]["sub"] == "ada"


def test_one_principal_holds_at_most_the_maximum(aws: dict[str, Any], tenant: DynamoPlatformStore,  # noqa: F811
                                                 hash_secret: str) -> None:
    tokens = DynamoPersonalTokens(Table(aws["dynamodb"], "platform"))
    for index in range(MAX_TOKENS_PER_PRINCIPAL - 1):
        tokens.add(digest=f"d{index}", token_id=f"id{index:03}", principal_id="owner", tenant_id="t1",
                   listing={"name": "n", "prefix": "chp_", "access": ["read"], "created_epoch": index,
                            "expires_epoch": 4_000_000_000})
    assert as_user("owner")("POST", "/me/tokens", {"name": "last"})[0] == 201
    status, problem = as_user("owner")("POST", "/me/tokens", {"name": "one too many"})
    assert status == 409 and problem["type"].endswith("/too-many-tokens")
    assert len(as_user("owner")("GET", "/me/tokens")[1]) == MAX_TOKENS_PER_PRINCIPAL
