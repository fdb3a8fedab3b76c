"""Personal access tokens on the embedded cloud: created with a sign-in, used by REST and by the official MCP SDK
client through the API's Lambda authorizer, limited by their grant, refused after revocation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from crewhouse.local import gateway
from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.seed import SignedInUser
from crewhouse.platform.personal_tokens import PREFIX, well_formed
from tests.integration.conftest import bearer
from tests.integration.test_mcp_conformance import call, client, run

AUTHORIZER_CACHE_SECONDS = 60  # the template's AuthorizerResultTtlInSeconds (tests/infra asserts it)


@pytest.fixture(scope="module")
def owner(new_user: Callable[[], SignedInUser]) -> SignedInUser:
    return new_user()


def create_token(api: httpx.Client, user: SignedInUser, **body: Any) -> dict[str, Any]:
    response = api.post("/me/tokens", json={"name": "script", **body}, headers=bearer(user.id_token))
    assert response.status_code == 201, response.text
    return dict(response.json())


def problem_slug(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return str(response.json()["type"]).rsplit("/", 1)[-1]


def test_a_token_is_shown_once_listed_without_itself_and_acts_as_its_owner(api: httpx.Client,
                                                                            owner: SignedInUser) -> None:
    created = create_token(api, owner, name="Claude Desktop", scopes=["read", "write"], expires_in_days=30)
    token = created["token"]
    assert token.startswith(PREFIX) and well_formed(token)
    assert created["prefix"] == token[:8] and created["scopes"] == ["read", "write"]

    listed = api.get("/me/tokens", headers=bearer(owner.id_token)).json()
    [mine] = [t for t in listed if t["id"] == created["id"]]
    assert "token" not in mine and token not in json.dumps(listed)
    assert mine["name"] == "Claude Desktop" and mine["last_used_at"] is None

    me = api.get("/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    assert me.json()["user_id"] == owner.user_id and me.json()["role"] == "admin"
    assert me.json()["token_access"] == ["read", "write"]
    assert api.get("/me", headers=bearer(owner.id_token)).json()["token_access"] is None
    made = api.post("/tasks", json={"title": "Made with a token"}, headers=bearer(token))
    assert made.status_code == 201, made.text
    used = next(t for t in api.get("/me/tokens", headers=bearer(owner.id_token)).json() if t["id"] == created["id"])
    assert used["last_used_at"] is not None


def test_the_mcp_sdk_client_lists_and_creates_tasks_with_a_token(cloud: EmbeddedCloud, api: httpx.Client,
                                                                 owner: SignedInUser) -> None:
    token = create_token(api, owner, name="Cursor", scopes=["read", "write"])["token"]

    async def listing() -> Any:
        async with client(cloud, token) as session:
            return await session.list_tools()

    assert "create_task" in {t.name for t in run(listing()).tools}
    created = call(cloud, token, "create_task", {"title": "From MCP with a token", "planned_date": "2026-12-24"})
    assert not created.is_error, created.content
    listed = call(cloud, token, "get_tasks", {"planned_date": "2026-12-24"}).structured_content
    assert created.structured_content["id"] in [t["id"] for t in listed["items"]]


def test_a_read_token_reads_but_cannot_write_over_rest_or_mcp(cloud: EmbeddedCloud, api: httpx.Client,
                                                              owner: SignedInUser) -> None:
    token = create_token(api, owner, name="reader")["token"]
    assert api.get("/tasks", headers=bearer(token)).status_code == 200
    refused = api.post("/tasks", json={"title": "nope"}, headers=bearer(token))
    assert refused.status_code == 403 and problem_slug(refused) == "read-only-token"
    assert not call(cloud, token, "get_tasks", {}).is_error
    created = call(cloud, token, "create_task", {"title": "nope"})
    assert created.is_error and "read-only-token" in json.dumps([c.model_dump() for c in created.content])


def test_tokens_cannot_manage_tokens_or_the_account(api: httpx.Client, owner: SignedInUser) -> None:
    token = create_token(api, owner, scopes=["read", "write"])["token"]
    for method, path, body in [("POST", "/me/tokens", {"name": "escalate", "scopes": ["read", "write"]}),
                               ("GET", "/me/tokens", None), ("POST", "/me/sign-out", None)]:
        response = api.request(method, path, json=body, headers=bearer(token))
        assert response.status_code == 403 and problem_slug(response) == "sign-in-required", (path, response.text)


def test_bad_token_requests_are_refused_with_the_field_named(api: httpx.Client, owner: SignedInUser) -> None:
    for body, field in [({"name": ""}, "name"), ({"name": "x", "scopes": ["write"]}, "scopes"),
                        ({"name": "x", "expires_in_days": 366}, "expires_in_days"),
                        ({"name": "x", "scopes": ["admin"]}, "scopes")]:
        response = api.post("/me/tokens", json=body, headers=bearer(owner.id_token))
        assert response.status_code == 422, response.text
        assert field in response.text
    assert api.delete("/me/tokens/01NOSUCHTOKEN", headers=bearer(owner.id_token)).status_code == 404


def test_a_mistyped_or_unknown_token_is_a_401(api: httpx.Client, owner: SignedInUser) -> None:
    token = create_token(api, owner)["token"]
    typo = token[:-1] + ("a" if token[-1] != "a" else "b")
    assert api.get("/me", headers=bearer(typo)).status_code == 401
    assert api.get("/me", headers=bearer(PREFIX + "0" * 36)).status_code == 401


def test_a_revoked_token_is_refused_within_the_authorizer_cache_time(cloud: EmbeddedCloud, api: httpx.Client,
                                                                    owner: SignedInUser,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    created = create_token(api, owner, scopes=["read", "write"])
    token = created["token"]
    assert api.get("/me", headers=bearer(token)).status_code == 200  # the authorizer's answer is now cached
    unused = create_token(api, owner)
    for revoked in (created, unused):
        assert api.delete(f"/me/tokens/{revoked['id']}", headers=bearer(owner.id_token)).status_code == 204
    assert api.get("/me", headers=bearer(unused["token"])).status_code == 401  # never cached: refused at once
    # Within the cache time the gateway still answers from its cache, as API Gateway does ...
    assert api.get("/me", headers=bearer(token)).status_code == 200
    # ... and once the template's TTL has passed (the gateway's cache clock moved on, not waited for) it asks
    # the authorizer again, which refuses the revoked token.
    real = gateway.authorizer_cache_clock
    monkeypatch.setattr(gateway, "authorizer_cache_clock", lambda: real() + AUTHORIZER_CACHE_SECONDS)
    assert api.get("/me", headers=bearer(token)).status_code == 401
    assert call_status(cloud, token) == 401
    assert created["id"] not in [t["id"] for t in api.get("/me/tokens", headers=bearer(owner.id_token)).json()]


def call_status(cloud: EmbeddedCloud, token: str) -> int:
    """The HTTP status the MCP endpoint answers a token with (the SDK client raises on it)."""
    response = httpx.post(f"{cloud.api_url}/mcp", headers={**bearer(token), "accept": "application/json"},
                          json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=30)
    return response.status_code
