"""What a client may change on a task (PATCH): any of the fields it set on create."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from crewhouse.tasks.models.task import (
    Attachments,
    Description,
    EstimateMinutes,
    Priority,
    Reminders,
    Rule,
    Status,
    Tags,
    TaskId,
    TimezoneName,
    Title,
)


class TaskPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    status: Status | None = None
    priority: Priority | None = None
    planned_date: date | None = None
    due: datetime | None = None
    timezone: TimezoneName = None
    start_date: date | None = None
    estimate_minutes: EstimateMinutes | None = None
    tags: Tags | None = None
    parent_id: TaskId | None = None
    recurrence: Rule | None = None
    reminders: Reminders | None = None
    attachments: Attachments | None = None
