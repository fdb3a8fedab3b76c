"""Task templates: a task and its subtasks, kept to be created again and again."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.tasks.models.create import TaskCreate


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    task: TaskCreate
    subtasks: list[TaskCreate] = Field(default=[], max_length=50)


class Template(TemplateCreate):
    model_config = ConfigDict(extra="ignore")

    id: str
    created_at: datetime


class InstantiateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    planned_date: date | None = None
    due: datetime | None = None
