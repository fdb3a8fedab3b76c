"""Notebooks: create, rename or move, and as the API shows them."""

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crewhouse.notes.models.fields import Id


class NotebookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    parent_id: Id | None = None

    @model_validator(mode="after")
    def _name_not_blank(self) -> Self:
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
