"""What a client may set on a note: on create, and (only the fields sent) on PATCH."""

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.notes.models import MAX_CHECKLIST_ITEMS
from crewhouse.notes.models.fields import Body, Id, ItemText, Tags, Title


class ChecklistItemIn(BaseModel):
    """A checklist item as a client sends it in a whole checklist (``id`` keeps an existing item)."""

    model_config = ConfigDict(extra="forbid")

    id: Id | None = None
    text: ItemText
    checked: bool = False


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title = ""
    body: Body = ""
    notebook_id: Id | None = None
    tags: Tags = []
    checklist: list[ChecklistItemIn] = Field(default=[], max_length=MAX_CHECKLIST_ITEMS)
    favorite: bool = False
    pinned: bool = False
    archived: bool = False


class NotePatch(BaseModel):
    """Only the fields sent change. ``notebook_id: null`` moves the note out of any notebook."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    body: Body | None = None
    notebook_id: Id | None = None
    tags: Tags | None = None
    checklist: list[ChecklistItemIn] | None = Field(default=None, max_length=MAX_CHECKLIST_ITEMS)
    favorite: bool | None = None
    pinned: bool | None = None
    archived: bool | None = None
