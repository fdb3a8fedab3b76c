"""Rows for the account and workspace routes: the profile, notification preferences, sign-out, personal tokens,
tenant switching, members and invitations, chat sessions, model providers and the web search key.

They run in a workspace of their own (the "team": its owner, members who join by invitation), never as the cost
user or in the cost user's tenant: members, providers, a web search key or a sign-out there would change what
other rows measure (the chat turn runs on the tenant's providers, research reads the key) or revoke the token
they use. Each user who runs a row gets the same tenant-block alignment the test gives the cost user
(``align_tenant_block``), in ``prepare``. Operations that end something for good (sign-out, accepting, leaving,
being removed) get a new user from ``prepare`` each time."""

from __future__ import annotations

import contextlib
from typing import Any

from crewhouse.local.endpoint import local_client
from crewhouse.local.seed import SignedInUser
from tests.cost.catalog import Context, Effect, Metered
from tests.cost.operations.agents_support import align_as, alternate, bearer, kept, new_person, ok, table_named, unique

COMPLETION = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}}
FAKE_API_KEY = "sk-fake-cost-meter-0000"  # write-only secrets: never a real one
FAKE_SEARCH_KEY = "fake-search-key-cost-meter"


# --- users and the team -----------------------------------------------------------------------------------


def _team(ctx: Context) -> dict[str, Any]:
    """The team's owner (an admin: a new user owns the tenant sign-up makes), their headers and the tenant."""
    if "account_team" not in ctx.state:
        owner = new_person(ctx, "account-owner")
        headers = bearer(owner.id_token)
        tenant = ok(ctx.api.get("/me", headers=headers))["tenant_id"]
        ctx.state["account_team"] = {"owner": owner, "headers": headers, "tenant": tenant}
    return dict(ctx.state["account_team"])


def _owner(ctx: Context) -> dict[str, str]:
    return dict(_team(ctx)["headers"])


def _by_owner(prepare: Any = None) -> Any:
    """A prepare for a row the team's owner runs: the row's own preparation, then the owner aligned."""
    def prepared(ctx: Context) -> Any:
        result = prepare(ctx) if prepare is not None else None
        align_as(ctx, _owner(ctx))
        return result
    return prepared


def _invite(ctx: Context, email: str, role: str = "member") -> dict[str, Any]:
    return dict(ok(ctx.api.post("/tenant/invitations", json={"email": email, "role": role}, headers=_owner(ctx)),
                   201))


def _joined(ctx: Context, prefix: str, role: str = "member") -> SignedInUser:
    """A new user who accepted the owner's invitation (their tokens still name their own tenant)."""
    person = new_person(ctx, prefix)
    code = _invite(ctx, person.email, role)["code"]
    ok(ctx.api.post("/invitations/accept", json={"code": code}, headers=bearer(person.id_token)))
    return person


# --- profile, preferences, tokens ---------------------------------------------------------------------------


def edit_profile(ctx: Context, headers: dict[str, str]) -> Effect:
    name = alternate(ctx, "account_name", "Ada", "Ada Lovelace")
    ok(ctx.api.patch("/me", json={"display_name": name}, headers=headers))
    return None


def save_preferences(ctx: Context, headers: dict[str, str]) -> Effect:
    ctx.state["account_job_email"] = not ctx.state.get("account_job_email", True)  # a real change each time
    ok(ctx.api.put("/me/notification-preferences", json={
        "channels": {"in_app": True, "email": True}, "categories": {"job": {"email": ctx.state["account_job_email"]}},
    }, headers=headers))
    return None


def _suppressed(ctx: Context) -> dict[str, str]:
    """The owner's address suppressed, as a hard bounce leaves it (the store's own write: the embedded cloud's
    SES sends no bounce events)."""
    from datetime import UTC, datetime

    from crewhouse.core.table import Table
    from crewhouse.notifications.models import EmailSuppression
    from crewhouse.notifications.store import DynamoNotificationStore

    team = _team(ctx)
    store = DynamoNotificationStore(Table(local_client("dynamodb"), table_named(ctx, "NotificationsTable")))
    suppression = EmailSuppression(address=team["owner"].email, at=datetime.now(UTC),
                                   reason="Permanent bounce (General): smtp; 550 5.1.1 user unknown")
    store.suppress_email(team["tenant"], team["owner"].user_id, suppression.model_dump(mode="json"))
    return _owner(ctx)


def lift_suppression(ctx: Context, headers: dict[str, str]) -> Effect:
    ok(ctx.api.delete("/me/notification-preferences/email-suppression", headers=headers), 204)
    return None


def create_token(ctx: Context, headers: dict[str, str]) -> Effect:
    ok(ctx.api.post("/me/tokens", json={"name": "Cost meter script", "scopes": ["read", "write"],
                                        "expires_in_days": 30}, headers=headers), 201)
    return None


def _fresh_token(ctx: Context) -> str:
    return str(ok(ctx.api.post("/me/tokens", json={"name": "Short-lived"}, headers=_owner(ctx)), 201)["id"])


def revoke_token(ctx: Context, token: str) -> Effect:
    ok(ctx.api.delete(f"/me/tokens/{token}", headers=_owner(ctx)), 204)
    return None


# --- account-wide actions of other users: sign-out, switching tenant -----------------------------------------


def _signing_out(ctx: Context) -> dict[str, str]:
    """A new user (their own tenant only): sign-out revokes every token they have."""
    return align_as(ctx, bearer(new_person(ctx, "account-leaving").id_token))


def sign_out(ctx: Context, headers: dict[str, str]) -> Effect:
    ok(ctx.api.post("/me/sign-out", headers=headers), 204)
    return None


def _switching(ctx: Context) -> tuple[dict[str, str], str, str]:
    """A member of the team (made once) and their refresh token: switching to the team is the same every time."""
    if "account_switcher" not in ctx.state:
        ctx.state["account_switcher"] = _joined(ctx, "account-switcher")
    person: SignedInUser = ctx.state["account_switcher"]
    return align_as(ctx, bearer(person.id_token)), _team(ctx)["tenant"], person.refresh_token


def switch_tenant(ctx: Context, switching: tuple[dict[str, str], str, str]) -> Effect:
    headers, tenant, refresh_token = switching
    switched = ok(ctx.api.post("/me/tenant", json={"tenant_id": tenant, "refresh_token": refresh_token},
                               headers=headers))
    assert switched["tokens"], switched
    return None


# --- members and invitations ----------------------------------------------------------------------------------


def invite(ctx: Context, _: Any) -> Effect:
    _invite(ctx, f"{unique('account-invitee')}@example.com")
    return None


def _pending_invitation(ctx: Context) -> str:
    return str(_invite(ctx, f"{unique('account-invitee')}@example.com")["id"])


def revoke_invitation(ctx: Context, invitation: str) -> Effect:
    ok(ctx.api.delete(f"/tenant/invitations/{invitation}", headers=_owner(ctx)), 204)
    return None


def _invited(ctx: Context) -> tuple[dict[str, str], str]:
    """A new user with the owner's invitation to the team: its code."""
    person = new_person(ctx, "account-invited")
    code = str(_invite(ctx, person.email)["code"])
    return align_as(ctx, bearer(person.id_token)), code


def accept_invitation(ctx: Context, invited: tuple[dict[str, str], str]) -> Effect:
    headers, code = invited
    ok(ctx.api.post("/invitations/accept", json={"code": code}, headers=headers))
    return None


def _member(ctx: Context) -> str:
    """A member of the team (made once) whose role the row changes."""
    return str(kept(ctx, "account_member", lambda: _joined(ctx, "account-member").user_id))


def change_role(ctx: Context, member: str) -> Effect:
    role = alternate(ctx, "account_role", "observer", "member")
    ok(ctx.api.patch(f"/tenant/members/{member}", json={"role": role}, headers=_owner(ctx)))
    return None


def _new_member(ctx: Context) -> str:
    return _joined(ctx, "account-removed").user_id


def remove_member(ctx: Context, member: str) -> Effect:
    ok(ctx.api.delete(f"/tenant/members/{member}", headers=_owner(ctx)), 204)
    return None


def _leaving(ctx: Context) -> dict[str, str]:
    """A new member of the team, signed in to it (their tokens name the team), as the app does after joining."""
    person = _joined(ctx, "account-leaver")
    switched = ok(ctx.api.post("/me/tenant", json={"tenant_id": _team(ctx)["tenant"],
                                                   "refresh_token": person.refresh_token},
                               headers=bearer(person.id_token)))
    return align_as(ctx, bearer(switched["tokens"]["id_token"]))


def leave(ctx: Context, headers: dict[str, str]) -> Effect:
    ok(ctx.api.post("/tenant/leave", headers=headers), 204)
    return None


# --- chat sessions --------------------------------------------------------------------------------------------


def create_session(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.post("/chat/sessions", json={"title": "Planning"}, headers=_owner(ctx)), 201)
    return None


def _fresh_session(ctx: Context) -> str:
    return str(ok(ctx.api.post("/chat/sessions", json={}, headers=_owner(ctx)), 201)["id"])


def _session_with_a_turn(ctx: Context) -> str:
    """A conversation of one turn: deleting a session deletes its messages too (a batch per 25)."""
    session = _fresh_session(ctx)
    turn = ctx.api.post(f"/chat/sessions/{session}/messages", json={"text": "what is on my list today"},
                        headers=_owner(ctx))
    assert turn.status_code in (200, 201), turn.text
    return session


def delete_session(ctx: Context, session: str) -> Effect:
    ok(ctx.api.delete(f"/chat/sessions/{session}", headers=_owner(ctx)), 204)
    return None


def _conversation(ctx: Context) -> str:
    """A session with one turn (made once): what the listing reads does not grow between runs."""
    return str(kept(ctx, "account_conversation", lambda: _session_with_a_turn(ctx)))


def chat_messages(ctx: Context, session: str) -> Effect:
    assert ok(ctx.api.get(f"/chat/sessions/{session}/messages", headers=_owner(ctx)))["items"]
    return None


# --- model providers ------------------------------------------------------------------------------------------


def _endpoint(ctx: Context) -> str:
    """A stand-in OpenAI-compatible endpoint on loopback (the SSRF guard allows loopback in local mode only),
    answering every completion with ``COMPLETION``; it lives as long as the test process."""
    if "account_endpoint" not in ctx.state:
        from tests.support.tool_registry import json_answer, local_endpoint

        stack = contextlib.ExitStack()
        url, _ = stack.enter_context(local_endpoint(json_answer(COMPLETION)))
        ctx.state["account_endpoint"] = (stack, url)
    return str(ctx.state["account_endpoint"][1])


def _gateway_body(ctx: Context, name: str) -> dict[str, Any]:
    return {"name": name, "kind": "openai_compatible", "model": "gpt-4o-mini", "base_url": f"{_endpoint(ctx)}/v1",
            "api_key": FAKE_API_KEY}


def _providers(ctx: Context) -> dict[str, str]:
    """The team's two providers (made once): a gateway with an API key, and an offline one."""
    if "account_providers" not in ctx.state:
        gateway = ok(ctx.api.post("/llm-providers", json=_gateway_body(ctx, "Gateway"), headers=_owner(ctx)), 201)
        spare = ok(ctx.api.post("/llm-providers", json={"name": "Spare", "kind": "offline"}, headers=_owner(ctx)),
                   201)
        ctx.state["account_providers"] = {"gateway": gateway["id"], "spare": spare["id"]}
    return dict(ctx.state["account_providers"])


def _etag(ctx: Context, path: str) -> str:
    response = ctx.api.get(path, headers=_owner(ctx))
    ok(response)
    return str(response.headers["etag"])


def _no_added_providers(ctx: Context) -> None:
    """The providers earlier runs added are gone: the team stays far from its 20 providers."""
    _providers(ctx)
    for provider in ctx.state.pop("account_added", []):
        ok(ctx.api.delete(f"/llm-providers/{provider}", headers=_owner(ctx)), 204)


def add_provider(ctx: Context, _: Any) -> Effect:
    created = ok(ctx.api.post("/llm-providers", json=_gateway_body(ctx, "Second gateway"), headers=_owner(ctx)),
                 201)
    assert created["has_api_key"], created
    ctx.state.setdefault("account_added", []).append(created["id"])
    return None


def _gateway(ctx: Context) -> str:
    return _providers(ctx)["gateway"]


def _gateway_etag(ctx: Context) -> tuple[str, str]:
    gateway = _gateway(ctx)
    return gateway, _etag(ctx, f"/llm-providers/{gateway}")


def _order(ctx: Context) -> tuple[list[str], str]:
    """The other order than the current one, and the list's ETag."""
    providers = _providers(ctx)
    ctx.state["account_gateway_first"] = not ctx.state.get("account_gateway_first", True)
    ids = [providers["gateway"], providers["spare"]]
    return (ids if ctx.state["account_gateway_first"] else ids[::-1]), _etag(ctx, "/llm-providers")


def set_order(ctx: Context, order: tuple[list[str], str]) -> Effect:
    ids, etag = order
    ok(ctx.api.put("/llm-providers/order", json={"ids": ids}, headers={**_owner(ctx), "If-Match": etag}))
    return None


def get_provider(ctx: Context, provider: str) -> Effect:
    ok(ctx.api.get(f"/llm-providers/{provider}", headers=_owner(ctx)))
    return None


def edit_provider(ctx: Context, gateway: tuple[str, str]) -> Effect:
    provider, etag = gateway
    name = alternate(ctx, "account_gateway_name", "Gateway", "Main")
    ok(ctx.api.patch(f"/llm-providers/{provider}", json={"name": name},
                     headers={**_owner(ctx), "If-Match": etag}))
    return None


def _fresh_provider(ctx: Context) -> tuple[str, str]:
    created = ctx.api.post("/llm-providers", json={"name": "Temporary", "kind": "offline"}, headers=_owner(ctx))
    ok(created, 201)
    return str(created.json()["id"]), str(created.headers["etag"])


def delete_provider(ctx: Context, provider: tuple[str, str]) -> Effect:
    provider_id, etag = provider
    ok(ctx.api.delete(f"/llm-providers/{provider_id}", headers={**_owner(ctx), "If-Match": etag}), 204)
    return None


def try_provider(ctx: Context, provider: str) -> Effect:
    assert ok(ctx.api.post(f"/llm-providers/{provider}/test", headers=_owner(ctx)))["ok"]
    return None


# --- the web search key ---------------------------------------------------------------------------------------


def _no_search_key(ctx: Context) -> None:
    response = ctx.api.delete("/research/web-search", headers=_owner(ctx))
    assert response.status_code in (204, 404), response.text


def _search_key(ctx: Context) -> None:
    ok(ctx.api.put("/research/web-search", json={"api_key": FAKE_SEARCH_KEY}, headers=_owner(ctx)))


def set_search_key(ctx: Context, _: Any) -> Effect:
    assert ok(ctx.api.put("/research/web-search", json={"api_key": FAKE_SEARCH_KEY}, headers=_owner(ctx)))[
        "configured"]
    return None


def remove_search_key(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.delete("/research/web-search", headers=_owner(ctx)), 204)
    return None


METERED = [
    Metered("edit my profile", ("PATCH /me",), edit_profile, _by_owner(_owner)),
    Metered("save my notification preferences", ("PUT /me/notification-preferences",), save_preferences,
            _by_owner(_owner)),
    Metered("e-mail me again after a bounce", ("DELETE /me/notification-preferences/email-suppression",),
            lift_suppression, _by_owner(_suppressed)),
    Metered("create an API token", ("POST /me/tokens",), create_token, _by_owner(_owner)),
    Metered("revoke an API token", ("DELETE /me/tokens/{token_id}",), revoke_token, _by_owner(_fresh_token)),
    Metered("sign out everywhere", ("POST /me/sign-out",), sign_out, _signing_out),
    Metered("switch tenant, with new tokens", ("POST /me/tenant",), switch_tenant, _switching),
    Metered("invite a member", ("POST /tenant/invitations",), invite, _by_owner()),
    Metered("revoke an invitation", ("DELETE /tenant/invitations/{invitation_id}",), revoke_invitation,
            _by_owner(_pending_invitation)),
    Metered("accept an invitation", ("POST /invitations/accept",), accept_invitation, _invited),
    Metered("change a member's role", ("PATCH /tenant/members/{user_id}",), change_role, _by_owner(_member)),
    Metered("remove a member", ("DELETE /tenant/members/{user_id}",), remove_member, _by_owner(_new_member)),
    Metered("leave a tenant", ("POST /tenant/leave",), leave, _leaving),
    Metered("start a chat session", ("POST /chat/sessions",), create_session, _by_owner()),
    Metered("delete a chat session of one turn", ("DELETE /chat/sessions/{session_id}",), delete_session,
            _by_owner(_session_with_a_turn)),
    Metered("a chat session's messages", ("GET /chat/sessions/{session_id}/messages",), chat_messages,
            _by_owner(_conversation)),
    Metered("add a model provider with an API key", ("POST /llm-providers",), add_provider,
            _by_owner(_no_added_providers)),
    Metered("reorder model providers", ("PUT /llm-providers/order",), set_order, _by_owner(_order)),
    Metered("get a model provider", ("GET /llm-providers/{provider_id}",), get_provider, _by_owner(_gateway)),
    Metered("edit a model provider", ("PATCH /llm-providers/{provider_id}",), edit_provider,
            _by_owner(_gateway_etag)),
    Metered("remove a model provider", ("DELETE /llm-providers/{provider_id}",), delete_provider,
            _by_owner(_fresh_provider)),
    Metered("test a model provider (OpenAI-compatible, API key)", ("POST /llm-providers/{provider_id}/test",),
            try_provider, _by_owner(_gateway)),
    Metered("set the web search key (none set yet)", ("PUT /research/web-search",), set_search_key,
            _by_owner(_no_search_key)),
    Metered("remove the web search key", ("DELETE /research/web-search",), remove_search_key,
            _by_owner(_search_key)),
]
