"""Tasks HTTP API (``/tasks``, ``/task-templates``, ``/sync``): parse, call the service, shape the response."""


import hashlib
import json
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from crewhouse.core.aws import aws_client
from crewhouse.core.cursors import cursor_key, decode_cursor, encode_cursor
from crewhouse.core.etag import etag_for
from crewhouse.core.http import create_app, current_identity, lambda_handler
from crewhouse.core.idempotency import run_idempotent
from crewhouse.core.identity import Identity
from crewhouse.core.pagination import Page, PageRequest, page_request
from crewhouse.core.settings import load_settings
from crewhouse.sync.models import SyncResponse
from crewhouse.tasks import logic
from crewhouse.tasks.models import (
    DependencyRequest,
    InstantiateRequest,
    MoveRequest,
    QuickAddRequest,
    QuickAddResult,
    Status,
    Task,
    TaskCreate,
    TaskPatch,
    Template,
    TemplateCreate,
)
from crewhouse.tasks.settings import TasksSettings
from crewhouse.tasks.store import DynamoTaskStore

router = APIRouter(tags=["tasks"])
CurrentIdentity = Annotated[Identity, Depends(current_identity)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
IfMatch = Annotated[str | None, Header(alias="If-Match")]


def tasks_settings() -> TasksSettings:
    return load_settings(TasksSettings)


Settings = Annotated[TasksSettings, Depends(tasks_settings)]


def task_service(settings: Settings) -> logic.TaskService:
    return logic.TaskService(DynamoTaskStore(aws_client("dynamodb", settings), settings.tasks_table))


Service = Annotated[logic.TaskService, Depends(task_service)]


def _tagged(response: Response, task: Task) -> Task:
    response.headers["ETag"] = etag_for(task.version)
    return task


def _cursor_scope(identity: Identity, name: str, filters: Any = None) -> str:
    digest = hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{identity.tenant_id}/{identity.user_id}/{name}/{digest}"


def _start(settings: TasksSettings, page: PageRequest, scope: str) -> dict[str, Any] | None:
    return decode_cursor(page.cursor, key=cursor_key(settings), scope=scope) if page.cursor else None


def _next(settings: TasksSettings, last: dict[str, Any] | None, scope: str) -> str | None:
    return encode_cursor(last, key=cursor_key(settings), scope=scope) if last else None


@router.post("/tasks", status_code=201, response_model=Task, summary="Create a task")
def create_task(body: TaskCreate, identity: CurrentIdentity, service: Service, settings: Settings,
                request: Request, response: Response, idempotency_key: IdempotencyKey = None) -> Task:
    result = run_idempotent(settings, identity, "create-task", idempotency_key, body.model_dump(mode="json"),
                            lambda: service.create(identity, body).model_dump(mode="json"),
                            request.scope.get("aws.context"))
    task = Task.model_validate(result)
    response.headers["Location"] = f"/tasks/{task.id}"
    return _tagged(response, task)


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
    filters = logic.ListFilters(planned_date=planned_date, date_from=date_from, date_to=date_to, someday=someday,
                                due_from=due_from, due_to=due_to, status=tuple(status or ()), priority=priority,
                                tag=tag, parent_id=parent_id)
    scope = _cursor_scope(identity, "tasks", filters)
    items, last = service.list_tasks(identity, filters, page.limit, _start(settings, page, scope))
    return Page[Task](items=items, next_cursor=_next(settings, last, scope))


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


@router.post("/tasks/quick-add", status_code=201, response_model=QuickAddResult,
             summary="Create a task from one line such as 'A1 call the bank fri 9am every month #finance'")
def quick_add(body: QuickAddRequest, identity: CurrentIdentity, service: Service, settings: Settings,
              request: Request, response: Response, idempotency_key: IdempotencyKey = None) -> QuickAddResult:
    from crewhouse.tasks.quick_entry import quick_add as run_quick_add

    result = run_idempotent(settings, identity, "quick-add", idempotency_key, body.model_dump(mode="json"),
                            lambda: run_quick_add(service, identity, body).model_dump(mode="json"),
                            request.scope.get("aws.context"))
    parsed = QuickAddResult.model_validate(result)
    response.headers["Location"] = f"/tasks/{parsed.task.id}"
    return parsed


@router.get("/tasks/{task_id}", response_model=Task, summary="Get a task")
def get_task(task_id: str, identity: CurrentIdentity, service: Service, response: Response) -> Task:
    return _tagged(response, service.get(identity, task_id))


@router.patch("/tasks/{task_id}", response_model=Task, summary="Change a task (If-Match: its ETag)")
def update_task(task_id: str, body: TaskPatch, identity: CurrentIdentity, service: Service, response: Response,
                if_match: IfMatch = None) -> Task:
    return _tagged(response, service.update(identity, task_id, body, if_match))


@router.delete("/tasks/{task_id}", status_code=204, summary="Delete a task")
def delete_task(task_id: str, identity: CurrentIdentity, service: Service, if_match: IfMatch = None) -> Response:
    service.delete(identity, task_id, if_match)
    return Response(status_code=204)


@router.post("/tasks/{task_id}/move", response_model=Task, summary="Reorder or regroup a task (one write)")
def move_task(task_id: str, body: MoveRequest, identity: CurrentIdentity, service: Service,
              response: Response) -> Task:
    return _tagged(response, service.move(identity, task_id, body))


@router.post("/tasks/{task_id}/complete", response_model=Task, summary="Complete a task (409 while blocked)")
def complete_task(task_id: str, identity: CurrentIdentity, service: Service, settings: Settings, request: Request,
                  response: Response, idempotency_key: IdempotencyKey = None, if_match: IfMatch = None) -> Task:
    result = run_idempotent(settings, identity, f"complete-{task_id}", idempotency_key, {"task_id": task_id},
                            lambda: service.complete(identity, task_id, if_match).model_dump(mode="json"),
                            request.scope.get("aws.context"))
    return _tagged(response, Task.model_validate(result))


@router.post("/tasks/{task_id}/reopen", response_model=Task, summary="Reopen a completed or cancelled task")
def reopen_task(task_id: str, identity: CurrentIdentity, service: Service, response: Response,
                if_match: IfMatch = None) -> Task:
    return _tagged(response, service.reopen(identity, task_id, if_match))


@router.post("/tasks/{task_id}/dependencies", response_model=Task,
             summary="Block this task by another (409 with the path if it closes a cycle)")
def add_dependency(task_id: str, body: DependencyRequest, identity: CurrentIdentity, service: Service,
                   response: Response) -> Task:
    return _tagged(response, service.add_dependency(identity, task_id, body.depends_on))


@router.delete("/tasks/{task_id}/dependencies/{other_id}", response_model=Task, summary="Remove a dependency")
def remove_dependency(task_id: str, other_id: str, identity: CurrentIdentity, service: Service,
                      response: Response) -> Task:
    return _tagged(response, service.remove_dependency(identity, task_id, other_id))


@router.post("/task-templates", status_code=201, response_model=Template, summary="Create a task template")
def create_template(body: TemplateCreate, identity: CurrentIdentity, service: Service) -> Template:
    return service.create_template(identity, body)


@router.get("/task-templates", response_model=Page[Template], summary="List task templates")
def list_templates(identity: CurrentIdentity, service: Service, settings: Settings,
                   page: Annotated[PageRequest, Depends(page_request)]) -> Page[Template]:
    scope = _cursor_scope(identity, "task-templates")
    items, last = service.list_templates(identity, page.limit, _start(settings, page, scope))
    return Page[Template](items=items, next_cursor=_next(settings, last, scope))


@router.get("/task-templates/{template_id}", response_model=Template, summary="Get a task template")
def get_template(template_id: str, identity: CurrentIdentity, service: Service) -> Template:
    return service.get_template(identity, template_id)


@router.delete("/task-templates/{template_id}", status_code=204, summary="Delete a task template")
def delete_template(template_id: str, identity: CurrentIdentity, service: Service) -> Response:
    service.delete_template(identity, template_id)
    return Response(status_code=204)


@router.post("/task-templates/{template_id}/instantiate", status_code=201, response_model=list[Task],
             summary="Create a task (and its subtasks) from a template")
def instantiate_template(template_id: str, body: InstantiateRequest, identity: CurrentIdentity,
                         service: Service) -> list[Task]:
    return service.instantiate(identity, template_id, body.planned_date, body.due)


@router.get("/sync", response_model=SyncResponse, tags=["sync"],
            summary="Changes to tasks, notes and notebooks since a token (410: too old, list everything again)")
def sync(identity: CurrentIdentity, settings: Settings,
         since: Annotated[str | None, Query(max_length=2048)] = None,
         limit: Annotated[int, Query(ge=1, le=500)] = 200) -> SyncResponse:
    """Served by the tasks function, which already holds read access to the sync log and the cursor key;
    the feed itself (``crewhouse.sync.feed``) reads only the log, so it belongs to no context."""
    from crewhouse.sync.feed import changes_since
    from crewhouse.sync.log import DynamoSyncLog

    log = DynamoSyncLog(aws_client("dynamodb", settings), settings.sync_table)
    return changes_since(log, cursor_key(settings), identity, since, limit)


app = create_app("Crewhouse tasks", [router])
handler = lambda_handler(app)
