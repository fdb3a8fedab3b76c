"""Tenancy that cannot be forged, over HTTP with real Cognito tokens: the attack of issue 11, memberships
and invitations through Cognito and SES, and a matrix of every route against every kind of caller."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from botocore.exceptions import ClientError

from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.endpoint import local_client
from crewhouse.local.seed import SignedInUser, sign_in
from crewhouse.openapi import merged_openapi
from tests.integration.conftest import bearer
from tests.integration.test_files_flow import eventually, upload_small
from tests.support.tokens import resigned

PASSWORD = "Correct-horse-42!"


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def sent_invitation_code(email: str) -> str:
    """The code of the last invitation SES sent to ``email`` (moto keeps every sent message)."""
    from moto.ses.models import ses_backends

    sent = ses_backends["123456789012"]["us-east-1"].sent_messages
    messages = [m for m in sent if email in m.destinations["ToAddresses"]]
    assert messages, f"no invitation e-mail to {email}"
    match = re.search(r"code:\n\n(\S+)", messages[-1].body)
    assert match, messages[-1].body
    return match.group(1)


def join(api: httpx.Client, admin: SignedInUser, person: SignedInUser, role: str) -> SignedInUser:
    """``admin`` invites ``person`` by e-mail; the person accepts the e-mailed code and switches tenants.
    Returns the person with tokens naming the admin's tenant."""
    sent = api.post("/tenant/invitations", json={"email": person.email, "role": role}, headers=bearer(admin.id_token))
    assert sent.status_code == 201, sent.text
    code = sent_invitation_code(person.email)
    assert code == sent.json()["code"]
    accepted = api.post("/invitations/accept", json={"code": code}, headers=bearer(person.id_token))
    assert accepted.status_code == 200, accepted.text
    tenant_id = accepted.json()["tenant_id"]
    switched = api.post("/me/tenant", json={"tenant_id": tenant_id, "refresh_token": person.refresh_token},
                        headers=bearer(person.id_token))
    assert switched.status_code == 200, switched.text
    tokens = switched.json()["tokens"]
    assert claims(tokens["id_token"])["tenant_id"] == tenant_id
    assert claims(tokens["access_token"])["tenant_role"] == role
    return SignedInUser(email=person.email, password=person.password, user_id=person.user_id,
                        id_token=tokens["id_token"], access_token=tokens["access_token"],
                        refresh_token=person.refresh_token)


def png_bytes() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), "teal").save(out, "PNG")
    return out.getvalue()


def tenant_of(token: str) -> str:
    return str(claims(token)["tenant_id"])


# --- the attack of issue 11 -----------------------------------------------------------------------------------


def test_a_user_cannot_write_their_tenant_id_or_pick_one_at_sign_up(
    api: httpx.Client, cloud: EmbeddedCloud, new_user: Callable[[], SignedInUser]
) -> None:
    assert cloud.stack is not None
    victim, attacker = new_user(), new_user()
    victim_tenant = tenant_of(victim.id_token)
    cognito = local_client("cognito-idp")

    with pytest.raises(ClientError) as refused:
        cognito.update_user_attributes(AccessToken=attacker.access_token,
                                       UserAttributes=[{"Name": "custom:tenant_id", "Value": victim_tenant}])
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"
    email = f"intruder-{uuid.uuid4().hex[:8]}@example.com"
    with pytest.raises(ClientError) as refused:
        cognito.sign_up(ClientId=cloud.stack.outputs["MobileClientId"], Username=email, Password=PASSWORD,
                        UserAttributes=[{"Name": "email", "Value": email},
                                        {"Name": "custom:tenant_id", "Value": victim_tenant}])
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"

    # Even a tenant attribute an admin API wrote (as old code did) names no tenant: memberships decide.
    cognito.admin_update_user_attributes(UserPoolId=cloud.stack.outputs["UserPoolId"], Username=attacker.email,
                                         UserAttributes=[{"Name": "custom:tenant_id", "Value": victim_tenant}])
    refreshed = sign_in(cloud.stack, attacker.email, attacker.password)
    assert "custom:tenant_id" not in claims(refreshed.id_token)
    me = api.get("/me", headers=bearer(refreshed.id_token)).json()
    assert me["tenant_id"] == tenant_of(attacker.id_token) != victim_tenant

    # The forged token of the report (tenant claim edited) fails the signature check.
    forged = jwt.encode({**claims(refreshed.id_token), "tenant_id": victim_tenant}, "x" * 32, algorithm="HS256")
    assert api.get("/me", headers=bearer(forged)).status_code == 401
    # The victim's tenant-wide quota policy is out of reach; the attacker's own policy changes only theirs.
    assert api.put("/files/quota/policy", json={"user_limit_bytes": 1},
                   headers=bearer(refreshed.id_token)).status_code == 200
    victim_quota = api.get("/files/quota", headers=bearer(victim.id_token)).json()
    assert victim_quota["limit"] > 1, victim_quota
    assert api.get("/files/quota", headers=bearer(refreshed.id_token)).json()["limit"] == 1


def test_access_tokens_carry_the_tenant_and_role_too(api: httpx.Client, user: SignedInUser) -> None:
    response = api.get("/me", headers=bearer(user.access_token))
    assert response.status_code == 200, response.text
    assert (response.json()["tenant_id"], response.json()["role"]) == (tenant_of(user.id_token), "admin")


# --- members and invitations through Cognito and SES ----------------------------------------------------------


def test_invite_accept_switch_change_role_remove(api: httpx.Client, cloud: EmbeddedCloud,
                                                 new_user: Callable[[], SignedInUser]) -> None:
    assert cloud.stack is not None
    owner, person = new_user(), new_user()
    own_tenant = tenant_of(person.id_token)
    joined = join(api, owner, person, "observer")
    assert api.get("/me", headers=bearer(joined.id_token)).json()["role"] == "observer"
    tenants = api.get("/me/tenants", headers=bearer(joined.id_token)).json()
    assert {(t["tenant_id"], t["active"]) for t in tenants} == {(own_tenant, False), (tenant_of(owner.id_token), True)}
    assert api.post("/tasks", json={"title": "x"}, headers=bearer(joined.id_token)).status_code == 403

    promoted = api.patch(f"/tenant/members/{person.user_id}", json={"role": "member"}, headers=bearer(owner.id_token))
    assert promoted.status_code == 200 and promoted.json()["role"] == "member"
    # The role is read at every request: the same token now writes.
    assert api.post("/tasks", json={"title": "x"}, headers=bearer(joined.id_token)).status_code == 201

    assert api.delete(f"/tenant/members/{person.user_id}", headers=bearer(owner.id_token)).status_code == 204
    assert api.get("/me", headers=bearer(joined.id_token)).status_code == 403  # at once, not at token expiry
    with pytest.raises(ClientError) as refused:  # AdminUserGlobalSignOut revoked the refresh token
        local_client("cognito-idp").initiate_auth(
            ClientId=cloud.stack.outputs["MobileClientId"], AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": person.refresh_token})
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"
    time.sleep(1.05)  # revocation counts whole seconds of ``iat``
    again = sign_in(cloud.stack, person.email, person.password)
    assert tenant_of(again.id_token) == own_tenant  # back in their own tenant, the removed one forgotten
    members = api.get("/tenant/members", headers=bearer(owner.id_token)).json()
    assert [m["user_id"] for m in members] == [owner.user_id]


def test_the_last_admin_stays(api: httpx.Client, new_user: Callable[[], SignedInUser]) -> None:
    owner = new_user()
    me = bearer(owner.id_token)
    assert api.patch(f"/tenant/members/{owner.user_id}", json={"role": "member"}, headers=me).status_code == 409
    assert api.post("/tenant/leave", headers=me).status_code == 409
    assert api.get("/me", headers=me).json()["role"] == "admin"


# --- the matrix: every route, every kind of caller ------------------------------------------------------------

# Routes only a tenant admin may use (members and observers get 403).
ADMIN_ONLY = {("PUT", "/files/quota/policy"), ("PUT", "/files/retention"), ("GET", "/jobs/dead-letters"),
              ("POST", "/jobs/{job_id}/redrive"),
              ("GET", "/tenant/invitations"), ("POST", "/tenant/invitations"),
              ("DELETE", "/tenant/invitations/{invitation_id}"), ("PATCH", "/tenant/members/{user_id}"),
              ("DELETE", "/tenant/members/{user_id}"), ("PUT", "/research/web-search"),
              ("DELETE", "/research/web-search"), ("POST", "/notifications"), ("POST", "/notifications/batch"),
              ("GET", "/notification-templates"), ("POST", "/notification-templates"),
              ("POST", "/notification-templates/preview"), ("GET", "/notification-templates/{key}/{locale}"),
              ("PUT", "/notification-templates/{key}/{locale}"), ("DELETE", "/notification-templates/{key}/{locale}")}
# Routes about the caller as a person, not as a member of the tenant the token names.
PRINCIPAL_ROUTES = {("GET", "/me/tenants"), ("POST", "/me/tenant"), ("POST", "/me/sign-out"),
                    ("POST", "/invitations/accept"), ("GET", "/me/tokens"), ("DELETE", "/me/tokens/{token_id}")}
# Routes any member may use whatever their role (they read, or act only on the caller's own membership).
ANY_ROLE_WRITES = {("POST", "/tenant/leave"), ("POST", "/mcp"), ("PATCH", "/me"),  # /me: their own profile
                   ("POST", "/me/tokens"),  # an observer's token can do no more than the observer
                   ("POST", "/notifications/read-all"), ("POST", "/notifications/{notification_id}/read"),
                   ("PUT", "/me/notification-preferences"),  # their own inbox and preferences
                   ("DELETE", "/me/notification-preferences/email-suppression"),  # their own address (404: none)
                   ("POST", "/notifications/devices"),  # their own push devices (409: a token another holds)
                   ("DELETE", "/notifications/devices/{device_id}")}
# Account-wide routes that need a Cognito sign-in: a personal token gets 403 there, whatever its grant.
SIGN_IN_ONLY = {("POST", "/me/tenant"), ("POST", "/me/sign-out"), ("POST", "/invitations/accept"),
                ("POST", "/me/tokens"), ("GET", "/me/tokens"), ("DELETE", "/me/tokens/{token_id}")}
PUBLIC = {("GET", "/health"), ("GET", "/.well-known/oauth-protected-resource")}
# Path parameters naming tenant-wide things; every other id names something of one user (the owner here).
TENANT_WIDE_IDS = ("{user_id}", "{invitation_id}")
# Crews, flows, tools and model providers (issue 15) and notification templates are the tenant's: every member
# reads them, admins and members write them (templates: admins only, above).
TENANT_WIDE_PATHS = ("/tools", "/llm-providers", "/hosted-agents", "/crews", "/flows", "/executions",
                     "/notification-templates", "/files/retention")  # retention: read by all, set by admins
# Run last, in this order: they end the caller's membership or session, which changes every later cell.
ENDING = [("POST", "/tenant/leave"), ("POST", "/me/sign-out")]
# Valid bodies where an invalid one (422) would hide the role check the cell is about.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/files/quota/policy"): {"user_limit_bytes": 10**9},
    ("PUT", "/files/retention"): {"enabled": False, "days": 365},
    ("POST", "/tenant/invitations"): {"email": "matrix@example.com", "role": "member"},
    ("PATCH", "/tenant/members/{user_id}"): {"role": "member"},
    ("POST", "/tags/{tag}/rename"): {"to": "matrix-renamed"},
    ("POST", "/me/tokens"): {"name": "matrix"},
    ("PUT", "/research/web-search"): {"api_key": "matrix-search-key"},
}
# The bus (issue 14): its agents, contexts and streams are the tenant's, not one user's. People act in it as its
# admin (tenant admins) or as an observer (everyone else); agents' own calls are tests/integration/test_bus.py's.
BUS_PATHS = ("/agents", "/audit", "/messages", "/topics/", "/replies/", "/contexts", "/streams", "/a2a/", "/bus/",
             "/.well-known/agent-card.json")
BUS_PUBLIC = {("POST", "/bus/token"): {400},  # no client credentials in the matrix's request
              ("GET", "/.well-known/agent-card.json"): {200}}
# An agent's own inbox: no person reads or settles it, an admin neither (a receive would take the messages).
BUS_AGENT_ONLY = {("GET", "/agents/{agent_id}/messages"), ("POST", "/agents/{agent_id}/messages/ack"),
                  ("POST", "/agents/{agent_id}/messages/nack")}
# What an observer reads; the matrix's context is tenant-scoped (not public), so it and its request's reply are
# hidden from observers (404), and everything else of the bus is refused them (403).
BUS_OBSERVER_READS = {("GET", "/agents"), ("GET", "/agents/{agent_id}"), ("GET", "/agents/{agent_id}/card"),
                      ("GET", "/contexts")}
BUS_OBSERVER_HIDDEN = {("GET", "/contexts/{context_id}"), ("GET", "/contexts/{context_id}/versions"),
                       ("GET", "/contexts/{context_id}/download"), ("GET", "/replies/{correlation_id}")}
BUS_NOT_HOSTED = {("POST", "/a2a/agents/{agent_id}")}  # the matrix's agent is external: no A2A endpoint
MATRIX_AGENT_ID = "01kbqz7m3v8d2n6p4r5s7t9w1x"  # any well-formed id: a body names it, a route may not know it
BODIES.update({
    ("POST", "/agents"): {"name": "matrix agent"},
    ("PATCH", "/agents/{agent_id}"): {"description": "matrix"},
    ("POST", "/messages"): {"to": MATRIX_AGENT_ID, "payload": "matrix"},
    ("POST", "/messages/broadcast"): {"payload": "matrix"},
    ("POST", "/topics/{topic}/messages"): {"payload": "matrix"},
    ("POST", "/messages/requests"): {"to": MATRIX_AGENT_ID, "payload": "matrix", "wait": False},
    ("POST", "/replies/{correlation_id}"): {"payload": "matrix"},
    ("PUT", "/agents/{agent_id}/subscriptions/{topic}"): {"filter": {}},
    ("POST", "/agents/{agent_id}/messages/ack"): {"receipts": ["matrix"]},
    ("POST", "/agents/{agent_id}/messages/nack"): {"receipts": ["matrix"]},
    ("POST", "/contexts"): {"name": "matrix", "scope": "tenant", "payload": {"n": 1}},
    ("PUT", "/contexts/{context_id}"): {"payload": {"n": 2}},
    ("POST", "/streams"): {"name": "matrix", "size": 5 * 2**20, "sha256": "0" * 64, "part_size": 5 * 2**20,
                           "part_checksums": ["A" * 43 + "="]},
})


def is_bus(path: str) -> bool:
    return path.startswith(BUS_PATHS)


def bus_expected(caller: str, op: tuple[str, str]) -> set[int] | None:
    """A bus route's statuses for a person (after the credential checks every route shares)."""
    method, path = op
    if op in BUS_AGENT_ONLY:
        return {403}
    if caller in ("outsider", "forger"):  # the owner's tenant's agents, contexts, streams, requests do not exist
        return ({404} if method in ("GET", "DELETE") else {404, 422}) if "{" in path and "{topic}" not in path \
            else None
    if caller in ("observer", "member"):
        if op in BUS_OBSERVER_READS:
            return None
        return {404} if op in BUS_OBSERVER_HIDDEN else {403}
    if op in BUS_NOT_HOSTED:
        return {404}
    return None  # admins, the owner (an admin) and the owner's read token: their tenant's bus


# ``reader``: a personal access token of the owner with the ``read`` grant only.
CALLERS = ("expired", "revoked", "removed", "outsider", "forger", "observer", "member", "admin", "reader", "owner")


@dataclass
class World:
    tokens: dict[str, str]
    ids: dict[str, str]
    # Bodies naming the world's own ids, and ids that a path prefix names differently (a hosted agent's
    # ``{agent_id}`` is not the bus matrix agent's).
    bodies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    path_ids: dict[str, dict[str, str]] = field(default_factory=dict)
    cells: list[tuple[str, str, str, int]] = field(default_factory=list)

    def path(self, template_path: str) -> str:
        overrides = next((ids for prefix, ids in self.path_ids.items() if template_path.startswith(prefix)), {})
        return template_path.format(**{**self.ids, **overrides})

    def body(self, method: str, template_path: str) -> dict[str, Any] | None:
        if method not in ("POST", "PUT", "PATCH"):
            return None
        return self.bodies.get((method, template_path), BODIES.get((method, template_path), {}))


def operations() -> list[tuple[str, str]]:
    ops = [(method.upper(), path) for path, item in merged_openapi()["paths"].items() for method in item]
    ops.append(("POST", "/mcp"))
    ending = [op for op in ops if op in ENDING]
    deletes = [op for op in ops if op[0] == "DELETE" and op not in ending]
    return [op for op in ops if op not in ending and op not in deletes] + deletes + [op for op in ENDING if op in ops]


def expected(caller: str, method: str, path: str) -> set[int] | None:
    """The statuses a cell may answer; None: a success class (not 401/403, no 5xx) checked separately."""
    op = (method, path)
    if op in PUBLIC:
        return {200}
    if op in BUS_PUBLIC:
        return BUS_PUBLIC[op]
    if caller in ("expired", "revoked"):
        return {401}
    if caller == "reader":  # the owner's read token: the owner's reads, no write, no account-wide action
        if op in SIGN_IN_ONLY:
            return {403}
        if method != "GET" and op != ("POST", "/mcp"):
            return {403}
        return bus_expected(caller, op) if is_bus(path) else None
    if caller == "removed":  # a removed member's tokens are revoked where they name the tenant they left
        return {401} if op in PRINCIPAL_ROUTES else {403}
    if op == ("POST", "/me/sign-out") and caller in ("observer", "member", "admin"):
        return {401}  # they left the tenant in the cell before, which revoked their tokens there
    if op in PRINCIPAL_ROUTES:
        return None
    if is_bus(path):
        return bus_expected(caller, op)
    # Another's id: 404 exactly as a missing one; a body that does not parse may be refused first (422),
    # which tells nothing either.
    missing = {404} if method in ("GET", "DELETE") else {404, 422}
    if caller in ("outsider", "forger"):  # admins of their own tenant: the owner's tenant's ids do not exist
        return missing if "{" in path else None
    if caller in ("observer", "member") and op in ADMIN_ONLY:
        return {403}
    if caller == "observer" and method not in ("GET", "HEAD") and op not in ANY_ROLE_WRITES:
        return {403}
    names_a_users_thing = "{" in path and not any(param in path for param in TENANT_WIDE_IDS) \
        and not path.startswith(TENANT_WIDE_PATHS)
    if caller != "owner" and names_a_users_thing:  # tasks, notes, files, jobs, chats are their owner's
        return missing
    return None


MATRIX_FLOW = {"nodes": [
    {"id": "start", "kind": "start", "config": {"inputs": [{"name": "topic", "type": "string", "required": True}]}},
    {"id": "draft", "kind": "llm", "config": {"prompt": "Write about {topic}"}},
    {"id": "end", "kind": "end", "config": {"outputs": [{"name": "text", "type": "string"}]}}],
    "edges": [{"source": "start", "source_port": "topic", "target": "draft", "target_port": "context"},
              {"source": "draft", "source_port": "text", "target": "end", "target_port": "text"}]}


MATRIX_WEBHOOK_URL = "http://127.0.0.1:9/matrix"  # the discard port: nothing listens
MATRIX_DEVICE = {"platform": "fcm", "token": "matrix-device-token"}


def crews_and_notifications(created: Callable[..., dict[str, Any]], ids: dict[str, str], owner_id: str,
                            ) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, dict[str, str]]]:
    """The world's tools, providers, hosted agent, crew, flow and execution (issue 15) and a notification,
    template, webhook and webhook delivery (issue 16); adds their ids to ``ids`` and returns the bodies naming
    them, and the hosted agent's id for ``/hosted-agents`` paths."""
    tool = created("/tools", {"name": "matrix_tool", "kind": "code",
                              "config": {"source": "def run(input):\n    return {}\n"}})
    provider = created("/llm-providers", {"name": "matrix", "kind": "offline"})
    hosted_body = {"name": "Matrix researcher", "role": "Researcher", "goal": "Find facts"}
    hosted = created("/hosted-agents", hosted_body)
    crew_body = {"name": "Matrix crew", "members": [hosted["id"]], "tasks": [
        {"id": "t1", "description": "Do {topic}", "expected_output": "x", "agent_id": hosted["id"]}]}
    crew = created("/crews", crew_body)
    run = created(f"/crews/{crew['id']}/test", {"inputs": {"topic": "bees"}}, 202)
    flow = created("/flows", {"name": "matrix flow", "graph": MATRIX_FLOW})
    execution = created(f"/flows/{flow['id']}/executions", {"input": {"topic": "otters"}})
    sent = created("/notifications", {"recipient_id": owner_id, "category": "system", "title": "Matrix"})
    created("/notification-templates", {"key": "job_failed", "locale": "fr", "subject": "S", "body": "B"})
    # A webhook to a closed loopback port (local mode allows loopback): its test ping fails at once, which gives the
    # matrix a failed delivery that redrive accepts.
    webhook = created("/notifications/webhooks", {"url": MATRIX_WEBHOOK_URL, "categories": ["mention"]})
    ping = created(f"/notifications/webhooks/{webhook['id']}/test", {}, 200)
    device = created("/notifications/devices", MATRIX_DEVICE)
    ids.update(device_id=device["id"])
    ids.update(tool_id=tool["id"], provider_id=provider["id"], crew_id=crew["id"], run_id=run["id"],
               flow_id=flow["id"], number="1", version="1", execution_id=execution["id"], node_id="draft",
               key="job_failed", locale="fr", notification_id=sent["notifications"][0]["id"],
               webhook_id=webhook["id"], delivery_id=ping["id"])
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/tools"): {"name": "matrix_tool_2", "kind": "code",
                             "config": {"source": "def run(input):\n    return {}\n"}},
        ("PUT", "/tools/{tool_id}"): {"description": "matrix"},
        ("POST", "/llm-providers"): {"name": "matrix 2", "kind": "offline"},
        ("PATCH", "/llm-providers/{provider_id}"): {"name": "matrix renamed"},
        ("PUT", "/llm-providers/order"): {"ids": [provider["id"]]},
        ("POST", "/hosted-agents"): hosted_body, ("PUT", "/hosted-agents/{agent_id}"): hosted_body,
        ("POST", "/hosted-agents/{agent_id}/run"): {"task": "hello"},
        ("POST", "/crews"): crew_body, ("PUT", "/crews/{crew_id}"): crew_body,
        ("POST", "/crews/{crew_id}/test"): {"inputs": {"topic": "ants"}},
        ("POST", "/flows"): {"name": "matrix flow 2", "graph": MATRIX_FLOW},
        ("PATCH", "/flows/{flow_id}"): {"name": "matrix flow renamed"},
        ("POST", "/flows/{flow_id}/executions"): {"input": {"topic": "owls"}},
        ("POST", "/executions/{execution_id}/approvals/{node_id}/reject"): {"comment": "matrix"},
        ("POST", "/notifications"): {"recipient_id": owner_id, "category": "system", "title": "Matrix"},
        ("POST", "/notifications/batch"): {"recipient_ids": [owner_id], "category": "mention",
                                           "template": "mention", "data": {}},
        ("POST", "/notification-templates"): {"key": "job_failed", "locale": "de", "subject": "S", "body": "B"},
        ("PUT", "/notification-templates/{key}/{locale}"): {"subject": "S2", "body": "B2"},
        ("POST", "/notification-templates/preview"): {"key": "mention"},
        ("POST", "/notifications/webhooks"): {"url": MATRIX_WEBHOOK_URL, "categories": ["task"]},
        ("PATCH", "/notifications/webhooks/{webhook_id}"): {"description": "matrix"},
        ("POST", "/notifications/devices"): MATRIX_DEVICE,
    }
    return bodies, {"/hosted-agents": {"agent_id": hosted["id"]}}


@pytest.fixture(scope="module")
def world(api: httpx.Client, cloud: EmbeddedCloud, new_user: Callable[[], SignedInUser]) -> Iterator[World]:
    assert cloud.stack is not None
    owner = new_user()
    people = {name: new_user() for name in ("admin", "member", "observer", "removed", "revoked", "target")}
    roles = {"admin": "admin", "member": "member", "observer": "observer", "removed": "member",
             "revoked": "member", "target": "member"}
    joined = {name: join(api, owner, person, roles[name]) for name, person in people.items()}
    headers = bearer(owner.id_token)

    def created(path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
        response = api.post(path, json=body, headers=headers)
        assert response.status_code == status, f"{path}: {response.text}"
        return dict(response.json())

    task = created("/tasks", {"title": "matrix task", "tags": ["matrix"]})
    other = created("/tasks", {"title": "other task"})
    notebook = created("/notebooks", {"name": "Matrix"})
    note = created("/notes", {"title": "Matrix note", "body": "- [ ] first item", "notebook_id": notebook["id"]})
    item = created(f"/notes/{note['id']}/checklist", {"text": "an item"})
    file = upload_small(api, headers, png_bytes(), "image/png", "matrix.png")
    job = created("/jobs", {"type": "summarize", "params": {"text": "Some text to summarise in the matrix."}}, 202)
    template = created("/task-templates", {"name": "Matrix template", "task": {"title": "step"}})
    session = created("/chat/sessions", {})
    invitation = created("/tenant/invitations", {"email": f"pending-{uuid.uuid4().hex[:6]}@example.com"})
    ids = {"task_id": task["id"], "other_id": other["id"], "notebook_id": notebook["id"], "note_id": note["id"],
           "item_id": item.get("id") or item["items"][-1]["id"], "revision": "1", "file_id": file["id"],
           "kind": "task", "target_id": task["id"], "job_id": job["id"], "template_id": template["id"],
           "session_id": session["id"], "invitation_id": invitation["id"], "user_id": people["target"].user_id,
           "tag": "matrix", "token_id": created("/me/tokens", {"name": "matrix target"})["id"]}
    reader = created("/me/tokens", {"name": "matrix reader", "scopes": ["read"]})["token"]
    agent = created("/agents", {"name": "matrix agent", "capabilities": ["matrix"]})
    context = created("/contexts", {"name": "matrix context", "scope": "tenant", "payload": {"n": 0}})
    stream = created("/streams", BODIES[("POST", "/streams")])
    request = created("/messages/requests", {"to": agent["id"], "payload": "matrix", "wait": False}, 202)
    ids.update(agent_id=agent["id"], context_id=context["id"], stream_id=stream["stream_id"], topic="matrix",
               correlation_id=request["correlation_id"])
    bodies, path_ids = crews_and_notifications(created, ids, owner.user_id)

    assert eventually(lambda: api.get(f"/files/{file['id']}", headers=headers).json().get("has_thumbnail"))
    outsider = new_user()
    forger = new_user()
    with pytest.raises(ClientError):
        local_client("cognito-idp").update_user_attributes(
            AccessToken=forger.access_token,
            UserAttributes=[{"Name": "custom:tenant_id", "Value": tenant_of(owner.id_token)}])
    assert api.delete(f"/tenant/members/{people['removed'].user_id}", headers=headers).status_code == 204
    assert api.post("/me/sign-out", headers=bearer(joined["revoked"].id_token)).status_code == 204
    now = int(time.time())
    tokens = {"owner": owner.id_token, "admin": joined["admin"].id_token, "member": joined["member"].id_token,
              "observer": joined["observer"].access_token,  # access tokens work the same
              "removed": joined["removed"].id_token, "revoked": joined["revoked"].id_token,
              "outsider": outsider.id_token, "forger": forger.id_token, "reader": reader,
              "expired": resigned(joined["member"].id_token, iat=now - 7200, exp=now - 3600)}
    yield World(tokens=tokens, ids=ids, bodies=bodies, path_ids=path_ids)


def test_every_route_answers_every_caller_as_its_role_allows(api: httpx.Client, world: World) -> None:
    failures = []
    for method, template_path in operations():
        path = world.path(template_path)
        for caller in CALLERS:
            body = world.body(method, template_path)
            response = api.request(method, path, json=body, headers=bearer(world.tokens[caller]))
            status = response.status_code
            world.cells.append((caller, method, template_path, status))
            allowed = expected(caller, method, template_path)
            ok = (status in allowed) if allowed is not None else (status < 500 and status not in (401, 403))
            if ok and allowed is None and method == "GET" and "{" in template_path:
                ok = status != 404  # the ids this caller may see exist
            if not ok:
                failures.append(f"{caller:9} {method:6} {template_path}: {status} (expected "
                                f"{sorted(allowed) if allowed else 'success'}) {response.text[:160]}")
    print(f"\nmatrix: {len(world.cells)} cells, {len(operations())} operations x {len(CALLERS)} callers, "
          f"{len(failures)} failing")
    assert not failures, "\n".join(failures)


# --- machine clients ---------------------------------------------------------------------------------------


def test_a_machine_client_acts_in_the_tenant_its_membership_names(
    api: httpx.Client, cloud: EmbeddedCloud, new_user: Callable[[], SignedInUser]
) -> None:
    from crewhouse.core.table import Table
    from crewhouse.platform.store import DynamoPlatformStore

    assert cloud.stack is not None
    client_id = cloud.stack.outputs["MachineClientId"]
    secret = local_client("cognito-idp").describe_user_pool_client(
        UserPoolId=cloud.stack.outputs["UserPoolId"], ClientId=client_id)["UserPoolClient"]["ClientSecret"]

    def token(**form: str) -> httpx.Response:
        return api.post("/oauth2/token", data={"grant_type": "client_credentials", **form}, auth=(client_id, secret))

    assert api.post("/oauth2/token", data={"grant_type": "client_credentials"},
                    auth=(client_id, "wrong")).json() == {"error": "invalid_client"}
    assert token(scope="crewhouse/admin.everything").json() == {"error": "invalid_scope"}
    unattached = token(scope="crewhouse/tasks.read").json()["access_token"]
    assert api.get("/tasks", headers=bearer(unattached)).json()["type"].endswith("/no-tenant")

    owner = new_user()
    tenant_id = tenant_of(owner.id_token)
    table = next(cloud.stack.resources[k] for k, r in cloud.stack.template["Resources"].items()
                 if r["Type"] == "AWS::DynamoDB::Table" and k.startswith("StoragePlatformTable"))
    DynamoPlatformStore(Table(local_client("dynamodb"), table)).put_membership(
        tenant_id, client_id, role="observer", invited_by=owner.user_id, now="2026-12-03T00:00:00+00:00")
    machine = token(scope="crewhouse/tasks.read").json()["access_token"]
    assert (claims(machine)["tenant_id"], claims(machine)["scope"]) == (tenant_id, "crewhouse/tasks.read")
    me = api.get("/me", headers=bearer(machine))
    assert me.status_code == 200 and (me.json()["tenant_id"], me.json()["role"]) == (tenant_id, "observer")
    assert api.get("/tasks", headers=bearer(machine)).status_code == 200
    assert api.post("/tasks", json={"title": "x"}, headers=bearer(machine)).status_code == 403  # observer
