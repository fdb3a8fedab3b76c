"""The Cognito triggers of the platform against moto: a tenant for each newly confirmed user, and the
tenant and role every new token carries."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from crewhouse.core.settings import function_environment
from crewhouse.core.table import Table
from crewhouse.platform.store import DynamoPlatformStore
from crewhouse.platform.workers import post_confirmation, pre_token_generation
from tests.support.events import lambda_context
from tests.support.mock import mocked_aws
from tests.support.tables import create_table

TABLE = "platform"
SUB = "5f0c-ada"


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoPlatformStore]:
    with mocked_aws(monkeypatch):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(dynamodb, "StoragePlatformTable", TABLE)
        yield DynamoPlatformStore(Table(dynamodb, TABLE))


def trigger_event(source: str = "PostConfirmation_ConfirmSignUp", **attributes: str) -> dict[str, Any]:
    return {"version": "1", "region": "us-east-1", "userPoolId": "pool", "userName": SUB,
            "callerContext": {"awsSdkVersion": "aws-sdk-js-3", "clientId": "client"}, "triggerSource": source,
            "request": {"userAttributes": {"sub": SUB, "email": "ada@example.com", "email_verified": "true",
                                           **attributes}},
            "response": {}}


def run(trigger: Any, event: dict[str, Any]) -> dict[str, Any]:
    with function_environment({"PLATFORM_TABLE": TABLE, "AWS_REGION": "us-east-1"}):
        result: dict[str, Any] = trigger(event, lambda_context("trigger"))
        return result


def claims(event: dict[str, Any], token: str = "idTokenGeneration") -> dict[str, Any]:
    details = run(pre_token_generation, event)["response"]["claimsAndScopeOverrideDetails"][token]
    return dict(details["claimsToAddOrOverride"])


def test_confirmed_user_gets_a_tenant_and_becomes_its_admin(store: DynamoPlatformStore) -> None:
    event = trigger_event()
    assert run(post_confirmation, event) == event  # Cognito expects the event back
    [membership] = store.memberships_of(SUB)
    assert (membership["role"], membership["status"]) == ("admin", "active")
    tenant = store.get_tenant(membership["tenant_id"])
    assert tenant is not None and tenant.owner_id == SUB
    assert store.active_tenant(SUB) == tenant.id


def test_a_retried_trigger_reuses_the_same_tenant(store: DynamoPlatformStore) -> None:
    run(post_confirmation, trigger_event())
    run(post_confirmation, trigger_event())  # Cognito retries triggers
    assert len(store.memberships_of(SUB)) == 1


def test_forgot_password_confirmation_creates_nothing(store: DynamoPlatformStore) -> None:
    run(post_confirmation, trigger_event("PostConfirmation_ConfirmForgotPassword"))
    assert store.memberships_of(SUB) == []


def test_a_tenant_attribute_in_the_user_pool_is_ignored(store: DynamoPlatformStore) -> None:
    run(post_confirmation, trigger_event(**{"custom:tenant_id": "victim-tenant"}))
    [membership] = store.memberships_of(SUB)
    assert membership["tenant_id"] != "victim-tenant"
    event = trigger_event("TokenGeneration_Authentication", **{"custom:tenant_id": "victim-tenant"})
    assert claims(event) == {"tenant_id": membership["tenant_id"], "tenant_role": "admin"}
    assert claims(event, "accessTokenGeneration") == claims(event)
    suppressed = run(pre_token_generation, event)["response"]["claimsAndScopeOverrideDetails"]
    assert suppressed["idTokenGeneration"]["claimsToSuppress"] == ["custom:tenant_id"]


def test_tokens_of_someone_without_a_membership_name_no_tenant(store: DynamoPlatformStore) -> None:
    assert claims(trigger_event("TokenGeneration_Authentication")) == {}


def test_machine_clients_are_principals_by_client_id(store: DynamoPlatformStore) -> None:
    from crewhouse.platform.models import Tenant

    store.create_tenant(Tenant(id="t-bots", name="Bots", owner_id="client-42", created_at="2026-12-01"), None)
    event = {"version": "3", "triggerSource": "TokenGeneration_ClientCredentials", "region": "us-east-1",
             "userPoolId": "pool", "userName": None, "callerContext": {"clientId": "client-42"},
             "request": {"scopes": ["crewhouse/tasks.read"]}, "response": {}}
    assert claims(event, "accessTokenGeneration") == {"tenant_id": "t-bots", "tenant_role": "admin"}
