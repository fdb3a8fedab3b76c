"""Files function for uploads: reserve a file and its quota, then complete or abort the upload."""

from fastapi import APIRouter, Request, Response

from crewhouse.core.http import IdempotencyKey, create_app, lambda_handler
from crewhouse.core.idempotency import run_idempotent
from crewhouse.files.api import CurrentIdentity, FileId, Service, Settings
from crewhouse.files.models.file import File
from crewhouse.files.models.uploads import CompleteRequest, FileCreate, FileCreated

router = APIRouter(tags=["files"])


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


@router.post("/files/{file_id}/complete", response_model=File,
             summary="Assemble a multipart upload after checking every part (409 if they do not match)")
def complete_upload(file_id: FileId, body: CompleteRequest, identity: CurrentIdentity, service: Service) -> File:
    return service.complete(identity, file_id, body)


@router.post("/files/{file_id}/abort", status_code=204, summary="Abandon a multipart upload and release its quota")
def abort_upload(file_id: FileId, identity: CurrentIdentity, service: Service) -> Response:
    service.abort(identity, file_id)
    return Response(status_code=204)


app = create_app("Crewhouse files: uploads", [router])
handler = lambda_handler(app, __name__)
