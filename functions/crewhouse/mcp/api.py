"""``/mcp``: the MCP server in its own Lambda, behind the same HTTP API and JWT authorizer.

Stateless Streamable HTTP with JSON responses (API Gateway buffers, so no SSE). Each request gets its
own short-lived session manager: a Lambda invocation shares nothing with the next one.
``/.well-known/oauth-protected-resource`` (RFC 9728, public) names the Cognito pool as the
authorization server, so MCP clients can discover how to log in.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter, Request
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from crewhouse.core.errors import Problem
from crewhouse.core.http import create_app, lambda_handler, problem_response, request_origin
from crewhouse.core.identity import identity_from_event
from crewhouse.core.settings import load_settings
from crewhouse.mcp.server import build_server
from crewhouse.mcp.settings import McpSettings

router = APIRouter(tags=["mcp"])
SCOPES = ["openid", "email", "profile", "crewhouse/tasks.read", "crewhouse/tasks.write",
          "crewhouse/notes.read", "crewhouse/notes.write", "crewhouse/jobs.read", "crewhouse/jobs.write"]


@cache
def _server() -> Any:
    return build_server()


class StatelessMcpEndpoint:
    """ASGI endpoint: one JSON-RPC exchange per request, with the SDK's host allow-list."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:  # a member of the tenant the token names, before any JSON-RPC (tools check the role)
            identity_from_event(scope.get("aws.event") or {})
        except Problem as problem:
            await problem_response(problem.status, problem.detail, slug=problem.slug, **request_origin(scope),
                                   **problem.extra)(scope, receive, send)
            return
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"").decode("latin-1")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            # The SDK's host check would answer a bare text/plain 400; say what is wrong, as problem+json.
            refused = problem_response(415, "MCP requests are JSON-RPC: send Content-Type: application/json.",
                                       **request_origin(scope))
            await refused(scope, receive, send)
            return
        settings = load_settings(McpSettings)
        security = TransportSecuritySettings(enable_dns_rebinding_protection=True,
                                             allowed_hosts=settings.allowed_hosts, allowed_origins=[])
        server = _server()
        manager = StreamableHTTPSessionManager(app=server._lowlevel_server, json_response=True, stateless=True,
                                               security_settings=security)
        async with manager.run():
            await manager.handle_request(scope, receive, send)


@router.get("/.well-known/oauth-protected-resource", summary="OAuth protected-resource metadata (RFC 9728)")
@router.get("/.well-known/oauth-protected-resource/mcp", include_in_schema=False)
def protected_resource_metadata(request: Request) -> dict[str, Any]:
    settings = load_settings(McpSettings)
    host = request.headers.get("host", "")
    scheme = "http" if settings.crewhouse_local else "https"
    return {
        "resource": f"{scheme}://{host}/mcp",
        "authorization_servers": [settings.issuer],
        "scopes_supported": SCOPES,
        "bearer_methods_supported": ["header"],
        "resource_name": "Crewhouse MCP server",
    }


app = create_app("Crewhouse MCP", [router])
# A Route, not a Mount: a Mount would redirect /mcp to /mcp/. POST only: a stateless server has no stream
# to open on GET (the SDK would hold it open until the gateway's 30 s timeout) and no session to DELETE,
# so every other method is a 405 problem with ``Allow: POST`` at once, as the transport spec allows.
app.router.routes.append(Route("/mcp", StatelessMcpEndpoint(), methods=["POST"]))
handler = lambda_handler(app, __name__)
