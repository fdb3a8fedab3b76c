"""Notes function for reading: search, recent, trash, one note."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from crewhouse.core.aws import aws_client
from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.etag import etag_for
from crewhouse.core.http import create_app, lambda_handler
from crewhouse.core.pagination import Page, PageRequest, page_request
from crewhouse.notes.api import HTML_HEADERS, CurrentIdentity, NoteId, OptionalId, Service, Settings, Tag, tagged
from crewhouse.notes.models.note import Note, NoteSummary

router = APIRouter(tags=["notes"])


@router.get("/notes/search", response_model=Page[NoteSummary], summary="Search notes by relevance")
def search_notes(identity: CurrentIdentity, service: Service, settings: Settings,
                 q: Annotated[str, Query(min_length=1, max_length=200)],
                 limit: Annotated[int, Query(ge=1, le=100)] = 20,
                 notebook_id: OptionalId = None,
                 tag: Tag = None, favorite: bool | None = None, archived: bool = False,
                 updated_from: datetime | None = None, updated_to: datetime | None = None) -> Page[NoteSummary]:
    from crewhouse.notes.searching import SearchFilters
    from crewhouse.notes.searching import search_notes as run_search
    from crewhouse.search.index import DynamoSearchIndex

    index = DynamoSearchIndex(aws_client("dynamodb", settings), settings.search_table)
    filters = SearchFilters(notebook_id=notebook_id, tag=tag, favorite=favorite, archived=archived,
                            updated_from=updated_from, updated_to=updated_to)
    return Page[NoteSummary](items=run_search(service, index, identity, q, limit, filters), next_cursor=None)


@router.get("/notes/recent", response_model=Page[NoteSummary], summary="Recently updated notes, newest first")
def recent_notes(identity: CurrentIdentity, service: Service, settings: Settings,
                 page: Annotated[PageRequest, Depends(page_request)],
                 since: datetime | None = None) -> Page[NoteSummary]:
    scope = cursor_scope(identity, "notes-recent", {"since": since})
    items, last = service.recent(identity, page.limit, page_start(settings, page.cursor, scope), since)
    return Page[NoteSummary](items=items, next_cursor=page_next(settings, last, scope))


@router.get("/notes/trash", response_model=Page[NoteSummary],
            summary="Notes in the trash, most recently trashed first (restorable until purge_at)")
def trashed_notes(identity: CurrentIdentity, service: Service, settings: Settings,
                  page: Annotated[PageRequest, Depends(page_request)]) -> Page[NoteSummary]:
    scope = cursor_scope(identity, "notes-trash")
    items, last = service.list_trash(identity, page.limit, page_start(settings, page.cursor, scope))
    return Page[NoteSummary](items=items, next_cursor=page_next(settings, last, scope))


@router.get("/notes/{note_id}", response_model=Note,
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                             "description": "The note (JSON), or with ?format=html its body as sanitized HTML"}},
            summary="Get a note (?format=html: the body rendered to sanitized HTML)")
def get_note(note_id: NoteId, identity: CurrentIdentity, service: Service, response: Response,
             format: Literal["json", "html"] = "json") -> Any:
    note = service.get(identity, note_id)
    if format == "html":
        from fastapi.responses import HTMLResponse

        from crewhouse.notes.rendering import render_html

        return HTMLResponse(render_html(note.body), headers={**HTML_HEADERS, "ETag": etag_for(note.version)})
    tagged(response, note.version)
    return note


app = create_app("Crewhouse notes: reads", [router])
handler = lambda_handler(app, __name__)
