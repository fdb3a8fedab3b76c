"""Tasks function for creating (also from one typed line), changing and deleting tasks."""

from fastapi import APIRouter, Request, Response

from crewhouse.core.http import IdempotencyKey, IfMatch, create_app, lambda_handler
from crewhouse.core.idempotency import run_idempotent
from crewhouse.tasks.api import CurrentIdentity, Service, Settings, tagged
from crewhouse.tasks.models.actions import MoveRequest  # noqa: F401  # built here: quick add may move the task
from crewhouse.tasks.models.create import TaskCreate
from crewhouse.tasks.models.patch import TaskPatch
from crewhouse.tasks.models.quick_add import QuickAddRequest, QuickAddResult
from crewhouse.tasks.models.task import Task

router = APIRouter(tags=["tasks"])


@router.post("/tasks", status_code=201, response_model=Task, summary="Create a task")
def create_task(body: TaskCreate, identity: CurrentIdentity, service: Service, settings: Settings,
                request: Request, response: Response, idempotency_key: IdempotencyKey = None) -> Task:
    result = run_idempotent(settings, identity, "create-task", idempotency_key, body.model_dump(mode="json"),
                            lambda: service.create(identity, body).model_dump(mode="json"),
                            request.scope.get("aws.context"))
    task = Task.model_validate(result)
    response.headers["Location"] = f"/tasks/{task.id}"
    return tagged(response, task)


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


@router.patch("/tasks/{task_id}", response_model=Task, summary="Change a task (If-Match: its ETag)")
def update_task(task_id: str, body: TaskPatch, identity: CurrentIdentity, service: Service, response: Response,
                if_match: IfMatch = None) -> Task:
    return tagged(response, service.update(identity, task_id, body, if_match))


@router.delete("/tasks/{task_id}", status_code=204, summary="Delete a task")
def delete_task(task_id: str, identity: CurrentIdentity, service: Service, if_match: IfMatch = None) -> Response:
    service.delete(identity, task_id, if_match)
    return Response(status_code=204)


app = create_app("Crewhouse tasks: writes", [router])
handler = lambda_handler(app, __name__)
