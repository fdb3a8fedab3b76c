"""A note's revisions: the list entries and one revision with its body."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from crewhouse.notes.models.note import ChecklistItem


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
    checklist: list[ChecklistItem] = []
