"""Notes and notebooks API models. Field names are the same in REST and MCP."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

MAX_BODY_BYTES = 1024 * 1024
"""A note's markdown body, UTF-8 encoded (413 beyond)."""
INLINE_BODY_BYTES = 300 * 1024
"""Larger bodies live in S3; the item keeps a pointer (and a head for search and excerpts)."""
MAX_CHECKLIST_ITEMS = 200
MAX_CHECKLIST_BYTES = 64 * 1024
"""Checklist texts together (UTF-8): with the inline body this keeps an item below DynamoDB's 400 KB."""
MAX_NOTEBOOK_DEPTH = 5
MAX_TAGS = 30
MAX_TASK_LINKS = 100
KEEP_REVISIONS = 100
TRASH_DAYS = 30


def _normalise_tags(tags: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        cleaned = tag.strip().lstrip("#").lower()
        if cleaned:
            seen.setdefault(cleaned, None)
    return list(seen)


Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]
Tags = Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=MAX_TAGS),
                 AfterValidator(_normalise_tags)]
Title = Annotated[str, Field(max_length=500)]
Body = Annotated[str, Field(max_length=MAX_BODY_BYTES, description="Markdown, at most 1 MiB (UTF-8)")]
ItemText = Annotated[str, Field(min_length=1, max_length=500)]


# --- notebooks ------------------------------------------------------------------------------------------


class NotebookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    parent_id: Id | None = None

    @model_validator(mode="after")
    def _name_not_blank(self) -> NotebookCreate:
        if not self.name.strip():
            raise ValueError("name must not be blank")
        return self


class NotebookPatch(BaseModel):
    """Rename and/or move (``parent_id: null`` moves to the top level)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    parent_id: Id | None = None


class Notebook(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    parent_id: str | None = None
    created_at: datetime
    updated_at: datetime
    version: int = 1


# --- notes ----------------------------------------------------------------------------------------------


class ChecklistItemIn(BaseModel):
    """A checklist item as a client sends it in a whole checklist (``id`` keeps an existing item)."""

    model_config = ConfigDict(extra="forbid")

    id: Id | None = None
    text: ItemText
    checked: bool = False


class ChecklistItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    text: str
    checked: bool = False
    task_id: str | None = Field(default=None, description="The task made from this item, if any")


class ChecklistAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: ItemText
    checked: bool = False
    before_id: Id | None = None
    after_id: Id | None = None

    @model_validator(mode="after")
    def _one_anchor(self) -> ChecklistAdd:
        if self.before_id and self.after_id:
            raise ValueError("give before_id or after_id, not both")
        return self


class ChecklistItemPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: ItemText | None = None
    checked: bool | None = None


class ChecklistMove(BaseModel):
    """Exactly one of: before another item, after another item, or a 0-based position."""

    model_config = ConfigDict(extra="forbid")

    before_id: Id | None = None
    after_id: Id | None = None
    position: int | None = Field(default=None, ge=0, le=MAX_CHECKLIST_ITEMS)

    @model_validator(mode="after")
    def _exactly_one(self) -> ChecklistMove:
        if sum(x is not None for x in (self.before_id, self.after_id, self.position)) != 1:
            raise ValueError("give exactly one of before_id, after_id or position")
        return self


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title = ""
    body: Body = ""
    notebook_id: Id | None = None
    tags: Tags = Field(default_factory=list)
    checklist: list[ChecklistItemIn] = Field(default_factory=list, max_length=MAX_CHECKLIST_ITEMS)
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


class ClipSource(BaseModel):
    url: str
    site_name: str | None = None
    author: str | None = None
    published: str | None = Field(default=None, description="Publication date as the page gives it (ISO)")
    clipped_at: datetime


class NoteSummary(BaseModel):
    """A note in lists: everything but the body (``excerpt`` is its start as plain text)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    title: str
    notebook_id: str | None = None
    tags: list[str] = Field(default_factory=list)
    checklist: list[ChecklistItem] = Field(default_factory=list)
    favorite: bool = False
    pinned: bool = False
    archived: bool = False
    version: int = 1
    revision: int = 1
    created_at: datetime
    updated_at: datetime
    body_size: int = Field(default=0, description="UTF-8 bytes of the markdown body")
    excerpt: str = ""
    task_ids: list[str] = Field(default_factory=list, description="Tasks made from this note")
    source: ClipSource | None = None
    trashed_at: datetime | None = None
    purge_at: datetime | None = Field(default=None, description="When a trashed note is purged for good")


class Note(NoteSummary):
    body: str = ""


class RevisionSummary(BaseModel):
    model_config = ConfigDict(extra="ignore")

    revision: int
    title: str
    created_at: datetime
    reason: Literal["create", "edit", "restore", "clip"] = "edit"
    restored_from: int | None = None
    body_size: int = 0


class Revision(RevisionSummary):
    body: str = ""
    checklist: list[ChecklistItem] = Field(default_factory=list)


class ClipRequest(BaseModel):
    """A web page the client already has: the server extracts its readable text, it never fetches ``url``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://\S+$")
    title: Title | None = None
    html: str = Field(min_length=1, max_length=2 * 1024 * 1024)
    notebook_id: Id | None = None
    tags: Tags = Field(default_factory=list)


class NoteTasksRequest(BaseModel):
    """No item ids: one task for the whole note; else one task per checklist item."""

    model_config = ConfigDict(extra="forbid")

    checklist_item_ids: list[Id] = Field(default_factory=list, max_length=MAX_CHECKLIST_ITEMS)
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
