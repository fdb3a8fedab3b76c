"""Tasks function for reading: search, one task, and the ``/sync`` feed of tasks, notes and notebooks."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from crewhouse.core.aws import aws_client
from crewhouse.core.cursors import cursor_key
from crewhouse.core.http import create_app, lambda_handler
from crewhouse.core.pagination import Page
from crewhouse.sync.models import SyncResponse
from crewhouse.tasks.api import CurrentIdentity, Service, Settings, tagged
from crewhouse.tasks.models.task import Status, Task

router = APIRouter(tags=["tasks"])


@router.get("/tasks/search", response_model=Page[Task], summary="Search tasks by relevance")
def search_tasks(identity: CurrentIdentity, service: Service, settings: Settings,
                 q: Annotated[str, Query(min_length=1, max_length=200)],
                 limit: Annotated[int, Query(ge=1, le=100)] = 20,
                 status: Annotated[list[Status] | None, Query()] = None,
                 priority: Annotated[str | None, Query(pattern="^[ABC]$")] = None,
                 tag: Annotated[str | None, Query(max_length=64)] = None,
                 planned_date: date | None = None) -> Page[Task]:
    from crewhouse.search.index import DynamoSearchIndex
    from crewhouse.tasks.searching import search_tasks as run_search

    index = DynamoSearchIndex(aws_client("dynamodb", settings), settings.search_table)
    tasks = run_search(service, index, identity, q, limit, status=tuple(status or ()), priority=priority,
                       tag=tag, planned_date=planned_date)
    return Page[Task](items=tasks, next_cursor=None)


@router.get("/tasks/{task_id}", response_model=Task, summary="Get a task")
def get_task(task_id: str, identity: CurrentIdentity, service: Service, response: Response) -> Task:
    return tagged(response, service.get(identity, task_id))


@router.get("/sync", response_model=SyncResponse, tags=["sync"],
            summary="Changes to tasks, notes and notebooks since a token (410: too old, list everything again)")
def sync(identity: CurrentIdentity, settings: Settings,
         since: Annotated[str | None, Query(max_length=2048)] = None,
         limit: Annotated[int, Query(ge=1, le=500)] = 200) -> SyncResponse:
    # A tasks function, as the tasks context holds read access to the sync log and the cursor key; the feed
    # itself (crewhouse.sync.feed) reads only the log, so it belongs to no context.
    from crewhouse.sync.feed import changes_since
    from crewhouse.sync.log import DynamoSyncLog

    log = DynamoSyncLog(aws_client("dynamodb", settings), settings.sync_table)
    return changes_since(log, cursor_key(settings), identity, since, limit)


app = create_app("Crewhouse tasks: reads", [router])
handler = lambda_handler(app, __name__)
