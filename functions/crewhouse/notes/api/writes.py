"""Notes function for creating, changing, trashing and restoring notes."""

from typing import Any

from fastapi import APIRouter, Request, Response

from crewhouse.core.http import create_app, lambda_handler
from crewhouse.core.idempotency import run_idempotent
from crewhouse.notes.api import CurrentIdentity, IdempotencyKey, IfMatch, NoteId, Service, Settings, tagged
from crewhouse.notes.models.edits import NoteCreate, NotePatch
from crewhouse.notes.models.note import Note

router = APIRouter(tags=["notes"])


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
    tagged(response, note.version)
    return note


@router.patch("/notes/{note_id}", response_model=Note,
              summary="Change a note (If-Match: its ETag; title, body or checklist changes make a revision)")
def update_note(note_id: NoteId, body: NotePatch, identity: CurrentIdentity, service: Service, response: Response,
                if_match: IfMatch = None) -> Note:
    note = service.update(identity, note_id, body, if_match)
    tagged(response, note.version)
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
    tagged(response, note.version)
    return note


app = create_app("Crewhouse notes: writes", [router])
handler = lambda_handler(app, __name__)
