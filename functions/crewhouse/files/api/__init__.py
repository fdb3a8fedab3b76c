"""The files HTTP API (``/files``), served by several Lambda functions. Bytes never pass through them, only
presigned S3 URLs do.

Each module of this package is one function's handler: a FastAPI app with only its routes, importing only
the models and helpers those routes need. FastAPI builds every route's parameter and response fields when
the module is imported, so a function that serves fewer routes starts faster. API Gateway sends each method
and path to its function (``cdk/crewhouse_cdk/constructs/files.py``); ``crewhouse.openapi`` merges them.

===========  ======================================================================================
module       routes
===========  ======================================================================================
``reads``    ``GET /files``, ``GET /files/quota``, ``GET /files/{file_id}``,
             ``GET /files/{file_id}/download``, ``GET /files/{file_id}/thumbnail``,
             ``GET /files/retention``, ``GET /files/retention/preview``
``uploads``  ``POST /files``, ``POST /files/{file_id}/complete``, ``POST /files/{file_id}/abort``
``parts``    ``POST`` and ``GET /files/{file_id}/parts``
``manage``   ``PUT /files/quota/policy``, ``PUT /files/retention``, ``DELETE /files/{file_id}``,
             ``POST /files/{file_id}/attachments``, ``DELETE /files/{file_id}/attachments/{kind}/{target_id}``
===========  ======================================================================================

This package module holds what they share: the request dependencies and the redirect answer.
"""

from typing import Annotated, Any

from fastapi import Depends, Path, Response

from crewhouse.core.http import current_identity
from crewhouse.core.identity import Identity
from crewhouse.core.settings import load_settings
from crewhouse.files.logic import FileService
from crewhouse.files.retention import Retention as RetentionService
from crewhouse.files.settings import FilesSettings
from crewhouse.files.wiring import retention_for, service_for

CurrentIdentity = Annotated[Identity, Depends(current_identity)]
FileId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]
REDIRECT: dict[int | str, dict[str, Any]] = {
    302: {"description": "Redirect to a presigned S3 URL (expires in 5 minutes)"}}


def files_settings() -> FilesSettings:
    return load_settings(FilesSettings)


Settings = Annotated[FilesSettings, Depends(files_settings)]


def file_service(settings: Settings) -> FileService:
    return service_for(settings)


Service = Annotated[FileService, Depends(file_service)]


def retention_service(settings: Settings) -> RetentionService:
    return retention_for(settings)


Retention = Annotated[RetentionService, Depends(retention_service)]



def redirect(url: str) -> Response:
    return Response(status_code=302, headers={"Location": url, "Cache-Control": "no-store"})
