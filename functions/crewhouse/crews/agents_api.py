"""Hosted agents HTTP API (``/hosted-agents``): CRUD where every update is a new immutable version, the versions,
and a synchronous try-out run (bounded by API Gateway's 30 s). Each agent is also a bus registry entry
(``kind: "hosted"``, same id).

No ``from __future__ import annotations`` here: FastAPI reads every route's signature at import.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.http import (
    IdempotencyKey,
    IfMatch,
    PageParams,
    Reader,
    Writer,
    create_app,
    lambda_handler,
    with_etag,
)
from crewhouse.core.idempotency import run_idempotent
from crewhouse.core.pagination import Page
from crewhouse.core.settings import load_settings
from crewhouse.crews.logic import HostedAgentService, agent_view
from crewhouse.crews.models import (
    AgentRunOut,
    AgentRunRequest,
    HostedAgent,
    HostedAgentCreate,
    HostedAgentUpdate,
    HostedAgentVersion,
)
from crewhouse.crews.settings import CrewsSettings
from crewhouse.crews.wiring import agent_service

router = APIRouter(tags=["hosted agents"])


def crews_settings() -> CrewsSettings:
    return load_settings(CrewsSettings)


def service(settings: Annotated[CrewsSettings, Depends(crews_settings)]) -> HostedAgentService:
    return agent_service(settings)


Settings = Annotated[CrewsSettings, Depends(crews_settings)]
Service = Annotated[HostedAgentService, Depends(service)]


@router.post("/hosted-agents", status_code=201, response_model=HostedAgent,
             summary="Define a hosted agent (version 1); it joins the bus registry as kind hosted")
def create_agent(body: HostedAgentCreate, identity: Writer, agents: Service, settings: Settings, request: Request,
                 response: Response, idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    view = run_idempotent(settings, identity, "hosted-agents.create", idempotency_key, body.model_dump(mode="json"),
                          lambda: agents.create(identity, body), request.scope.get("aws.context"))
    response.headers["Location"] = f"/hosted-agents/{view['id']}"
    return with_etag(response, view)


@router.get("/hosted-agents", response_model=Page[HostedAgent], summary="The tenant's hosted agents")
def list_agents(identity: Reader, agents: Service, settings: Settings, page: PageParams) -> dict[str, Any]:
    scope = cursor_scope(identity, "hosted-agents")
    items, resume = agents.store.agents_page(identity.tenant_id, limit=page.limit,
                                             start=page_start(settings, page.cursor, scope))
    return {"items": [agent_view(item) for item in items], "next_cursor": page_next(settings, resume, scope)}


@router.get("/hosted-agents/{agent_id}", response_model=HostedAgent, summary="A hosted agent (its latest version)")
def get_agent(agent_id: str, identity: Reader, agents: Service, response: Response) -> dict[str, Any]:
    return with_etag(response, agent_view(agents.find(identity, agent_id)))


@router.put("/hosted-agents/{agent_id}", response_model=HostedAgent,
            summary="Change a hosted agent: a new immutable version (If-Match: the current version; 412 if stale)")
def update_agent(agent_id: str, body: HostedAgentUpdate, identity: Writer, agents: Service, response: Response,
                 if_match: IfMatch = None) -> dict[str, Any]:
    return with_etag(response, agents.update(identity, agent_id, body, if_match))


@router.delete("/hosted-agents/{agent_id}", status_code=204,
               summary="Delete a hosted agent, its versions and memory, and its registry entry (If-Match honoured)")
def delete_agent(agent_id: str, identity: Writer, agents: Service, if_match: IfMatch = None) -> Response:
    agents.delete(identity, agent_id, if_match)
    return Response(status_code=204)


@router.get("/hosted-agents/{agent_id}/versions", response_model=Page[HostedAgentVersion],
            summary="The agent's versions, newest first")
def list_versions(agent_id: str, identity: Reader, agents: Service, settings: Settings,
                  page: PageParams) -> dict[str, Any]:
    agents.find(identity, agent_id)
    scope = cursor_scope(identity, "hosted-agent-versions", {"agent": agent_id})
    items, resume = agents.store.agent_versions(identity.tenant_id, agent_id, limit=page.limit,
                                                start=page_start(settings, page.cursor, scope))
    return {"items": [agent_view(item) for item in items], "next_cursor": page_next(settings, resume, scope)}


@router.get("/hosted-agents/{agent_id}/versions/{version}", response_model=HostedAgentVersion,
            summary="One version of the agent, as it was saved")
def get_version(agent_id: str, version: int, identity: Reader, agents: Service) -> dict[str, Any]:
    return agents.version(identity, agent_id, version)


@router.post("/hosted-agents/{agent_id}/run", response_model=AgentRunOut,
             summary="Try the agent on a task now (synchronous, at most 25 s): its answer, tools and tokens")
def run_agent(agent_id: str, body: AgentRunRequest, identity: Writer, agents: Service) -> dict[str, Any]:
    done = agents.run(identity, agent_id, body.task, body.context)
    return {"agent_id": done.agent_id, "version": done.version, "text": done.text, "tools_used": done.tools_used,
            "tool_calls": done.tool_calls, "usage": done.usage, "provider": done.provider}


app = create_app("Crewhouse hosted agents", [router])
handler = lambda_handler(app, __name__)
