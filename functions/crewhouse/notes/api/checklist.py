"""Notes function for checklist items: add, check or reword, move, remove."""


from fastapi import APIRouter, Response

from crewhouse.core.http import create_app, lambda_handler
from crewhouse.notes.api import CurrentIdentity, IfMatch, ItemId, NoteId, Service, tagged
from crewhouse.notes.models.checklist import ChecklistAdd, ChecklistItemPatch, ChecklistMove
from crewhouse.notes.models.note import Note

router = APIRouter(tags=["notes"])


@router.post("/notes/{note_id}/checklist", status_code=201, response_model=Note,
             summary="Add a checklist item (at the end, or before/after another)")
def add_checklist_item(note_id: NoteId, body: ChecklistAdd, identity: CurrentIdentity, service: Service,
                       response: Response, if_match: IfMatch = None) -> Note:
    note = service.add_item(identity, note_id, body, if_match)
    tagged(response, note.version)
    return note


@router.patch("/notes/{note_id}/checklist/{item_id}", response_model=Note,
              summary="Check, uncheck or reword a checklist item")
def update_checklist_item(note_id: NoteId, item_id: ItemId, body: ChecklistItemPatch, identity: CurrentIdentity,
                          service: Service, response: Response, if_match: IfMatch = None) -> Note:
    note = service.update_item(identity, note_id, item_id, body, if_match)
    tagged(response, note.version)
    return note


@router.post("/notes/{note_id}/checklist/{item_id}/move", response_model=Note,
             summary="Reorder a checklist item (before_id, after_id or position)")
def move_checklist_item(note_id: NoteId, item_id: ItemId, body: ChecklistMove, identity: CurrentIdentity,
                        service: Service, response: Response, if_match: IfMatch = None) -> Note:
    note = service.move_item(identity, note_id, item_id, body, if_match)
    tagged(response, note.version)
    return note


@router.delete("/notes/{note_id}/checklist/{item_id}", response_model=Note, summary="Remove a checklist item")
def remove_checklist_item(note_id: NoteId, item_id: ItemId, identity: CurrentIdentity, service: Service,
                          response: Response, if_match: IfMatch = None) -> Note:
    note = service.remove_item(identity, note_id, item_id, if_match)
    tagged(response, note.version)
    return note


app = create_app("Crewhouse notes: checklist", [router])
handler = lambda_handler(app, __name__)
