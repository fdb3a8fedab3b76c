"""Bus HTTP API, the registry: agents, heartbeats, credentials and the token exchange, A2A cards, the audit trail.

No ``from __future__ import annotations`` here: FastAPI reads the signatures at import (see chat/api.py).
"""

import base64
import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request, Response

from crewhouse.bus.access import require
from crewhouse.bus.agent_models import (
    AccessToken,
    Agent,
    AgentCreate,
    AgentPatch,
    AgentRegistered,
    AuditRecord,
    ClientCredentials,
    Heartbeat,
)
from crewhouse.bus.agents import AgentRegistry, agent_card, bus_card, view
from crewhouse.bus.audit import AuditQuery, audit_page
from crewhouse.bus.dependencies import Agents, Audit, BusTableDep, Caller, Settings
from crewhouse.core.aws import aws_client
from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.errors import BadRequest
from crewhouse.core.etag import etag_for, parse_if_match
from crewhouse.core.http import IfMatch, PageParams, create_app, lambda_handler
from crewhouse.core.pagination import Page
from crewhouse.core.table import Table
from crewhouse.platform.personal_tokens import token_hash_key

router = APIRouter(tags=["bus: agents"])
public_router = APIRouter(tags=["bus: public"])


def registry(store: Agents, table: BusTableDep, settings: Settings) -> AgentRegistry:
    from crewhouse.bus.mailboxes import Mailboxes
    from crewhouse.bus.messages_store import DynamoMessages

    return AgentRegistry(
        store, Mailboxes(aws_client("sqs", settings), aws_client("sns", settings), settings), DynamoMessages(table),
        hash_key=lambda: token_hash_key(settings),
        token_url=f"{settings.public_api_url.rstrip('/')}/bus/token")


Registry = Annotated[AgentRegistry, Depends(registry)]


def _now() -> datetime:
    return datetime.now(UTC)


@router.post("/agents", status_code=201, response_model=AgentRegistered,
             summary="Register an agent (admins); an external agent's client credentials are in this answer only")
def register_agent(body: AgentCreate, caller: Caller, agents: Registry, audit: Audit,
                   response: Response) -> AgentRegistered:
    record, shown = agents.register(caller, body)
    audit.record(caller, "agent.register", f"agent/{record['agent_id']}",
                 detail={"kind": record["kind"], "role": record["role"]})
    response.headers["Location"] = f"/agents/{record['agent_id']}"
    response.headers["ETag"] = etag_for(int(record["version"]))
    return AgentRegistered(**view(record, _now()), credentials=ClientCredentials(**shown) if shown else None)


@router.get("/agents", response_model=Page[Agent],
            summary="Discover agents by capability, kind and status (a DynamoDB Query each)")
def list_agents(caller: Caller, store: Agents, settings: Settings, page: PageParams,
                capability: Annotated[str | None, Query(max_length=64)] = None,
                kind: Annotated[str | None, Query(pattern="^(external|hosted)$")] = None,
                status: Annotated[str | None, Query(pattern="^(online|offline)$")] = None) -> Page[Agent]:
    require(caller, "agents:read")
    scope = cursor_scope(caller, "agents", {"capability": capability, "kind": kind, "status": status})
    start = page_start(settings, page.cursor, scope)
    items, resume = store.page(caller.tenant_id, capability=capability, kind=kind, status=status,
                               limit=page.limit, start=start)
    now = _now()
    shown = [view(item, now) for item in items]
    if status:  # the index lags the clock by up to a sweep: judge each agent by its heartbeat now
        shown = [agent for agent in shown if agent["status"] == status]
    return Page[Agent](items=[Agent(**agent) for agent in shown], next_cursor=page_next(settings, resume, scope))


@router.get("/agents/{agent_id}", response_model=Agent, summary="An agent of the tenant")
def get_agent(agent_id: str, caller: Caller, agents: Registry, response: Response) -> Agent:
    record = agents.find(caller, agent_id)
    response.headers["ETag"] = etag_for(int(record["version"]))
    return Agent(**view(record, _now()))


@router.patch("/agents/{agent_id}", response_model=Agent,
              summary="Change an agent (admins; an agent may change its own name, description, capabilities)")
def update_agent(agent_id: str, body: AgentPatch, caller: Caller, agents: Registry, audit: Audit,
                 response: Response, if_match: IfMatch = None) -> Agent:
    record = agents.update(caller, agent_id, body, parse_if_match(if_match))
    audit.record(caller, "agent.update", f"agent/{agent_id}", detail={"fields": sorted(body.model_fields_set)})
    response.headers["ETag"] = etag_for(int(record["version"]))
    return Agent(**view(record, _now()))


@router.delete("/agents/{agent_id}", status_code=204,
               summary="Unregister an agent (admins): its inbox, dead letters and subscriptions go with it")
def unregister_agent(agent_id: str, caller: Caller, agents: Registry, audit: Audit) -> Response:
    agents.unregister(caller, agent_id)
    audit.record(caller, "agent.unregister", f"agent/{agent_id}")
    return Response(status_code=204)


@router.put("/agents/{agent_id}/heartbeat", response_model=Heartbeat,
            summary="I am alive (the agent itself): online until twice its heartbeat interval passes")
def heartbeat(agent_id: str, caller: Caller, agents: Registry) -> Heartbeat:
    return Heartbeat(**agents.heartbeat(caller, agent_id))


@router.post("/agents/{agent_id}/credentials", response_model=ClientCredentials,
             summary="Rotate an external agent's client secret (admins); tokens issued before stop working")
def rotate_credentials(agent_id: str, caller: Caller, agents: Registry, audit: Audit) -> ClientCredentials:
    shown = agents.rotate_credentials(caller, agent_id)
    audit.record(caller, "agent.credentials.rotate", f"agent/{agent_id}")
    return ClientCredentials(**shown)


@router.delete("/agents/{agent_id}/credentials", status_code=204,
               summary="Revoke an external agent's credentials (admins); its tokens stop working")
def revoke_credentials(agent_id: str, caller: Caller, agents: Registry, audit: Audit) -> Response:
    agents.revoke_credentials(caller, agent_id)
    audit.record(caller, "agent.credentials.revoke", f"agent/{agent_id}")
    return Response(status_code=204)


@router.get("/agents/{agent_id}/card", summary="The agent's A2A v1.0 Agent Card")
def get_agent_card(agent_id: str, caller: Caller, agents: Registry, settings: Settings) -> dict[str, Any]:
    return agent_card(agents.find(caller, agent_id), api_url=settings.public_api_url)


@router.get("/audit", response_model=Page[AuditRecord],
            summary="The bus's audit trail (admins), newest first, by actor, resource and time range")
def list_audit(caller: Caller, settings: Settings, page: PageParams,
               actor: Annotated[str | None, Query(max_length=200)] = None,
               resource: Annotated[str | None, Query(max_length=300)] = None,
               since: datetime | None = None, until: datetime | None = None) -> Page[AuditRecord]:
    require(caller, "audit:read")
    for moment in (since, until):
        if moment is not None and moment.tzinfo is None:
            raise BadRequest("since and until need a time zone (for example 2026-12-04T10:00:00Z).")
    scope = cursor_scope(caller, "audit", {"actor": actor, "resource": resource, "since": since, "until": until})
    table = Table(aws_client("dynamodb", settings), settings.bus_audit_table)
    items, more = audit_page(table, AuditQuery(caller.tenant_id, actor, resource, since, until), limit=page.limit,
                             start=page_start(settings, page.cursor, scope), now=_now())
    return Page[AuditRecord](items=[AuditRecord(**item) for item in items],
                             next_cursor=page_next(settings, more, scope))


async def _token_request(request: Request) -> dict[str, str]:
    """The token request's fields: form-encoded (RFC 6749) or JSON; the client may authenticate with Basic."""
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError as error:
            raise BadRequest("The request body is not valid JSON.", slug="malformed-json") from error
        fields = {k: str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
    else:
        fields = {k: v[0] for k, v in parse_qs(raw.decode(errors="replace")).items()}
    basic = request.headers.get("authorization", "")
    if basic[:6].lower() == "basic ":
        try:
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        except ValueError as error:
            raise BadRequest("The Basic credentials are not valid base64.", error="invalid_request") from error
        fields.setdefault("client_id", client_id)
        fields.setdefault("client_secret", client_secret)
    return fields


TokenFields = Annotated[dict[str, str], Depends(_token_request)]


@public_router.post("/bus/token", response_model=AccessToken,
                    summary="Trade an agent's client credentials for a short-lived access token (no token needed)")
def exchange_token(fields: TokenFields, agents: Registry, settings: Settings, response: Response) -> AccessToken:
    if fields.get("grant_type") != "client_credentials":
        raise BadRequest("grant_type must be client_credentials.", slug="unsupported-grant-type",
                         error="unsupported_grant_type")
    if not fields.get("client_id") or not fields.get("client_secret"):
        raise BadRequest("client_id and client_secret are required.", error="invalid_request")
    response.headers["Cache-Control"] = "no-store"
    return AccessToken(**agents.exchange(fields["client_id"], fields["client_secret"],
                                         lifetime_seconds=settings.agent_token_seconds))


@public_router.get("/.well-known/agent-card.json", summary="Crewhouse's own A2A Agent Card (no token needed)")
def well_known_card(settings: Settings) -> dict[str, Any]:
    return bus_card(api_url=settings.public_api_url)


app = create_app("Crewhouse agentic context bus: registry", [router, public_router])
handler = lambda_handler(app, __name__)
