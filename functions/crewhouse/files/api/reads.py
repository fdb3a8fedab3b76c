"""Files function for reading: list, one file, quota, download and thumbnail redirects, the tenant's
retention policy and its preview."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.etag import etag_for
from crewhouse.core.http import create_app, lambda_handler
from crewhouse.core.pagination import Page, PageRequest, page_request
from crewhouse.files.api import REDIRECT, CurrentIdentity, FileId, Retention, Service, Settings, redirect
from crewhouse.files.logic import ListFilters
from crewhouse.files.models.file import File, Status
from crewhouse.files.models.quota import Quota
from crewhouse.files.models.retention import RetentionPolicy, RetentionPreview
from crewhouse.files.retention import MAX_DAYS, MIN_DAYS

router = APIRouter(tags=["files"])


@router.get("/files", response_model=Page[File], summary="List files, newest first")
def list_files(identity: CurrentIdentity, service: Service, settings: Settings,
               page: Annotated[PageRequest, Depends(page_request)],
               status: Status | None = None,
               content_type: Annotated[str | None, Query(max_length=255, description="A prefix, e.g. image/")] = None,
               attached_to: Annotated[str | None, Query(pattern=r"^(task|note):[0-9A-Za-z_-]{1,64}$",
                                                        description="task:<id> or note:<id>")] = None) -> Page[File]:
    target = tuple(attached_to.split(":", 1)) if attached_to else None
    filters = ListFilters(status=status, content_type=content_type.lower() if content_type else None,
                          attached_to=target)  # type: ignore[arg-type]
    scope = cursor_scope(identity, "files", repr(filters))  # the repr, as when ListFilters was a dataclass
    items, last = service.list_files(identity, filters, page.limit, page_start(settings, page.cursor, scope))
    return Page[File](items=items, next_cursor=page_next(settings, last, scope))


@router.get("/files/quota", response_model=Quota, summary="Your storage: used, reserved by uploads, and the limit")
def get_quota(identity: CurrentIdentity, service: Service) -> Quota:
    return service.quota(identity)


@router.get("/files/retention", response_model=RetentionPolicy,
            summary="The tenant's file-retention policy: files not opened for N days are deleted (ETag: its version)")
def get_retention(identity: CurrentIdentity, retention: Retention, response: Response) -> RetentionPolicy:
    policy = retention.policy(identity.tenant_id)
    response.headers["ETag"] = etag_for(policy.version)
    return RetentionPolicy.of(policy)


@router.get("/files/retention/preview", response_model=RetentionPreview,
            summary="What the next retention sweep would delete, and the files in the 7-day warning window "
                    "(the tenant's for admins, one's own for others), longest unopened first")
def preview_retention(identity: CurrentIdentity, retention: Retention, settings: Settings,
                      page: Annotated[PageRequest, Depends(page_request)],
                      days: Annotated[int | None, Query(ge=MIN_DAYS, le=MAX_DAYS,
                                                        description="Preview another number of days")] = None,
                      ) -> RetentionPreview:
    scope = cursor_scope(identity, "files-retention", {"days": days, "role": identity.role})
    found: dict[str, Any] = retention.preview(identity, days, page.limit, page_start(settings, page.cursor, scope))
    return RetentionPreview.model_validate({**found, "next_cursor": page_next(settings, found.pop("last"), scope)})


@router.get("/files/{file_id}", response_model=File, summary="A file: status, checks, OCR text, attachments")
def get_file(file_id: FileId, identity: CurrentIdentity, service: Service) -> File:
    return service.read(identity, file_id)


@router.get("/files/{file_id}/download", status_code=302, response_class=Response, responses=REDIRECT,
            summary="Download: 302 to a presigned URL (404 unless the file is available)")
def download(file_id: FileId, identity: CurrentIdentity, service: Service) -> Response:
    return redirect(service.download_url(identity, file_id))


@router.get("/files/{file_id}/thumbnail", status_code=302, response_class=Response, responses=REDIRECT,
            summary="The 256 px PNG thumbnail of an image: 302 to a presigned URL")
def thumbnail(file_id: FileId, identity: CurrentIdentity, service: Service) -> Response:
    return redirect(service.thumbnail_url(identity, file_id))


app = create_app("Crewhouse files: reads", [router])
handler = lambda_handler(app, __name__)
