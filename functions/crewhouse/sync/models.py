"""The ``GET /sync`` response: one feed for every synced kind (tasks, notes, notebooks)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["task", "note", "notebook", "profile"]


class SyncItem(BaseModel):
    """An item that was created or changed: ``kind`` plus the item exactly as its own API shows it
    (``Task``, ``Note`` or ``Notebook``; ``profile``: the caller's ``Profile``, ``id`` their user id). A note
    whose body is too large for the feed carries
    ``body: null`` and its ``body_size``: fetch it with ``GET /notes/{id}``."""

    model_config = ConfigDict(extra="allow")

    kind: Kind
    id: str
    version: int | None = None


class SyncDeleted(BaseModel):
    """An item that is gone for the client: deleted, or (notes) moved to the trash."""

    kind: Kind
    id: str


class SyncResponse(BaseModel):
    items: list[SyncItem] = Field(description="Changed items, each once, in its latest state")
    deleted: list[SyncDeleted]
    token: str = Field(description="Pass as `since` next time")
    has_more: bool = False
