"""Tasks function for the task list: ``GET /tasks``, by letter then order."""

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.http import create_app, lambda_handler
from crewhouse.core.pagination import Page, PageRequest, page_request
from crewhouse.tasks.api import CurrentIdentity, Service, Settings
from crewhouse.tasks.logic import ListFilters
from crewhouse.tasks.models.task import Status, Task

router = APIRouter(tags=["tasks"])


@router.get("/tasks", response_model=Page[Task], summary="List tasks, by letter then order")
def list_tasks(
    identity: CurrentIdentity, service: Service, settings: Settings,
    page: Annotated[PageRequest, Depends(page_request)],
    planned_date: date | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    someday: bool = False,
    due_from: datetime | None = None,
    due_to: datetime | None = None,
    status: Annotated[list[Status] | None, Query()] = None,
    priority: Annotated[str | None, Query(pattern="^[ABC]$")] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    parent_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[Task]:
    filters = ListFilters(planned_date=planned_date, date_from=date_from, date_to=date_to, someday=someday,
                          due_from=due_from, due_to=due_to, status=tuple(status or ()), priority=priority,
                          tag=tag, parent_id=parent_id)
    scope = cursor_scope(identity, "tasks", repr(filters))  # the repr, as when ListFilters was a dataclass
    items, last = service.list_tasks(identity, filters, page.limit, page_start(settings, page.cursor, scope))
    return Page[Task](items=items, next_cursor=page_next(settings, last, scope))


app = create_app("Crewhouse tasks: list", [router])
handler = lambda_handler(app, __name__)
