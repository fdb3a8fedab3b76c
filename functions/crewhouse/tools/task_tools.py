"""Task tools (the todo tools of the chat, and the MCP task tools). Argument names are the REST field names."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.core.aws import aws_client
from crewhouse.tasks.logic import ListFilters, TaskService
from crewhouse.tasks.models import MoveRequest, Priority, Status, Task, TaskCreate, TaskPatch
from crewhouse.tasks.settings import TasksSettings
from crewhouse.tools.registry import Tool, ToolContext, register


def _build(settings: TasksSettings) -> TaskService:
    from crewhouse.tasks.wiring import service_for

    return service_for(settings)


def _service(context: ToolContext) -> TaskService:
    return context.service_from("tasks", TasksSettings, _build)


class TaskIdInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, description="The task's id")


class TaskList(BaseModel):
    items: list[Task]


class Deleted(BaseModel):
    id: str
    deleted: bool = True


class GetTasksInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    planned_date: date | None = Field(default=None, description="Only tasks planned for this day (YYYY-MM-DD)")
    status: list[Status] | None = Field(default=None, description="Only these statuses")
    priority: Priority | None = None
    tag: str | None = None
    limit: int = Field(default=50, ge=1, le=200)


class UpdateTaskInput(TaskPatch):
    id: str = Field(min_length=1, max_length=64)


class PrioritizeInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    priority: Priority | None = Field(default=None, description="The new letter A, B or C")
    planned_date: date | None = None
    before_id: str | None = Field(default=None, description="Place the task just before this one")
    after_id: str | None = Field(default=None, description="Place the task just after this one")


class SearchInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=200, description="Words to look for (prefixes and one typo are fine)")
    limit: int = Field(default=10, ge=1, le=50)
    status: list[Status] | None = None


def _create(context: ToolContext, args: TaskCreate) -> Task:
    return _service(context).create(context.identity, args)


def _get_tasks(context: ToolContext, args: GetTasksInput) -> TaskList:
    filters = ListFilters(planned_date=args.planned_date, status=tuple(args.status or ()), priority=args.priority,
                          tag=args.tag)
    items, _ = _service(context).list_tasks(context.identity, filters, args.limit, None)
    return TaskList(items=items)


def _update(context: ToolContext, args: UpdateTaskInput) -> Task:
    # MCP clients send every argument (absent ones as null), so null means "leave as is" here.
    patch = TaskPatch.model_validate(args.model_dump(exclude={"id"}, exclude_unset=True, exclude_none=True))
    return _service(context).update(context.identity, args.id, patch, None)


def _complete(context: ToolContext, args: TaskIdInput) -> Task:
    return _service(context).complete(context.identity, args.id)


def _delete(context: ToolContext, args: TaskIdInput) -> Deleted:
    _service(context).delete(context.identity, args.id, None)
    return Deleted(id=args.id)


def _prioritize(context: ToolContext, args: PrioritizeInput) -> Task:
    return _service(context).move(context.identity, args.id, MoveRequest(
        priority=args.priority, planned_date=args.planned_date, before_id=args.before_id, after_id=args.after_id))


def _search(context: ToolContext, args: SearchInput) -> TaskList:
    from crewhouse.search.index import DynamoSearchIndex
    from crewhouse.tasks.searching import search_tasks

    settings = context.settings_for(TasksSettings)
    assert isinstance(settings, TasksSettings)
    index = DynamoSearchIndex(aws_client("dynamodb", settings), settings.search_table)
    return TaskList(items=search_tasks(_service(context), index, context.identity, args.q, args.limit,
                                       status=tuple(args.status or ())))


register(Tool("create_task", "Create a task. Priority is a letter A (most important), B or C.", TaskCreate, Task,
              _create))
register(Tool("get_tasks", "List tasks, by letter then order (labels A1, A2, B1 …).", GetTasksInput, TaskList,
              _get_tasks, read_only=True))
register(Tool("update_task", "Change fields of a task.", UpdateTaskInput, Task, _update))
register(Tool("complete_task", "Mark a task done (fails while it is blocked by open tasks).", TaskIdInput, Task,
              _complete))
register(Tool("delete_task", "Delete a task.", TaskIdInput, Deleted, _delete))
register(Tool("prioritize_tasks", "Change a task's letter or day, or reorder it before/after another task.",
              PrioritizeInput, Task, _prioritize))
register(Tool("search_tasks", "Search tasks by relevance.", SearchInput, TaskList, _search, read_only=True))
