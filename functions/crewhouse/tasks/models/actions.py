"""Requests that act on one task without editing its fields: move it, make it depend on another."""

from datetime import date
from typing import Self

from pydantic import BaseModel, ConfigDict, model_validator

from crewhouse.tasks.models.task import Priority, TaskId


class MoveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: Priority | None = None
    planned_date: date | None = None
    someday: bool = False
    before_id: TaskId | None = None
    after_id: TaskId | None = None

    @model_validator(mode="after")
    def _one_anchor(self) -> Self:
        if self.before_id and self.after_id:
            raise ValueError("give before_id or after_id, not both")
        if self.someday and self.planned_date:
            raise ValueError("someday and planned_date exclude each other")
        return self


class DependencyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    depends_on: TaskId
