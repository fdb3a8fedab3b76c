"""The notes HTTP API (``/notebooks``, ``/notes``), served by several Lambda functions.

Each module of this package is one function's handler: a FastAPI app with only its routes, importing only
the models and helpers those routes need. FastAPI builds every route's parameter and response fields when
the module is imported, so a function that serves fewer routes starts faster. API Gateway sends each method
and path to its function (``cdk/crewhouse_cdk/constructs/notes.py``); ``crewhouse.openapi`` merges them.

=============  ===================================================================================
module         routes
=============  ===================================================================================
``notebooks``  ``/notebooks`` and ``/notebooks/{notebook_id}``
``listing``    ``GET /notes``
``reads``      ``GET /notes/search|recent|trash``, ``GET /notes/{note_id}``
``writes``     ``POST /notes``, ``PATCH`` and ``DELETE /notes/{note_id}``, ``POST /notes/{note_id}/restore``
``checklist``  ``/notes/{note_id}/checklist`` and ``/notes/{note_id}/checklist/{item_id}...``
``revisions``  ``/notes/{note_id}/revisions...``
``capture``    ``POST /notes/clip``, ``POST /notes/{note_id}/tasks``
=============  ===================================================================================

This package module holds what they share: the request dependencies, ETags and cursor scopes.
"""

from typing import Annotated

from fastapi import Depends, Header, Response

from crewhouse.core.etag import etag_for
from crewhouse.core.http import current_identity
from crewhouse.core.identity import Identity
from crewhouse.core.settings import load_settings
from crewhouse.notes.logic import NoteService
from crewhouse.notes.settings import NotesSettings
from crewhouse.notes.wiring import service_for

CurrentIdentity = Annotated[Identity, Depends(current_identity)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]  # length checked by run_idempotent
IfMatch = Annotated[str | None, Header(alias="If-Match")]
# Ids are not constrained here (per-parameter constraints are a large part of a route's import cost): an id
# that cannot be one of ours is refused as 404 where it would become a key (crewhouse.notes.keys).
NoteId = str
ItemId = str
Tag = str | None
OptionalId = str | None
HTML_HEADERS = {"Content-Security-Policy": "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'",
                "X-Content-Type-Options": "nosniff"}


def notes_settings() -> NotesSettings:
    return load_settings(NotesSettings)


Settings = Annotated[NotesSettings, Depends(notes_settings)]


def note_service(settings: Settings) -> NoteService:
    return service_for(settings)


Service = Annotated[NoteService, Depends(note_service)]


def tagged(response: Response, version: int) -> None:
    response.headers["ETag"] = etag_for(version)



