"""Tasks function for acting on one task: move it, complete or reopen it, add or remove a dependency."""

from fastapi import APIRouter, Request, Response

from crewhouse.core.http import IdempotencyKey, IfMatch, create_app, lambda_handler
from crewhouse.core.idempotency import run_idempotent
from crewhouse.tasks.api import CurrentIdentity, Service, Settings, tagged
from crewhouse.tasks.models.actions import DependencyRequest, MoveRequest
from crewhouse.tasks.models.task import Task

router = APIRouter(tags=["tasks"])


@router.post("/tasks/{task_id}/move", response_model=Task, summary="Reorder or regroup a task (one write)")
def move_task(task_id: str, body: MoveRequest, identity: CurrentIdentity, service: Service,
              response: Response) -> Task:
    return tagged(response, service.move(identity, task_id, body))


@router.post("/tasks/{task_id}/complete", response_model=Task, summary="Complete a task (409 while blocked)")
def complete_task(task_id: str, identity: CurrentIdentity, service: Service, settings: Settings, request: Request,
                  response: Response, idempotency_key: IdempotencyKey = None, if_match: IfMatch = None) -> Task:
    result = run_idempotent(settings, identity, f"complete-{task_id}", idempotency_key, {"task_id": task_id},
                            lambda: service.complete(identity, task_id, if_match).model_dump(mode="json"),
                            request.scope.get("aws.context"))
    return tagged(response, Task.model_validate(result))


@router.post("/tasks/{task_id}/reopen", response_model=Task, summary="Reopen a completed or cancelled task")
def reopen_task(task_id: str, identity: CurrentIdentity, service: Service, response: Response,
                if_match: IfMatch = None) -> Task:
    return tagged(response, service.reopen(identity, task_id, if_match))


@router.post("/tasks/{task_id}/dependencies", response_model=Task,
             summary="Block this task by another (409 with the path if it closes a cycle)")
def add_dependency(task_id: str, body: DependencyRequest, identity: CurrentIdentity, service: Service,
                   response: Response) -> Task:
    return tagged(response, service.add_dependency(identity, task_id, body.depends_on))


@router.delete("/tasks/{task_id}/dependencies/{other_id}", response_model=Task, summary="Remove a dependency")
def remove_dependency(task_id: str, other_id: str, identity: CurrentIdentity, service: Service,
                      response: Response) -> Task:
    return tagged(response, service.remove_dependency(identity, task_id, other_id))


app = create_app("Crewhouse tasks: actions", [router])
handler = lambda_handler(app, __name__)
