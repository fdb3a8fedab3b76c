"""Notes function for what flows into and out of notes: web clips in, tasks out."""

from typing import Any

from fastapi import APIRouter, Request, Response

from crewhouse.core.http import create_app, lambda_handler
from crewhouse.core.idempotency import run_idempotent
from crewhouse.notes.api import CurrentIdentity, IdempotencyKey, NoteId, Service, Settings, tagged
from crewhouse.notes.models.clip import ClipRequest
from crewhouse.notes.models.edits import NoteCreate  # noqa: F401  # built here: a clip becomes a NoteCreate (logic)
from crewhouse.notes.models.note import Note
from crewhouse.notes.models.tasks import NoteTasksRequest, NoteTasksResult

router = APIRouter(tags=["notes"])


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
    tagged(response, note.version)
    return note


@router.post("/notes/{note_id}/tasks", status_code=201, response_model=NoteTasksResult,
             summary="Make a task of the note, or one per chosen checklist item (linked both ways)")
def create_tasks(note_id: NoteId, body: NoteTasksRequest, identity: CurrentIdentity, service: Service,
                 settings: Settings, request: Request, response: Response,
                 idempotency_key: IdempotencyKey = None) -> NoteTasksResult:
    from crewhouse.notes.task_links import TaskServiceMaker

    maker = TaskServiceMaker()
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
    tagged(response, outcome.note.version)
    return outcome


app = create_app("Crewhouse notes: capture", [router])
handler = lambda_handler(app, __name__)
