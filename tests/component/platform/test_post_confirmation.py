"""The post-confirmation trigger: a tenant for each newly confirmed user, against moto."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from crewhouse.core.settings import function_environment
from crewhouse.platform.store import DynamoTenantStore
from crewhouse.platform.workers import post_confirmation
from tests.component.platform.test_platform_api import TABLE, create_table
from tests.support.events import lambda_context
from tests.support.mock import mocked_aws


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with mocked_aws(monkeypatch):
        cognito = boto3.client("cognito-idp", region_name="us-east-1")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(dynamodb)
        pool_id = cognito.create_user_pool(PoolName="p", Schema=[
            {"Name": "tenant_id", "AttributeDataType": "String", "Mutable": True}])["UserPool"]["Id"]
        cognito.create_group(UserPoolId=pool_id, GroupName="admin")
        cognito.admin_create_user(UserPoolId=pool_id, Username="ada@example.com",
                                  UserAttributes=[{"Name": "email", "Value": "ada@example.com"}])
        sub = next(a["Value"] for a in cognito.admin_get_user(UserPoolId=pool_id, Username="ada@example.com")
                   ["UserAttributes"] if a["Name"] == "sub")
        yield {"cognito": cognito, "dynamodb": dynamodb, "pool_id": pool_id, "sub": sub}


def trigger_event(pool: dict[str, Any], source: str = "PostConfirmation_ConfirmSignUp",
                  **attributes: str) -> dict[str, Any]:
    return {"version": "1", "region": "us-east-1", "userPoolId": pool["pool_id"], "userName": "ada@example.com",
            "callerContext": {"awsSdkVersion": "aws-sdk-js-3", "clientId": "client"}, "triggerSource": source,
            "request": {"userAttributes": {"sub": pool["sub"], "email": "ada@example.com",
                                           "email_verified": "true", **attributes}},
            "response": {}}


def run(event: dict[str, Any]) -> dict[str, Any]:
    with function_environment({"PLATFORM_TABLE": TABLE, "AWS_REGION": "us-east-1"}):
        return post_confirmation(event, lambda_context("post-confirmation"))


def user_tenant(pool: dict[str, Any]) -> str | None:
    user = pool["cognito"].admin_get_user(UserPoolId=pool["pool_id"], Username="ada@example.com")
    return next((a["Value"] for a in user["UserAttributes"] if a["Name"] == "custom:tenant_id"), None)


def test_confirmed_user_gets_a_tenant_and_becomes_its_admin(pool: dict[str, Any]) -> None:
    event = trigger_event(pool)
    assert run(event) == event  # Cognito expects the event back
    tenant_id = user_tenant(pool)
    assert tenant_id
    tenant = DynamoTenantStore(pool["dynamodb"], TABLE).get_tenant(tenant_id)
    assert tenant is not None and tenant.owner_id == pool["sub"]
    groups = pool["cognito"].admin_list_groups_for_user(UserPoolId=pool["pool_id"], Username="ada@example.com")
    assert [g["GroupName"] for g in groups["Groups"]] == ["admin"]


def test_a_retried_trigger_reuses_the_same_tenant(pool: dict[str, Any]) -> None:
    run(trigger_event(pool))
    first = user_tenant(pool)
    run(trigger_event(pool))  # Cognito retries triggers; the attribute is not in this stale event
    assert user_tenant(pool) == first
    items = pool["dynamodb"].query(TableName=TABLE, KeyConditionExpression="PK = :pk",
                                   ExpressionAttributeValues={":pk": {"S": f"TENANT#{first}"}})["Items"]
    assert sorted(i["SK"]["S"] for i in items) == ["MEMBER#" + pool["sub"], "META"]


def test_forgot_password_confirmation_creates_nothing(pool: dict[str, Any]) -> None:
    run(trigger_event(pool, "PostConfirmation_ConfirmForgotPassword"))
    assert user_tenant(pool) is None


def test_user_with_a_tenant_keeps_it(pool: dict[str, Any]) -> None:
    run(trigger_event(pool, **{"custom:tenant_id": "existing"}))
    assert user_tenant(pool) is None  # nothing written: the user already belongs to a tenant
