"""Streams HTTP API (``/streams``): resumable multipart uploads of large context payloads straight to S3.

No ``from __future__ import annotations`` here: FastAPI reads every route's signature at import.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from crewhouse.bus.contexts_api import ContextOut, context_service
from crewhouse.bus.contexts_store import PayloadBucket
from crewhouse.bus.dependencies import Audit, BusTableDep, Caller, Settings
from crewhouse.bus.streams import DynamoStreams, StreamComplete, StreamService, StreamStart
from crewhouse.core.aws import aws_client
from crewhouse.core.etag import etag_for
from crewhouse.core.http import create_app, lambda_handler

router = APIRouter(tags=["streams"])


class PartUpload(BaseModel):
    number: int
    url: str
    size: int
    checksum_sha256: str
    headers: dict[str, str]


class ReceivedPart(BaseModel):
    number: int
    size: int
    etag: str


class StreamOut(BaseModel):
    stream_id: str
    upload_id: str
    status: str
    size: int
    sha256: str
    part_size: int
    context_id: str
    expires_at: str
    version: int | None = None
    failure: str | None = None
    parts_received: list[ReceivedPart]
    parts: list[PartUpload]
    part_urls_expire_in: int | None = None


def stream_service(table: BusTableDep, settings: Settings) -> StreamService:
    bucket = PayloadBucket(aws_client("s3", settings, signature_version="s3v4"), settings.bus_bucket)
    return StreamService(DynamoStreams(table), bucket, context_service(table, settings))


Service = Annotated[StreamService, Depends(stream_service)]


@router.post("/streams", status_code=201, response_model=StreamOut,
             summary="Start a large upload: presigned part URLs, each signed with its part's SHA-256")
def start_stream(body: StreamStart, caller: Caller, service: Service, audit: Audit) -> dict[str, Any]:
    view = service.start(caller, body)
    audit.record(caller, "stream.start", f"stream/{view['stream_id']}",
                 detail={"context_id": view["context_id"], "size": body.size})
    return view


@router.get("/streams/{stream_id}", response_model=StreamOut,
            summary="The parts S3 holds, and fresh URLs for the missing ones (resume)")
def get_stream(stream_id: str, caller: Caller, service: Service) -> dict[str, Any]:
    return service.status(caller, stream_id)


@router.post("/streams/{stream_id}/complete", response_model=ContextOut, response_model_exclude_unset=True,
             summary="Assemble the parts, verify the whole SHA-256 (409 on a mismatch), write the context",
             responses={201: {"description": "A new context"}, 200: {"description": "A new version"}})
def complete_stream(stream_id: str, caller: Caller, service: Service, audit: Audit, response: Response,
                    body: StreamComplete | None = None) -> dict[str, Any]:
    try:
        view, created = service.complete(caller, stream_id, body.parts if body else None)
    except Exception:
        audit.record(caller, "stream.complete", f"stream/{stream_id}", result="failed")
        raise
    audit.record(caller, "stream.complete", f"stream/{stream_id}", detail={"context_id": view["id"]})
    audit.record(caller, "context.create" if created else "context.update", f"context/{view['id']}",
                 detail={"version": view["version"], "stream_id": stream_id})
    response.status_code = 201 if created else 200
    response.headers["ETag"] = etag_for(int(view["version"]))
    return view


@router.delete("/streams/{stream_id}", status_code=204, summary="Abort an upload and free its parts")
def abort_stream(stream_id: str, caller: Caller, service: Service, audit: Audit) -> Response:
    service.abort(caller, stream_id)
    audit.record(caller, "stream.abort", f"stream/{stream_id}")
    return Response(status_code=204)


app = create_app("Crewhouse bus streams", [router])
handler = lambda_handler(app, __name__)
