"""Bus HTTP API, A2A: a hosted agent's JSON-RPC endpoint (``POST /a2a/agents/{id}``), the interface its card
names. Its own function, because only it (and the hosted agents' inbox consumer) loads the model providers.

No ``from __future__ import annotations`` here: FastAPI reads the signatures at import (see chat/api.py).
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from crewhouse.bus import a2a
from crewhouse.bus.access import require
from crewhouse.bus.dependencies import Agents, Audit, Caller
from crewhouse.core.errors import NotFound
from crewhouse.core.http import create_app, lambda_handler
from crewhouse.core.settings import load_settings

router = APIRouter(tags=["bus: A2A"])


def _answerer() -> Any:
    # The model providers load with the first message a container answers, not with the module (cold start).
    from crewhouse.bus.hosted import ConverseAnswerer, HostedSettings
    from crewhouse.llm.factory import provider_chain

    return ConverseAnswerer(provider_chain(load_settings(HostedSettings)))


@router.post("/a2a/agents/{agent_id}", summary="A2A JSON-RPC to a hosted agent: SendMessage (1.0) or message/send "
             "(0.3), answered with a Message", response_model=dict[str, Any])
async def a2a_send(agent_id: str, request: Request, caller: Caller, agents: Agents, audit: Audit) -> JSONResponse:
    require(caller, "messages:send")
    agent = agents.get(caller.tenant_id, agent_id)
    if agent is None or agent["kind"] != "hosted":
        raise NotFound(f"No hosted agent {agent_id}.")
    request_id: Any = None
    try:
        request_id, version, message = a2a.parse_request(await request.body())
        answerer = _answerer()
        response = a2a.answer_message(request_id, version, message,
                                      lambda text: str(answerer.answer(agent, {"payload": text})["text"]))
    except a2a.RpcError as error:
        audit.record(caller, "a2a.send", f"agent/{agent_id}", result="refused", detail={"code": error.code})
        return JSONResponse(a2a.error_response(request_id, error))
    audit.record(caller, "a2a.send", f"agent/{agent_id}", detail={"version": version})
    return JSONResponse(response)


app = create_app("Crewhouse agentic context bus: A2A", [router])
handler = lambda_handler(app, __name__)
