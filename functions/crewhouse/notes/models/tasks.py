"""``POST /notes/{note_id}/tasks``: tasks made from a note or from its checklist items."""

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.notes.models import MAX_CHECKLIST_ITEMS
from crewhouse.notes.models.fields import Id
from crewhouse.notes.models.note import Note


class NoteTasksRequest(BaseModel):
    """No item ids: one task for the whole note; else one task per checklist item."""

    model_config = ConfigDict(extra="forbid")

    checklist_item_ids: list[Id] = Field(default=[], max_length=MAX_CHECKLIST_ITEMS)
    priority: Literal["A", "B", "C"] = "B"
    planned_date: date | None = None


class LinkedTask(BaseModel):
    """A task made from the note, as the tasks API shows it (``GET /tasks/{id}``; every field is passed on)."""

    model_config = ConfigDict(extra="allow")

    id: str
    title: str
    description: str = ""
    status: str
    priority: str
    planned_date: date | None = None
    label: str | None = None
    version: int = 1


class NoteTasksResult(BaseModel):
    tasks: list[LinkedTask]
    note: Note
