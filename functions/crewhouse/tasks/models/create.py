"""What a client sets on a new task."""

from datetime import date, datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, model_validator

from crewhouse.tasks.models.task import (
    Attachments,
    DependsOn,
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


# The fields of a new task; Task (task.py) has the same ones and what the service adds.
class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

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

    @model_validator(mode="after")
    def _title_not_blank(self) -> Self:
        if not self.title.strip():
            raise ValueError("title must not be blank")
        return self
