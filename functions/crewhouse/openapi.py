"""The merged OpenAPI document of every HTTP context (served by the platform, written to docs/)."""

from __future__ import annotations

import importlib
import json
import pkgutil
from functools import cache
from pathlib import Path
from typing import Any

from fastapi.openapi.utils import get_openapi

# Every HTTP context's API module (each exposes ``app``), or its API package when several functions serve the
# context (each module of the package is one function's handler and exposes ``app``). One line per context.
CONTEXT_APIS: tuple[str, ...] = (
    "crewhouse.platform.api",
    "crewhouse.tasks.api",
    "crewhouse.files.api",
    "crewhouse.notes.api",
    "crewhouse.chat.api",
    "crewhouse.mcp.api",
    "crewhouse.jobs.api",
    "crewhouse.bus.agents_api",
    "crewhouse.bus.messages_api",
    "crewhouse.bus.contexts_api",
    "crewhouse.bus.streams_api",
    "crewhouse.bus.a2a_api",
    "crewhouse.tool_registry.api",
    "crewhouse.providers.api",
    "crewhouse.crews.agents_api",
    "crewhouse.crews.api",
    "crewhouse.flows.flows_api",
    "crewhouse.flows.executions_api",
    "crewhouse.notifications.api",
    "crewhouse.notifications.webhooks_api",
)


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string", "description": "API Gateway's request id, as in the access and function logs"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "path": {"type": "string"}, "message": {"type": "string"}, "type": {"type": "string"}}}},
    },
    "additionalProperties": True,
}


def api_modules() -> list[str]:
    """The modules whose ``app`` the document merges: each entry of CONTEXT_APIS, a package as its modules."""
    found: list[str] = []
    for name in CONTEXT_APIS:
        module = importlib.import_module(name)
        if hasattr(module, "__path__"):
            found.extend(f"{name}.{info.name}" for info in sorted(pkgutil.iter_modules(module.__path__),
                                                                    key=lambda info: info.name))
        else:
            found.append(name)
    return found


@cache
def merged_openapi() -> dict[str, Any]:
    routes = []
    for module_name in api_modules():
        routes.extend(importlib.import_module(module_name).app.routes)
    document = get_openapi(
        title="Crewhouse API",
        version="1.0.0",
        description="Tasks, notes, files and agent jobs for people and their AI agents. "
        "Every route except /health needs a Cognito JWT: `Authorization: Bearer <id token>`. "
        "Errors are RFC 9457 application/problem+json.",
        routes=routes,
    )
    document["components"] = document.get("components", {})
    document["components"]["securitySchemes"] = {
        "cognito": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    document["security"] = [{"cognito": []}]
    document["components"].setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for operations in document["paths"].values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["422"] = {"description": "Invalid or missing fields (field paths in `errors`)", **problem}
            responses["4XX"] = {"description": "Any other client error, as RFC 9457 problem details", **problem}
    document["components"]["schemas"].pop("HTTPValidationError", None)
    document["components"]["schemas"].pop("ValidationError", None)
    return document


def write_openapi(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged_openapi(), indent=2, sort_keys=True) + "\n")
