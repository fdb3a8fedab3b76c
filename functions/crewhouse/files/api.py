"""Files HTTP API (``/files``): bytes never pass through here, only presigned S3 URLs do."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from crewhouse.core.aws import aws_client
from crewhouse.core.cursors import cursor_key, decode_cursor, encode_cursor
from crewhouse.core.errors import ValidationProblem
from crewhouse.core.http import create_app, current_identity, lambda_handler
from crewhouse.core.idempotency import run_idempotent
from crewhouse.core.identity import Identity
from crewhouse.core.pagination import Page, PageRequest, page_request
from crewhouse.core.settings import load_settings
from crewhouse.files.models import (
    AttachRequest,
    CompleteRequest,
    File,
    FileCreate,
    FileCreated,
    PartsRequest,
    PartUrls,
    Quota,
    QuotaPolicy,
    Status,
    TargetKind,
    UploadedParts,
)
from crewhouse.files.settings import FilesSettings

if TYPE_CHECKING:
    from crewhouse.files.logic import FileService

router = APIRouter(tags=["files"])
CurrentIdentity = Annotated[Identity, Depends(current_identity)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
FileId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]
REDIRECT: dict[int | str, dict[str, Any]] = {
    302: {"description": "Redirect to a presigned S3 URL (expires in 5 minutes)"}}


def files_settings() -> FilesSettings:
    return load_settings(FilesSettings)


Settings = Annotated[FilesSettings, Depends(files_settings)]


def file_service(settings: Settings) -> FileService:
    from crewhouse.files.logic import FileService  # ulid and the rules load on the first request, not at import
    from crewhouse.files.store import DynamoFileStore, S3Objects, target_tables

    store = DynamoFileStore(aws_client("dynamodb", settings), settings.files_table,
                            target_tables(settings.tasks_table, settings.notes_table))
    objects = S3Objects(aws_client("s3", settings, signature_version="s3v4"), settings.files_bucket)
    return FileService(store, objects, settings)


Service = Annotated[Any, Depends(file_service)]  # a FileService


def _scope(identity: Identity, filters: Any) -> str:
    digest = hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{identity.tenant_id}/{identity.user_id}/files/{digest}"


def _redirect(url: str) -> Response:
    return Response(status_code=302, headers={"Location": url, "Cache-Control": "no-store"})


@router.post("/files", status_code=201, response_model=FileCreated,
             summary="Reserve quota for a file and get where to upload it (413 over quota, before any byte)")
def create_file(body: FileCreate, identity: CurrentIdentity, service: Service, settings: Settings, request: Request,
                response: Response, idempotency_key: IdempotencyKey = None) -> FileCreated:
    result = run_idempotent(settings, identity, "create-file", idempotency_key, body.model_dump(mode="json"),
                            lambda: service.create(identity, body).model_dump(mode="json"),
                            request.scope.get("aws.context"))
    created = FileCreated.model_validate(result)
    response.headers["Location"] = f"/files/{created.id}"
    return created


@router.get("/files", response_model=Page[File], summary="List files, newest first")
def list_files(identity: CurrentIdentity, service: Service, settings: Settings,
               page: Annotated[PageRequest, Depends(page_request)],
               status: Status | None = None,
               content_type: Annotated[str | None, Query(max_length=255, description="A prefix, e.g. image/")] = None,
               attached_to: Annotated[str | None, Query(pattern=r"^(task|note):[0-9A-Za-z_-]{1,64}$",
                                                        description="task:<id> or note:<id>")] = None) -> Page[File]:
    target = tuple(attached_to.split(":", 1)) if attached_to else None
    from crewhouse.files.logic import ListFilters

    filters = ListFilters(status=status, content_type=content_type.lower() if content_type else None,
                                attached_to=target)  # type: ignore[arg-type]
    scope = _scope(identity, filters)
    start = decode_cursor(page.cursor, key=cursor_key(settings), scope=scope) if page.cursor else None
    items, last = service.list_files(identity, filters, page.limit, start)
    return Page[File](items=items, next_cursor=encode_cursor(last, key=cursor_key(settings), scope=scope)
                      if last else None)


@router.get("/files/quota", response_model=Quota, summary="Your storage: used, reserved by uploads, and the limit")
def get_quota(identity: CurrentIdentity, service: Service) -> Quota:
    return service.quota(identity)


@router.put("/files/quota/policy", response_model=QuotaPolicy,
            summary="Set the tenant's per-user storage limit (tenant admins)")
def put_quota_policy(body: QuotaPolicy, identity: CurrentIdentity, service: Service) -> QuotaPolicy:
    return service.set_quota_policy(identity, body)


@router.get("/files/{file_id}", response_model=File, summary="A file: status, checks, OCR text, attachments")
def get_file(file_id: FileId, identity: CurrentIdentity, service: Service) -> File:
    return service.get(identity, file_id)


@router.delete("/files/{file_id}", status_code=204, summary="Delete a file (and its attachments)")
def delete_file(file_id: FileId, identity: CurrentIdentity, service: Service) -> Response:
    service.delete(identity, file_id)
    return Response(status_code=204)


@router.post("/files/{file_id}/parts", response_model=PartUrls,
             summary="Presigned URLs for parts of a multipart upload (each signed with the part's SHA-256)")
def part_urls(file_id: FileId, body: PartsRequest, identity: CurrentIdentity, service: Service) -> PartUrls:
    return service.part_urls(identity, file_id, body)


@router.get("/files/{file_id}/parts", response_model=UploadedParts,
            summary="The parts S3 holds of an unfinished upload (to resume after an interruption)")
def uploaded_parts(file_id: FileId, identity: CurrentIdentity, service: Service) -> UploadedParts:
    return service.uploaded_parts(identity, file_id)


@router.post("/files/{file_id}/complete", response_model=File,
             summary="Assemble a multipart upload after checking every part (409 if they do not match)")
def complete_upload(file_id: FileId, body: CompleteRequest, identity: CurrentIdentity, service: Service) -> File:
    return service.complete(identity, file_id, body)


@router.post("/files/{file_id}/abort", status_code=204, summary="Abandon a multipart upload and release its quota")
def abort_upload(file_id: FileId, identity: CurrentIdentity, service: Service) -> Response:
    service.abort(identity, file_id)
    return Response(status_code=204)


@router.get("/files/{file_id}/download", status_code=302, response_class=Response, responses=REDIRECT,
            summary="Download: 302 to a presigned URL (404 unless the file is available)")
def download(file_id: FileId, identity: CurrentIdentity, service: Service) -> Response:
    return _redirect(service.download_url(identity, file_id))


@router.get("/files/{file_id}/thumbnail", status_code=302, response_class=Response, responses=REDIRECT,
            summary="The 256 px PNG thumbnail of an image: 302 to a presigned URL")
def thumbnail(file_id: FileId, identity: CurrentIdentity, service: Service) -> Response:
    return _redirect(service.thumbnail_url(identity, file_id))


@router.post("/files/{file_id}/attachments", response_model=File, summary="Attach the file to a task or note")
def attach(file_id: FileId, body: AttachRequest, identity: CurrentIdentity, service: Service) -> File:
    return service.attach(identity, file_id, body.kind, body.id)


@router.delete("/files/{file_id}/attachments/{kind}/{target_id}", response_model=File,
               summary="Detach the file from a task or note")
def detach(file_id: FileId, kind: TargetKind, target_id: Annotated[str, Path(max_length=64)],
           identity: CurrentIdentity, service: Service) -> File:
    if not target_id.replace("-", "").replace("_", "").isalnum():
        raise ValidationProblem("Invalid target id.")
    return service.detach(identity, file_id, kind, target_id)


app = create_app("Crewhouse files", [router])
handler = lambda_handler(app)
