"""Files function for the parts of a multipart upload: presigned URLs, and what S3 holds (to resume)."""

from fastapi import APIRouter

from crewhouse.core.http import create_app, lambda_handler
from crewhouse.files.api import CurrentIdentity, FileId, Service
from crewhouse.files.models.parts import PartsRequest, PartUrls, UploadedParts

router = APIRouter(tags=["files"])


@router.post("/files/{file_id}/parts", response_model=PartUrls,
             summary="Presigned URLs for parts of a multipart upload (each signed with the part's SHA-256)")
def part_urls(file_id: FileId, body: PartsRequest, identity: CurrentIdentity, service: Service) -> PartUrls:
    return service.part_urls(identity, file_id, body)


@router.get("/files/{file_id}/parts", response_model=UploadedParts,
            summary="The parts S3 holds of an unfinished upload (to resume after an interruption)")
def uploaded_parts(file_id: FileId, identity: CurrentIdentity, service: Service) -> UploadedParts:
    return service.uploaded_parts(identity, file_id)


app = create_app("Crewhouse files: parts", [router])
handler = lambda_handler(app, __name__)
