"""A task as the API shows it, and the types of its fields (the request models reuse them).

No ``from __future__ import annotations`` in the model modules: pydantic would have to evaluate every
annotation string again at class creation, a measurable part of a cold start.
"""

from datetime import date, datetime
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from crewhouse.core.tags import normalise_tags
from crewhouse.core.timezones import TimezoneName as TimezoneName  # the tasks models name it too

Status = Literal["todo", "in_progress", "done", "cancelled"]
Priority = Literal["A", "B", "C"]
OPEN_STATUSES: frozenset[str] = frozenset({"todo", "in_progress"})
MAX_DEPENDENCIES = 100
MAX_TAGS = 30
MAX_REMINDERS = 10
MAX_ATTACHMENTS = 100
MAX_DEPTH = 3


TaskId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]
Title = Annotated[str, Field(min_length=1, max_length=500)]
Description = Annotated[str, Field(max_length=64 * 1024)]
Tags = Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=MAX_TAGS),
                 AfterValidator(normalise_tags)]
EstimateMinutes = Annotated[int, Field(ge=0, le=100_000)]
DependsOn = Annotated[list[TaskId], Field(max_length=MAX_DEPENDENCIES)]
Rule = Annotated[str, Field(max_length=1000)]
Attachments = Annotated[list[TaskId], Field(max_length=MAX_ATTACHMENTS)]


class Reminder(BaseModel):
    """Either an absolute time or an offset before ``due``."""

    model_config = ConfigDict(extra="forbid")

    at: datetime | None = None
    minutes_before_due: int | None = Field(default=None, ge=0, le=60 * 24 * 365)

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.at is None) == (self.minutes_before_due is None):
            raise ValueError("give exactly one of 'at' or 'minutes_before_due'")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("'at' needs a UTC offset, e.g. 2026-11-27T09:00:00+01:00")
        return self


Reminders = Annotated[list[Reminder], Field(max_length=MAX_REMINDERS)]


# The fields a client sets (TaskCreate in create.py) and what the service adds. Not a subclass of TaskCreate:
# a function that only reads tasks then builds one model, not two.
class Task(BaseModel):
    """A stored task as the API shows it."""

    model_config = ConfigDict(extra="ignore")

    title: Title
    description: Description = ""
    status: Status = "todo"
    priority: Priority = "B"
    planned_date: date | None = None
    due: datetime | None = None
    timezone: TimezoneName = None
    start_date: date | None = None
    estimate_minutes: EstimateMinutes | None = None
    tags: Tags = []
    parent_id: TaskId | None = None
    depends_on: DependsOn = []
    recurrence: Rule | None = None
    reminders: Reminders = []
    attachments: Attachments = []
    id: str
    label: str | None = None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    version: int = 1
