"""Task API models. Field names are the same in REST and MCP."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

Status = Literal["todo", "in_progress", "done", "cancelled"]
Priority = Literal["A", "B", "C"]
OPEN_STATUSES: frozenset[str] = frozenset({"todo", "in_progress"})
MAX_DEPENDENCIES = 100
MAX_TAGS = 30
MAX_REMINDERS = 10
MAX_DEPTH = 3


def _normalise_tags(tags: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        cleaned = tag.strip().lstrip("#").lower()
        if cleaned:
            seen.setdefault(cleaned, None)
    return list(seen)


def _check_timezone(name: str | None) -> str | None:
    if name is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone {name!r}") from exc
    return name


Tags = Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=MAX_TAGS),
                 AfterValidator(_normalise_tags)]
TimezoneName = Annotated[str | None, AfterValidator(_check_timezone)]
TaskId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]


class Reminder(BaseModel):
    """Either an absolute time or an offset before ``due``."""

    model_config = ConfigDict(extra="forbid")

    at: datetime | None = None
    minutes_before_due: int | None = Field(default=None, ge=0, le=60 * 24 * 365)

    @model_validator(mode="after")
    def _exactly_one(self) -> Reminder:
        if (self.at is None) == (self.minutes_before_due is None):
            raise ValueError("give exactly one of 'at' or 'minutes_before_due'")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("'at' needs a UTC offset, e.g. 2026-11-27T09:00:00+01:00")
        return self


class TaskFields(BaseModel):
    """What a client may set on create (and, all optional, on PATCH)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=64 * 1024)
    status: Status = "todo"
    priority: Priority = "B"
    planned_date: date | None = None
    due: datetime | None = None
    timezone: TimezoneName = None
    start_date: date | None = None
    estimate_minutes: int | None = Field(default=None, ge=0, le=100_000)
    tags: Tags = Field(default_factory=list)
    parent_id: TaskId | None = None
    depends_on: list[TaskId] = Field(default_factory=list, max_length=MAX_DEPENDENCIES)
    recurrence: str | None = Field(default=None, max_length=1000)
    reminders: list[Reminder] = Field(default_factory=list, max_length=MAX_REMINDERS)
    attachments: list[TaskId] = Field(default_factory=list, max_length=100)


class TaskCreate(TaskFields):
    @model_validator(mode="after")
    def _title_not_blank(self) -> TaskCreate:
        if not self.title.strip():
            raise ValueError("title must not be blank")
        return self


class TaskPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=64 * 1024)
    status: Status | None = None
    priority: Priority | None = None
    planned_date: date | None = None
    due: datetime | None = None
    timezone: TimezoneName = None
    start_date: date | None = None
    estimate_minutes: int | None = Field(default=None, ge=0, le=100_000)
    tags: Tags | None = None
    parent_id: TaskId | None = None
    recurrence: str | None = Field(default=None, max_length=1000)
    reminders: list[Reminder] | None = Field(default=None, max_length=MAX_REMINDERS)
    attachments: list[TaskId] | None = Field(default=None, max_length=100)


class Task(TaskFields):
    """A stored task as the API shows it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    label: str | None = None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    version: int = 1


class MoveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: Priority | None = None
    planned_date: date | None = None
    someday: bool = False
    before_id: TaskId | None = None
    after_id: TaskId | None = None

    @model_validator(mode="after")
    def _one_anchor(self) -> MoveRequest:
        if self.before_id and self.after_id:
            raise ValueError("give before_id or after_id, not both")
        if self.someday and self.planned_date:
            raise ValueError("someday and planned_date exclude each other")
        return self


class DependencyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    depends_on: TaskId


class QuickAddRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=1000)
    timezone: TimezoneName = None


class QuickAddResult(BaseModel):
    task: Task
    understood: list[dict[str, str]]


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    task: TaskCreate
    subtasks: list[TaskCreate] = Field(default_factory=list, max_length=50)


class Template(TemplateCreate):
    model_config = ConfigDict(extra="ignore")

    id: str
    created_at: datetime


class InstantiateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    planned_date: date | None = None
    due: datetime | None = None


Order = Literal["A", "B", "C"]
