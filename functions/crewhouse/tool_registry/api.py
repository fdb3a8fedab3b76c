"""Tool registry HTTP API (``/tools``): CRUD with If-Match, the builtin catalog, and dry runs.

``GET /tools/builtin`` lists Crewhouse's own tools without registering them (their ids, ``builtin:<name>``, work
with the runtime directly); ``GET /tools?kind=builtin`` lists only the builtin tools the tenant registered.

No ``from __future__ import annotations`` here: FastAPI reads every route's signature at import.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

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
from crewhouse.core.settings import load_settings
from crewhouse.tool_registry.logic import ToolService, secret_fingerprint
from crewhouse.tool_registry.models import (
    BuiltinToolPage,
    Kind,
    ToolCreate,
    ToolOut,
    ToolPage,
    ToolUpdate,
    ValidateOut,
    ValidateRequest,
)
from crewhouse.tool_registry.settings import ToolRegistrySettings
from crewhouse.tool_registry.wiring import service_for

router = APIRouter(tags=["tools"])


def registry_settings() -> ToolRegistrySettings:
    return load_settings(ToolRegistrySettings)


def tool_service(settings: Annotated[ToolRegistrySettings, Depends(registry_settings)]) -> ToolService:
    return service_for(settings)


Settings = Annotated[ToolRegistrySettings, Depends(registry_settings)]
Service = Annotated[ToolService, Depends(tool_service)]


@router.post("/tools", status_code=201, response_model=ToolOut,
             summary="Register a tool (schemas and config checked; every problem listed); its secret is write-only")
def create_tool(body: ToolCreate, identity: Writer, service: Service, settings: Settings, request: Request,
                response: Response, idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    view = run_idempotent(settings, identity, "tools.create", idempotency_key, secret_fingerprint(body),
                          lambda: service.create(identity, body), request.scope.get("aws.context"))
    response.headers["Location"] = f"/tools/{view['id']}"
    return with_etag(response, view)


@router.get("/tools", response_model=ToolPage, summary="The tenant's tools, by kind then name")
def list_tools(identity: Reader, service: Service, settings: Settings, page: PageParams,
               kind: Annotated[Kind | None, Query(description="Only tools of this kind")] = None) -> dict[str, Any]:
    scope = cursor_scope(identity, "tools", {"kind": kind})
    items, last = service.page(identity, kind=kind, limit=page.limit, start=page_start(settings, page.cursor, scope))
    return {"items": items, "next_cursor": page_next(settings, last, scope)}


@router.get("/tools/builtin", response_model=BuiltinToolPage,
            summary="Crewhouse's own tools (tasks, notes, files, jobs), usable as builtin:<name> without registering")
def list_builtin_tools(identity: Reader, service: Service) -> dict[str, Any]:
    return {"items": service.builtin_catalog(), "next_cursor": None}


@router.get("/tools/{tool_id}", response_model=ToolOut, summary="A tool (never its secret)")
def get_tool(tool_id: str, identity: Reader, service: Service, response: Response) -> dict[str, Any]:
    return with_etag(response, service.read(identity, tool_id))


@router.put("/tools/{tool_id}", response_model=ToolOut,
            summary="Change a tool (If-Match: its version; 412 when stale); a given secret replaces the old one")
def update_tool(tool_id: str, body: ToolUpdate, identity: Writer, service: Service, response: Response,
                if_match: IfMatch = None) -> dict[str, Any]:
    return with_etag(response, service.update(identity, tool_id, body, if_match))


@router.delete("/tools/{tool_id}", status_code=204, summary="Delete a tool and its secret (If-Match honoured)")
def delete_tool(tool_id: str, identity: Writer, service: Service, if_match: IfMatch = None) -> Response:
    service.delete(identity, tool_id, if_match)
    return Response(status_code=204)


@router.post("/tools/{tool_id}/validate", response_model=ValidateOut,
             summary="Check the schemas and dry-run the tool with a sample (or generated minimal) input")
def validate_tool(tool_id: str, identity: Writer, service: Service,
                  body: ValidateRequest | None = None) -> dict[str, Any]:
    return service.validate(identity, tool_id, body.input if body is not None else None)


app = create_app("Crewhouse tool registry", [router])
handler = lambda_handler(app, __name__)
