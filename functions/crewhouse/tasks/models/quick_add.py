"""``POST /tasks/quick-add``: one typed line in, the task and what was understood out."""

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.tasks.models.task import Task, TimezoneName


class QuickAddRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=1000)
    timezone: TimezoneName = None


class QuickAddResult(BaseModel):
    task: Task
    understood: list[dict[str, str]]
