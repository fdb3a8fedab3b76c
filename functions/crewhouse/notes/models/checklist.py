"""Changes to one checklist item: add, check or reword, move."""

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crewhouse.notes.models import MAX_CHECKLIST_ITEMS
from crewhouse.notes.models.fields import Id, ItemText


class ChecklistAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: ItemText
    checked: bool = False
    before_id: Id | None = None
    after_id: Id | None = None

    @model_validator(mode="after")
    def _one_anchor(self) -> Self:
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
    def _exactly_one(self) -> Self:
        if sum(x is not None for x in (self.before_id, self.after_id, self.position)) != 1:
            raise ValueError("give exactly one of before_id, after_id or position")
        return self
