"""Sign-up to /me over HTTP with real Cognito tokens, and the JWT authorizer's refusals."""

from __future__ import annotations

import json
import time
import tomllib
from typing import Any

import httpx
import jwt
import pytest

from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.endpoint import local_client
from crewhouse.local.seed import SignedInUser
from crewhouse.local.synth import ROOT
from tests.integration.conftest import bearer
from tests.support.tokens import resigned


def test_health_is_public(api: httpx.Client) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    # The release the stack was synthesized from: this checkout's version and a commit (git's, or unknown).
    assert body["version"] == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert body["commit"] == "unknown" or len(body["commit"]) == 12


def test_sign_up_confirm_login_then_me(api: httpx.Client, new_user: Any) -> None:
    user: SignedInUser = new_user()
    response = api.get("/me", headers=bearer(user.id_token))
    assert response.status_code == 200
    me = response.json()
    assert me["user_id"] == user.user_id
    assert me["email"] == user.email
    assert me["roles"] == ["admin"]  # the post-confirmation trigger made them admin of a new tenant
    assert me["tenant"]["owner_id"] == user.user_id
    assert me["tenant_id"] == me["tenant"]["id"]


def test_two_users_get_two_tenants(api: httpx.Client, new_user: Any) -> None:
    first, second = new_user(), new_user()
    tenants = {api.get("/me", headers=bearer(u.id_token)).json()["tenant_id"] for u in (first, second)}
    assert len(tenants) == 2


def test_ready_checks_the_real_dependencies(api: httpx.Client, user: SignedInUser) -> None:
    response = api.get("/ready", headers=bearer(user.id_token))
    assert response.status_code == 200
    assert response.json()["checks"] == {"dynamodb": "ok", "s3": "ok"}


def test_no_token_is_401(api: httpx.Client) -> None:
    response = api.get("/me")
    assert response.status_code == 401


def test_tampered_token_is_401(api: httpx.Client, user: SignedInUser) -> None:
    header, payload, signature = user.id_token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["tenant_id"] = "someone-elses-tenant"
    forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    assert api.get("/me", headers=bearer(f"{header}.{forged}.{signature}")).status_code == 401


def test_expired_token_is_401(api: httpx.Client, user: SignedInUser) -> None:
    now = int(time.time())
    assert api.get("/me", headers=bearer(resigned(user.id_token))).status_code == 200  # the control
    expired = resigned(user.id_token, iat=now - 7200, exp=now - 3600)
    assert api.get("/me", headers=bearer(expired)).status_code == 401


def test_wrong_audience_is_401(api: httpx.Client, cloud: EmbeddedCloud, user: SignedInUser) -> None:
    assert cloud.stack is not None
    cognito = local_client("cognito-idp")
    other = cognito.create_user_pool_client(UserPoolId=cloud.stack.outputs["UserPoolId"], ClientName="unknown-app",
                                            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH",
                                                               "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]
    tokens = cognito.initiate_auth(ClientId=other["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": user.email, "PASSWORD": user.password})
    token = tokens["AuthenticationResult"]["IdToken"]
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == other["ClientId"]
    assert api.get("/me", headers=bearer(token)).status_code == 401


def test_access_token_of_the_mobile_client_is_accepted(api: httpx.Client, user: SignedInUser) -> None:
    response = api.get("/health", headers=bearer(user.access_token))
    assert response.status_code == 200
    # The pre-token-generation trigger puts the tenant into access tokens too.
    response = api.get("/me", headers=bearer(user.access_token))
    assert response.status_code == 200
    assert response.json()["user_id"] == user.user_id


def test_a_changed_password_replaces_the_old_one(api: httpx.Client, cloud: EmbeddedCloud, new_user: Any) -> None:
    from botocore.exceptions import ClientError

    from crewhouse.local.seed import sign_in

    assert cloud.stack is not None
    user: SignedInUser = new_user()
    cognito = local_client("cognito-idp")
    new_password = "Another-long-passphrase-7!"
    refusals = {}
    for previous, proposed in [("not-my-password-1!A", new_password), (user.password, "short")]:
        try:
            cognito.change_password(AccessToken=user.access_token, PreviousPassword=previous,
                                    ProposedPassword=proposed)
        except ClientError as error:
            refusals[proposed] = error.response["Error"]["Code"]
    # A wrong current password, and a new one below the pool's policy, are refused.
    assert refusals == {new_password: "NotAuthorizedException", "short": "InvalidPasswordException"}
    cognito.change_password(AccessToken=user.access_token, PreviousPassword=user.password,
                            ProposedPassword=new_password)
    with pytest.raises(ClientError) as old:
        sign_in(cloud.stack, user.email, user.password)
    assert old.value.response["Error"]["Code"] == "NotAuthorizedException"
    again = sign_in(cloud.stack, user.email, new_password)
    assert api.get("/me", headers=bearer(again.id_token)).json()["user_id"] == user.user_id


def test_a_profile_time_zone_places_quick_adds_and_reaches_sync(api: httpx.Client, new_user: Any) -> None:
    from tests.support.waiting import eventually

    user: SignedInUser = new_user()
    me = bearer(user.id_token)
    token = api.get("/sync", headers=me).json()["token"]
    patched = api.patch("/me", json={"timezone": "America/New_York", "display_name": "Ada"}, headers=me)
    assert patched.status_code == 200, patched.text
    assert patched.json()["profile"]["timezone"] == "America/New_York"
    added = api.post("/tasks/quick-add", json={"text": "stand-up tomorrow 9am"}, headers=me)
    assert added.status_code == 201, added.text
    due = added.json()["task"]["due"]
    assert due.endswith("T09:00:00-05:00") or due.endswith("T09:00:00-04:00"), due

    def profile_in_feed() -> dict[str, Any] | None:
        items = api.get("/sync", params={"since": token}, headers=me).json()["items"]
        return next((i for i in items if i["kind"] == "profile"), None)

    synced = eventually(profile_in_feed)
    assert synced and synced["id"] == user.user_id and synced["display_name"] == "Ada"
