"""Files function for managing files: delete, attach and detach, the tenant's quota and retention policies."""

from typing import Annotated

from fastapi import APIRouter, Path, Response

from crewhouse.core.errors import ValidationProblem
from crewhouse.core.etag import etag_for
from crewhouse.core.http import IfMatch, create_app, lambda_handler
from crewhouse.files.api import CurrentIdentity, FileId, Retention, Service
from crewhouse.files.models.attachments import AttachRequest
from crewhouse.files.models.file import File, TargetKind
from crewhouse.files.models.quota import QuotaPolicy
from crewhouse.files.models.retention import RetentionPolicy, RetentionPolicyUpdate

router = APIRouter(tags=["files"])


@router.put("/files/quota/policy", response_model=QuotaPolicy,
            summary="Set the tenant's per-user storage limit (tenant admins)")
def put_quota_policy(body: QuotaPolicy, identity: CurrentIdentity, service: Service) -> QuotaPolicy:
    return service.set_quota_policy(identity, body)


@router.put("/files/retention", response_model=RetentionPolicy,
            summary="Set the tenant's file-retention policy (tenant admins; If-Match: its ETag, 412 when stale)")
def put_retention(body: RetentionPolicyUpdate, identity: CurrentIdentity, retention: Retention, response: Response,
                  if_match: IfMatch = None) -> RetentionPolicy:
    policy = retention.set_policy(identity, body.enabled, body.days, if_match)
    response.headers["ETag"] = etag_for(policy.version)
    return RetentionPolicy.of(policy)


@router.delete("/files/{file_id}", status_code=204, summary="Delete a file (and its attachments)")
def delete_file(file_id: FileId, identity: CurrentIdentity, service: Service) -> Response:
    service.delete(identity, file_id)
    return Response(status_code=204)


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


app = create_app("Crewhouse files: manage", [router])
handler = lambda_handler(app, __name__)
