"""Contexts HTTP API (``/contexts``): versioned shared payloads of a tenant's agents, with a long poll on changes.

No ``from __future__ import annotations`` here: FastAPI reads every route's signature at import.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from crewhouse.bus.contexts import (
    EVENT_SOURCE,
    LONG_POLL_SECONDS,
    ContextCreate,
    ContextService,
    ContextUpdate,
    content_of,
)
from crewhouse.bus.contexts_store import BusEvents, DynamoContexts, PayloadBucket
from crewhouse.bus.dependencies import Audit, BusTableDep, Caller, Settings
from crewhouse.core.aws import aws_client
from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.http import IfMatch, PageParams, create_app, lambda_handler, with_etag

router = APIRouter(tags=["contexts"])
WAIT_HEADER = "X-Bus-Wait"


class ContextOut(BaseModel):
    id: str
    name: str
    scope: str
    members: list[str]
    tags: list[str]
    content_type: str
    sha256: str
    size: int
    version: int
    owner: str
    created_at: str
    updated_at: str
    expires_at: str | None = None
    storage: str
    payload: Any = None
    payload_base64: str | None = None
    download_url: str | None = None


class ContextPage(BaseModel):
    items: list[ContextOut]
    next_cursor: str | None = None


class VersionOut(BaseModel):
    version: int
    sha256: str
    size: int
    content_type: str
    storage: str
    updated_at: str
    updated_by: str | None = None
    expires_at: str | None = None


class VersionPage(BaseModel):
    items: list[VersionOut]
    next_cursor: str | None = None


class DownloadOut(BaseModel):
    url: str
    expires_in: int
    version: int
    size: int
    sha256: str
    content_type: str


def context_service(table: BusTableDep, settings: Settings) -> ContextService:
    payloads = PayloadBucket(aws_client("s3", settings, signature_version="s3v4"), settings.bus_bucket)
    events = BusEvents(aws_client("events", settings), settings.event_bus_name, EVENT_SOURCE)
    return ContextService(DynamoContexts(table), payloads, events)


Service = Annotated[ContextService, Depends(context_service)]


@router.post("/contexts", status_code=201, response_model=ContextOut, response_model_exclude_unset=True,
             summary="Share a context (version 1); payloads over 256 KiB are kept in S3")
def create_context(body: ContextCreate, caller: Caller, service: Service, audit: Audit,
                   response: Response) -> dict[str, Any]:
    view = service.create(caller, body, content_of(body))
    audit.record(caller, "context.create", f"context/{view['id']}", detail={"version": 1, "scope": view["scope"]})
    response.headers["Location"] = f"/contexts/{view['id']}"
    return with_etag(response, view)


@router.get("/contexts", response_model=ContextPage, response_model_exclude_unset=True,
            summary="The contexts the caller may see, by name (then id)")
def list_contexts(caller: Caller, service: Service, settings: Settings, page: PageParams,
                  name: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
                  tag: Annotated[str | None, Query(min_length=1, max_length=64)] = None) -> dict[str, Any]:
    scope = cursor_scope(caller, "contexts", {"name": name, "tag": tag})
    items, last = service.page(caller, name=name, tag=tag, limit=page.limit,
                               start=page_start(settings, page.cursor, scope))
    return {"items": items, "next_cursor": page_next(settings, last, scope)}


@router.get("/contexts/{context_id}", response_model=ContextOut, response_model_exclude_unset=True,
            summary="A context's current version, an older one (?version=N), or the next (?wait_version=N)")
def get_context(context_id: str, caller: Caller, service: Service, response: Response,
                version: Annotated[int | None, Query(ge=1)] = None,
                wait_version: Annotated[int | None, Query(ge=1, description="Answer once this version exists")] = None,
                wait_seconds: Annotated[float, Query(ge=0, le=LONG_POLL_SECONDS)] = LONG_POLL_SECONDS
                ) -> dict[str, Any]:
    if wait_version is None:
        return with_etag(response, service.read(caller, context_id, version))
    view, arrived = service.wait(caller, context_id, wait_version, wait_seconds)
    if not arrived:
        response.headers[WAIT_HEADER] = "timeout"
    return with_etag(response, view)


@router.put("/contexts/{context_id}", response_model=ContextOut, response_model_exclude_unset=True,
            summary="Write a new version (If-Match: the version it replaces; 412 when stale)")
def update_context(context_id: str, body: ContextUpdate, caller: Caller, service: Service, audit: Audit,
                   response: Response, if_match: IfMatch = None) -> dict[str, Any]:
    view = service.update(caller, context_id, body, content_of(body), if_match)
    audit.record(caller, "context.update", f"context/{context_id}", detail={"version": view["version"]})
    return with_etag(response, view)


@router.delete("/contexts/{context_id}", status_code=204, summary="Delete a context and every version (owner, admin)")
def delete_context(context_id: str, caller: Caller, service: Service, audit: Audit,
                   if_match: IfMatch = None) -> Response:
    deleted = service.delete(caller, context_id, if_match)
    audit.record(caller, "context.delete", f"context/{context_id}", detail={"version": deleted["version"]})
    return Response(status_code=204)


@router.get("/contexts/{context_id}/versions", response_model=VersionPage, response_model_exclude_unset=True,
            summary="A context's versions, newest first")
def list_versions(context_id: str, caller: Caller, service: Service, settings: Settings,
                  page: PageParams) -> dict[str, Any]:
    scope = cursor_scope(caller, f"contexts/{context_id}/versions")
    items, last = service.versions(caller, context_id, limit=page.limit,
                                   start=page_start(settings, page.cursor, scope))
    return {"items": items, "next_cursor": page_next(settings, last, scope)}


@router.get("/contexts/{context_id}/download", response_model=DownloadOut,
            summary="A presigned GET (15 min, Range allowed) for a payload held in S3")
def download_context(context_id: str, caller: Caller, service: Service, response: Response,
                     version: Annotated[int | None, Query(ge=1)] = None) -> dict[str, Any]:
    return with_etag(response, service.download(caller, context_id, version))


app = create_app("Crewhouse bus contexts", [router])
handler = lambda_handler(app, __name__)
