"""The platform Lambda in-process, against moto (``mock_aws``): readiness, /me, members and invitations."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from crewhouse.core.settings import function_environment
from crewhouse.core.table import Table
from crewhouse.platform.api import handler
from crewhouse.platform.models import Tenant
from crewhouse.platform.store import DynamoPlatformStore
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.mock import mocked_aws
from tests.support.tables import create_table

TABLE = "platform"
BUCKET = "files"
SENDER = "invites@crewhouse.test"
ENV = {"PLATFORM_TABLE": TABLE, "FILES_BUCKET": BUCKET, "AWS_REGION": "us-east-1", "INVITATION_SENDER": SENDER,
       "SYNC_TABLE": "sync"}
Call = Callable[..., tuple[int, Any]]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with mocked_aws(monkeypatch):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(dynamodb, "StoragePlatformTable", TABLE)
        create_table(dynamodb, "StorageSyncLogTable", "sync")
        ses = boto3.client("ses", region_name="us-east-1")
        ses.verify_email_identity(EmailAddress=SENDER)
        yield {"dynamodb": dynamodb, "s3": boto3.client("s3", region_name="us-east-1"), "ses": ses,
               "store": DynamoPlatformStore(Table(dynamodb, TABLE))}


def call_raw(event: dict[str, Any]) -> tuple[int, Any]:
    with function_environment(ENV):
        response = handler(event, lambda_context())
    return response["statusCode"], response_json(response)


def as_user(user: str, tenant: str | None = "t1", email: str | None = None, **claims: str) -> Call:
    def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        token = claims_for(tenant or "", user, email or f"{user}@acme.test", **claims)
        if tenant is None:
            del token["tenant_id"]
        return call_raw(http_event(method, path, body=body, claims=token))

    return call


@pytest.fixture
def tenant(aws: dict[str, Any]) -> DynamoPlatformStore:
    store: DynamoPlatformStore = aws["store"]
    store.create_tenant(Tenant(id="t1", name="Acme", owner_id="owner", created_at="2026-11-22T00:00:00+00:00"),
                        "owner@acme.test")
    return store


def sent_codes(aws: dict[str, Any]) -> list[str]:
    from moto.ses.models import ses_backends

    messages = ses_backends["123456789012"]["us-east-1"].sent_messages
    return [m.body.rsplit("code:\n\n", 1)[1].split("\n", 1)[0] for m in messages]


def invite_and_accept(aws: dict[str, Any], user: str, role: str) -> None:
    status, sent = as_user("owner")("POST", "/tenant/invitations", {"email": f"{user}@acme.test", "role": role})
    assert status == 201, sent
    status, joined = as_user(user, tenant=None)("POST", "/invitations/accept", {"code": sent["code"]})
    assert (status, joined["tenant_id"], joined["role"]) == (200, "t1", role)


def test_health_needs_no_dependency_and_names_the_release() -> None:
    before = datetime.now(UTC)
    with function_environment({**ENV, "RELEASE_VERSION": "1.2.3", "RELEASE_COMMIT": "0123456789ab"}):
        response = handler(http_event("GET", "/health"), lambda_context())
    status, body = response["statusCode"], response_json(response)
    assert status == 200
    assert (body["status"], body["version"], body["commit"]) == ("ok", "1.2.3", "0123456789ab")
    assert before <= datetime.fromisoformat(body["time"]) <= datetime.now(UTC)


def test_ready_when_table_and_bucket_answer(tenant: DynamoPlatformStore, aws: dict[str, Any]) -> None:
    aws["s3"].create_bucket(Bucket=BUCKET)
    status, body = as_user("owner")("GET", "/ready")
    assert status == 200
    assert body == {"status": "ready", "checks": {"dynamodb": "ok", "s3": "ok"}}


def test_ready_names_the_failing_dependency(tenant: DynamoPlatformStore) -> None:
    status, body = as_user("owner")("GET", "/ready")  # no bucket
    assert status == 503
    assert body["failing"] == ["s3"]
    assert body["checks"]["dynamodb"] == "ok"


def test_me_shows_user_tenant_and_role(tenant: DynamoPlatformStore) -> None:
    status, body = as_user("owner")("GET", "/me")
    assert status == 200
    assert (body["user_id"], body["tenant"]["name"], body["role"], body["roles"]) == ("owner", "Acme", "admin",
                                                                                      ["admin"])


def test_me_without_tenant_claim_is_403(tenant: DynamoPlatformStore) -> None:
    status, body = as_user("owner", tenant=None)("GET", "/me")
    assert status == 403
    assert body["type"].endswith("/no-tenant")


def test_a_tenant_the_caller_does_not_belong_to_is_403(tenant: DynamoPlatformStore) -> None:
    status, body = as_user("mallory", tenant="t1")("GET", "/me")
    assert status == 403 and body["type"].endswith("/not-a-member")


def test_invitation_by_email_then_accept_makes_a_member(aws: dict[str, Any], tenant: DynamoPlatformStore) -> None:
    status, sent = as_user("owner")("POST", "/tenant/invitations", {"email": "Bob@Acme.test", "role": "observer"})
    assert status == 201 and sent["status"] == "pending" and sent["email"] == "bob@acme.test"
    assert sent_codes(aws) == [sent["code"]]  # the same code went by e-mail
    status, pending = as_user("owner")("GET", "/tenant/invitations")
    assert [i["id"] for i in pending] == [sent["id"]] and "code" not in pending[0]

    assert as_user("eve", tenant=None, email="eve@acme.test")("POST", "/invitations/accept",
                                                               {"code": sent["code"]})[0] == 403
    wrong_secret = sent["code"][:-3] + "xyz"
    assert as_user("bob", tenant=None)("POST", "/invitations/accept", {"code": wrong_secret})[0] == 404
    status, joined = as_user("bob", tenant=None)("POST", "/invitations/accept", {"code": sent["code"]})
    assert (status, joined) == (200, {"tenant_id": "t1", "role": "observer", "active": False})
    assert as_user("bob", tenant=None)("POST", "/invitations/accept", {"code": sent["code"]})[0] == 404  # used

    status, members = as_user("bob")("GET", "/tenant/members")
    assert status == 200
    assert {(m["user_id"], m["role"]) for m in members} == {("owner", "admin"), ("bob", "observer")}
    assert as_user("bob")("POST", "/tenant/invitations", {"email": "x@acme.test"})[0] == 403  # observers read


def test_only_admins_invite_change_roles_and_remove(aws: dict[str, Any], tenant: DynamoPlatformStore) -> None:
    invite_and_accept(aws, "mia", "member")
    member = as_user("mia")
    assert member("POST", "/tenant/invitations", {"email": "x@acme.test"})[0] == 403
    assert member("PATCH", "/tenant/members/owner", {"role": "member"})[0] == 403
    assert member("DELETE", "/tenant/members/owner")[0] == 403
    assert member("GET", "/tenant/invitations")[0] == 403


def test_the_last_admin_cannot_be_demoted_removed_or_leave(aws: dict[str, Any], tenant: DynamoPlatformStore) -> None:
    owner = as_user("owner")
    status, body = owner("PATCH", "/tenant/members/owner", {"role": "member"})
    assert status == 409 and body["type"].endswith("/last-admin")
    assert owner("POST", "/tenant/leave")[0] == 409
    invite_and_accept(aws, "ann", "member")
    promoted = owner("PATCH", "/tenant/members/ann", {"role": "admin"})[1]
    assert promoted["role"] == "admin"
    # The answer is built from the write, not read again: it must be what a later read finds.
    assert promoted == {m["user_id"]: m for m in owner("GET", "/tenant/members")[1]}["ann"]
    assert owner("PATCH", "/tenant/members/owner", {"role": "member"})[1]["role"] == "member"
    ann = as_user("ann")
    assert ann("DELETE", "/tenant/members/ann")[0] == 409  # now ann is the only admin
    assert ann("PATCH", "/tenant/members/nobody", {"role": "member"})[0] == 404


def test_a_removed_member_is_refused_at_once_and_can_leave_no_trace(aws: dict[str, Any],
                                                                    tenant: DynamoPlatformStore) -> None:
    invite_and_accept(aws, "rob", "member")
    assert as_user("rob")("GET", "/me")[0] == 200
    assert as_user("owner")("DELETE", "/tenant/members/rob")[0] == 204
    status, body = as_user("rob", iat="9999999999")("GET", "/me")
    assert status == 403 and body["type"].endswith("/not-a-member")
    assert {m["user_id"] for m in as_user("owner")("GET", "/tenant/members")[1]} == {"owner"}
    assert as_user("owner")("DELETE", "/tenant/members/rob")[0] == 404


def test_leaving_and_signing_out(aws: dict[str, Any], tenant: DynamoPlatformStore) -> None:
    invite_and_accept(aws, "lea", "member")
    assert as_user("lea")("POST", "/tenant/leave")[0] == 204
    assert as_user("lea", iat="9999999999")("GET", "/me")[0] == 403
    invite_and_accept(aws, "sam", "member")
    assert as_user("sam")("POST", "/me/sign-out")[0] == 204
    status, body = as_user("sam", iat="1")("GET", "/me")  # a token from before the sign-out
    assert status == 401 and body["type"].endswith("/token-revoked")
    assert as_user("sam", iat="9999999999")("GET", "/me")[0] == 200  # a token from a later sign-in


def test_a_person_in_two_tenants_chooses_which_tokens_name(aws: dict[str, Any], tenant: DynamoPlatformStore) -> None:
    from crewhouse.platform import logic

    store: DynamoPlatformStore = aws["store"]
    store.create_tenant(Tenant(id="t2", name="Beta", owner_id="kim", created_at="2026-11-23T00:00:00+00:00"),
                        "kim@acme.test")
    invite_and_accept(aws, "kim", "observer")
    assert logic.token_claims("kim", store) == {"tenant_id": "t2", "tenant_role": "admin"}
    status, tenants = as_user("kim", tenant="t2")("GET", "/me/tenants")
    assert status == 200 and {(t["tenant_id"], t["role"], t["active"]) for t in tenants} == {
        ("t1", "observer", False), ("t2", "admin", True)}
    status, switched = as_user("kim", tenant="t2")("POST", "/me/tenant", {"tenant_id": "t1"})
    assert (status, switched["role"], switched["tokens"]) == (200, "observer", None)
    assert logic.token_claims("kim", store) == {"tenant_id": "t1", "tenant_role": "observer"}
    assert as_user("kim", tenant="t2")("POST", "/me/tenant", {"tenant_id": "t3"})[0] == 404


def test_token_claims_fall_back_to_an_active_membership(aws: dict[str, Any], tenant: DynamoPlatformStore) -> None:
    from crewhouse.platform import logic

    store: DynamoPlatformStore = aws["store"]
    assert logic.token_claims("owner", store) == {"tenant_id": "t1", "tenant_role": "admin"}
    assert logic.token_claims("nobody", store) == {}
    invite_and_accept(aws, "ivy", "member")  # ivy never chose a tenant
    assert logic.token_claims("ivy", store) == {"tenant_id": "t1", "tenant_role": "member"}
    as_user("owner")("DELETE", "/tenant/members/ivy")
    assert logic.token_claims("ivy", store) == {}


def test_bad_input_is_422_naming_the_field(tenant: DynamoPlatformStore) -> None:
    status, body = as_user("owner")("POST", "/tenant/invitations", {"email": "not-an-address", "role": "boss"})
    assert status == 422
    assert {e["path"] for e in body["errors"]} == {"body.email", "body.role"}


def test_openapi_lists_every_route(tenant: DynamoPlatformStore) -> None:
    status, body = as_user("owner")("GET", "/openapi.json")
    assert status == 200
    assert {"/health", "/ready", "/me", "/tenant/members", "/invitations/accept"} <= set(body["paths"])
    assert body["components"]["securitySchemes"]["cognito"]["scheme"] == "bearer"
