"""Notes function for the note list: ``GET /notes``, a notebook's or all of them."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.http import create_app, lambda_handler
from crewhouse.core.pagination import Page, PageRequest, page_request
from crewhouse.notes.api import CurrentIdentity, OptionalId, Service, Settings, Tag
from crewhouse.notes.logic import NoteFilters
from crewhouse.notes.models.note import NoteSummary

router = APIRouter(tags=["notes"])


@router.get("/notes", response_model=Page[NoteSummary],
            summary="List notes: a notebook's pinned first then newest, or all notes newest first")
def list_notes(identity: CurrentIdentity, service: Service, settings: Settings,
               page: Annotated[PageRequest, Depends(page_request)],
               notebook_id: OptionalId = None,
               tag: Tag = None, favorite: bool | None = None, pinned: bool | None = None,
               archived: Annotated[bool, Query(description="Archived notes instead of the others")] = False,
               ) -> Page[NoteSummary]:
    filters = NoteFilters(notebook_id=notebook_id, tag=tag, favorite=favorite, pinned=pinned, archived=archived)
    scope = cursor_scope(identity, "notes", repr(filters))  # the repr, as when NoteFilters was a dataclass
    items, last = service.list_notes(identity, filters, page.limit, page_start(settings, page.cursor, scope))
    return Page[NoteSummary](items=items, next_cursor=page_next(settings, last, scope))


app = create_app("Crewhouse notes: list", [router])
handler = lambda_handler(app, __name__)
