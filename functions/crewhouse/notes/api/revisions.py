"""Notes function for a note's revisions: list, get one, restore one."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.http import create_app, lambda_handler
from crewhouse.core.pagination import Page, PageRequest, page_request
from crewhouse.notes.api import CurrentIdentity, IfMatch, NoteId, Service, Settings, tagged
from crewhouse.notes.models.note import Note
from crewhouse.notes.models.revisions import Revision, RevisionSummary

router = APIRouter(tags=["notes"])


@router.get("/notes/{note_id}/revisions", response_model=Page[RevisionSummary],
            summary="A note's revisions, newest first (the last 100 are kept)")
def list_revisions(note_id: NoteId, identity: CurrentIdentity, service: Service, settings: Settings,
                   page: Annotated[PageRequest, Depends(page_request)]) -> Page[RevisionSummary]:
    scope = cursor_scope(identity, "note-revisions", {"note": note_id})
    items, last = service.list_revisions(identity, note_id, page.limit, page_start(settings, page.cursor, scope))
    return Page[RevisionSummary](items=items, next_cursor=page_next(settings, last, scope))


@router.get("/notes/{note_id}/revisions/{revision}", response_model=Revision, summary="One revision of a note")
def get_revision(note_id: NoteId, revision: Annotated[int, Path(ge=1)], identity: CurrentIdentity,
                 service: Service) -> Revision:
    return service.get_revision(identity, note_id, revision)


@router.post("/notes/{note_id}/revisions/{revision}/restore", response_model=Note,
             summary="Make a revision current again (as a new revision)")
def restore_revision(note_id: NoteId, revision: Annotated[int, Path(ge=1)], identity: CurrentIdentity,
                     service: Service, response: Response, if_match: IfMatch = None) -> Note:
    note = service.restore_revision(identity, note_id, revision, if_match)
    tagged(response, note.version)
    return note


app = create_app("Crewhouse notes: revisions", [router])
handler = lambda_handler(app, __name__)
