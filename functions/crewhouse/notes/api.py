"""Notes HTTP API (``/notebooks``, ``/notes``): parse, call the service, shape the response."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from crewhouse.core.aws import aws_client
from crewhouse.core.cursors import cursor_key, decode_cursor, encode_cursor
from crewhouse.core.etag import etag_for
from crewhouse.core.http import create_app, current_identity, lambda_handler
from crewhouse.core.idempotency import run_idempotent
from crewhouse.core.identity import Identity
from crewhouse.core.pagination import Page, PageRequest, page_request
from crewhouse.core.settings import load_settings
from crewhouse.notes import logic
from crewhouse.notes.models import (
    ChecklistAdd,
    ChecklistItemPatch,
    ChecklistMove,
    ClipRequest,
    Note,
    Notebook,
    NotebookCreate,
    NotebookPatch,
    NoteCreate,
    NotePatch,
    NoteSummary,
    NoteTasksRequest,
    NoteTasksResult,
    Revision,
    RevisionSummary,
)
from crewhouse.notes.settings import NotesSettings
from crewhouse.notes.store import DynamoNoteStore, S3Bodies

router = APIRouter(tags=["notes"])
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


def note_service(settings: Settings) -> logic.NoteService:
    return logic.NoteService(DynamoNoteStore(aws_client("dynamodb", settings), settings.notes_table),
                             S3Bodies(aws_client("s3", settings), settings.files_bucket))


Service = Annotated[logic.NoteService, Depends(note_service)]


def _tagged(response: Response, version: int) -> None:
    response.headers["ETag"] = etag_for(version)


def _cursor_scope(identity: Identity, name: str, filters: Any = None) -> str:
    digest = hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{identity.tenant_id}/{identity.user_id}/{name}/{digest}"


def _start(settings: NotesSettings, page: PageRequest, scope: str) -> dict[str, Any] | None:
    return decode_cursor(page.cursor, key=cursor_key(settings), scope=scope) if page.cursor else None


def _next(settings: NotesSettings, last: dict[str, Any] | None, scope: str) -> str | None:
    return encode_cursor(last, key=cursor_key(settings), scope=scope) if last else None


# --- notebooks ------------------------------------------------------------------------------------------


@router.post("/notebooks", status_code=201, response_model=Notebook, tags=["notebooks"],
             summary="Create a notebook (nested at most 5 levels)")
def create_notebook(body: NotebookCreate, identity: CurrentIdentity, service: Service, settings: Settings,
                    request: Request, response: Response, idempotency_key: IdempotencyKey = None) -> Notebook:
    result = run_idempotent(settings, identity, "create-notebook", idempotency_key, body.model_dump(mode="json"),
                            lambda: service.create_notebook(identity, body).model_dump(mode="json"),
                            request.scope.get("aws.context"))
    notebook = Notebook.model_validate(result)
    response.headers["Location"] = f"/notebooks/{notebook.id}"
    _tagged(response, notebook.version)
    return notebook


@router.get("/notebooks", response_model=Page[Notebook], tags=["notebooks"],
            summary="List notebooks (all, or the children of one, or the top level)")
def list_notebooks(identity: CurrentIdentity, service: Service, settings: Settings,
                   page: Annotated[PageRequest, Depends(page_request)],
                   parent_id: OptionalId = None,
                   top_level: bool = False) -> Page[Notebook]:
    scope = _cursor_scope(identity, "notebooks", {"parent_id": parent_id, "top_level": top_level})
    items, last = service.list_notebooks(identity, parent_id, top_level, page.limit, _start(settings, page, scope))
    return Page[Notebook](items=items, next_cursor=_next(settings, last, scope))


@router.get("/notebooks/{notebook_id}", response_model=Notebook, tags=["notebooks"], summary="Get a notebook")
def get_notebook(notebook_id: NoteId, identity: CurrentIdentity, service: Service, response: Response) -> Notebook:
    notebook = service.get_notebook(identity, notebook_id)
    _tagged(response, notebook.version)
    return notebook


@router.patch("/notebooks/{notebook_id}", response_model=Notebook, tags=["notebooks"],
              summary="Rename or move a notebook (409 into its own subtree, 422 too deep; If-Match: its ETag)")
def update_notebook(notebook_id: NoteId, body: NotebookPatch, identity: CurrentIdentity, service: Service,
                    response: Response, if_match: IfMatch = None) -> Notebook:
    notebook = service.update_notebook(identity, notebook_id, body, if_match)
    _tagged(response, notebook.version)
    return notebook


@router.delete("/notebooks/{notebook_id}", status_code=204, tags=["notebooks"],
               summary="Delete a notebook (409 unless empty; ?recursive=true trashes its notes and sub-notebooks)")
def delete_notebook(notebook_id: NoteId, identity: CurrentIdentity, service: Service, recursive: bool = False,
                    if_match: IfMatch = None) -> Response:
    service.delete_notebook(identity, notebook_id, recursive=recursive, if_match=if_match)
    return Response(status_code=204)


# --- notes: collection routes (before /notes/{note_id}) ----------------------------------------------------


@router.post("/notes", status_code=201, response_model=Note, summary="Create a note (markdown body up to 1 MiB)")
def create_note(body: NoteCreate, identity: CurrentIdentity, service: Service, settings: Settings,
                request: Request, response: Response, idempotency_key: IdempotencyKey = None) -> Note:
    created: list[Note] = []

    def action() -> dict[str, Any]:
        created.append(service.create(identity, body))
        return {"id": created[0].id}  # the note itself may be 1 MiB: the idempotency record keeps its id

    result = run_idempotent(settings, identity, "create-note", idempotency_key, body.model_dump(mode="json"),
                            action, request.scope.get("aws.context"))
    note = created[0] if created else service.get(identity, str(result["id"]))
    response.headers["Location"] = f"/notes/{note.id}"
    _tagged(response, note.version)
    return note


@router.get("/notes", response_model=Page[NoteSummary],
            summary="List notes: a notebook's pinned first then newest, or all notes newest first")
def list_notes(identity: CurrentIdentity, service: Service, settings: Settings,
               page: Annotated[PageRequest, Depends(page_request)],
               notebook_id: OptionalId = None,
               tag: Tag = None, favorite: bool | None = None, pinned: bool | None = None,
               archived: Annotated[bool, Query(description="Archived notes instead of the others")] = False,
               ) -> Page[NoteSummary]:
    filters = logic.NoteFilters(notebook_id=notebook_id, tag=tag, favorite=favorite, pinned=pinned, archived=archived)
    scope = _cursor_scope(identity, "notes", filters)
    items, last = service.list_notes(identity, filters, page.limit, _start(settings, page, scope))
    return Page[NoteSummary](items=items, next_cursor=_next(settings, last, scope))


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
    scope = _cursor_scope(identity, "notes-recent", {"since": since})
    items, last = service.recent(identity, page.limit, _start(settings, page, scope), since)
    return Page[NoteSummary](items=items, next_cursor=_next(settings, last, scope))


@router.get("/notes/trash", response_model=Page[NoteSummary],
            summary="Notes in the trash, most recently trashed first (restorable until purge_at)")
def trashed_notes(identity: CurrentIdentity, service: Service, settings: Settings,
                  page: Annotated[PageRequest, Depends(page_request)]) -> Page[NoteSummary]:
    scope = _cursor_scope(identity, "notes-trash")
    items, last = service.list_trash(identity, page.limit, _start(settings, page, scope))
    return Page[NoteSummary](items=items, next_cursor=_next(settings, last, scope))


@router.post("/notes/clip", status_code=201, response_model=Note,
             summary="Clip a web page: its readable text as markdown, with url, site, author and date")
def clip_page(body: ClipRequest, identity: CurrentIdentity, service: Service, settings: Settings,
              request: Request, response: Response, idempotency_key: IdempotencyKey = None) -> Note:
    created: list[Note] = []

    def action() -> dict[str, Any]:
        created.append(service.clip(identity, body))
        return {"id": created[0].id}

    result = run_idempotent(settings, identity, "clip-note", idempotency_key, body.model_dump(mode="json"),
                            action, request.scope.get("aws.context"))
    note = created[0] if created else service.get(identity, str(result["id"]))
    response.headers["Location"] = f"/notes/{note.id}"
    _tagged(response, note.version)
    return note


# --- one note -------------------------------------------------------------------------------------------


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
    _tagged(response, note.version)
    return note


@router.patch("/notes/{note_id}", response_model=Note,
              summary="Change a note (If-Match: its ETag; title, body or checklist changes make a revision)")
def update_note(note_id: NoteId, body: NotePatch, identity: CurrentIdentity, service: Service, response: Response,
                if_match: IfMatch = None) -> Note:
    note = service.update(identity, note_id, body, if_match)
    _tagged(response, note.version)
    return note


@router.delete("/notes/{note_id}", status_code=204,
               summary="Move a note to the trash (?permanent=true: delete it and its history for good)")
def delete_note(note_id: NoteId, identity: CurrentIdentity, service: Service, permanent: bool = False,
                if_match: IfMatch = None) -> Response:
    if permanent:
        service.purge(identity, note_id, if_match)
    else:
        service.trash(identity, note_id, if_match)
    return Response(status_code=204)


@router.post("/notes/{note_id}/restore", response_model=Note,
             summary="Bring a note back from the trash (410 after 30 days)")
def restore_note(note_id: NoteId, identity: CurrentIdentity, service: Service, response: Response) -> Note:
    note = service.restore(identity, note_id)
    _tagged(response, note.version)
    return note


@router.post("/notes/{note_id}/checklist", status_code=201, response_model=Note,
             summary="Add a checklist item (at the end, or before/after another)")
def add_checklist_item(note_id: NoteId, body: ChecklistAdd, identity: CurrentIdentity, service: Service,
                       response: Response, if_match: IfMatch = None) -> Note:
    note = service.add_item(identity, note_id, body, if_match)
    _tagged(response, note.version)
    return note


@router.patch("/notes/{note_id}/checklist/{item_id}", response_model=Note,
              summary="Check, uncheck or reword a checklist item")
def update_checklist_item(note_id: NoteId, item_id: ItemId, body: ChecklistItemPatch, identity: CurrentIdentity,
                          service: Service, response: Response, if_match: IfMatch = None) -> Note:
    note = service.update_item(identity, note_id, item_id, body, if_match)
    _tagged(response, note.version)
    return note


@router.post("/notes/{note_id}/checklist/{item_id}/move", response_model=Note,
             summary="Reorder a checklist item (before_id, after_id or position)")
def move_checklist_item(note_id: NoteId, item_id: ItemId, body: ChecklistMove, identity: CurrentIdentity,
                        service: Service, response: Response, if_match: IfMatch = None) -> Note:
    note = service.move_item(identity, note_id, item_id, body, if_match)
    _tagged(response, note.version)
    return note


@router.delete("/notes/{note_id}/checklist/{item_id}", response_model=Note, summary="Remove a checklist item")
def remove_checklist_item(note_id: NoteId, item_id: ItemId, identity: CurrentIdentity, service: Service,
                          response: Response, if_match: IfMatch = None) -> Note:
    note = service.remove_item(identity, note_id, item_id, if_match)
    _tagged(response, note.version)
    return note


@router.get("/notes/{note_id}/revisions", response_model=Page[RevisionSummary],
            summary="A note's revisions, newest first (the last 100 are kept)")
def list_revisions(note_id: NoteId, identity: CurrentIdentity, service: Service, settings: Settings,
                   page: Annotated[PageRequest, Depends(page_request)]) -> Page[RevisionSummary]:
    scope = _cursor_scope(identity, "note-revisions", {"note": note_id})
    items, last = service.list_revisions(identity, note_id, page.limit, _start(settings, page, scope))
    return Page[RevisionSummary](items=items, next_cursor=_next(settings, last, scope))


@router.get("/notes/{note_id}/revisions/{revision}", response_model=Revision, summary="One revision of a note")
def get_revision(note_id: NoteId, revision: Annotated[int, Path(ge=1)], identity: CurrentIdentity,
                 service: Service) -> Revision:
    return service.get_revision(identity, note_id, revision)


@router.post("/notes/{note_id}/revisions/{revision}/restore", response_model=Note,
             summary="Make a revision current again (as a new revision)")
def restore_revision(note_id: NoteId, revision: Annotated[int, Path(ge=1)], identity: CurrentIdentity,
                     service: Service, response: Response, if_match: IfMatch = None) -> Note:
    note = service.restore_revision(identity, note_id, revision, if_match)
    _tagged(response, note.version)
    return note


@router.post("/notes/{note_id}/tasks", status_code=201, response_model=NoteTasksResult,
             summary="Make a task of the note, or one per chosen checklist item (linked both ways)")
def create_tasks(note_id: NoteId, body: NoteTasksRequest, identity: CurrentIdentity, service: Service,
                 settings: Settings, request: Request, response: Response,
                 idempotency_key: IdempotencyKey = None) -> NoteTasksResult:
    from crewhouse.notes.task_links import TaskServiceMaker

    maker = TaskServiceMaker(aws_client("dynamodb", settings), settings.tasks_table)
    made: list[NoteTasksResult] = []

    def action() -> dict[str, Any]:
        tasks, note = service.create_tasks(identity, note_id, body, maker)
        made.append(NoteTasksResult.model_validate({"tasks": tasks, "note": note}))
        return {"task_ids": [t["id"] for t in tasks]}

    result = run_idempotent(settings, identity, f"note-tasks-{note_id}", idempotency_key,
                            body.model_dump(mode="json"), action, request.scope.get("aws.context"))
    if made:
        outcome = made[0]
    else:
        tasks = [found for found in (maker.find(identity, t) for t in result["task_ids"]) if found is not None]
        outcome = NoteTasksResult.model_validate({"tasks": tasks, "note": service.get(identity, note_id)})
    _tagged(response, outcome.note.version)
    return outcome


app = create_app("Crewhouse notes", [router])
handler = lambda_handler(app)
