"""A note as the API shows it: in lists (``NoteSummary``, no body) and alone (``Note``)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ChecklistItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    text: str
    checked: bool = False
    task_id: str | None = Field(default=None, description="The task made from this item, if any")


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
    tags: list[str] = []
    checklist: list[ChecklistItem] = []
    favorite: bool = False
    pinned: bool = False
    archived: bool = False
    version: int = 1
    revision: int = 1
    created_at: datetime
    updated_at: datetime
    body_size: int = Field(default=0, description="UTF-8 bytes of the markdown body")
    excerpt: str = ""
    task_ids: list[str] = Field(default=[], description="Tasks made from this note")
    source: ClipSource | None = None
    trashed_at: datetime | None = None
    purge_at: datetime | None = Field(default=None, description="When a trashed note is purged for good")


class Note(NoteSummary):
    body: str = ""
