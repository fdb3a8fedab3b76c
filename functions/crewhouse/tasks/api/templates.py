"""Tasks function for task templates: create, list, get, delete, and make tasks from one."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.http import create_app, lambda_handler
from crewhouse.core.pagination import Page, PageRequest, page_request
from crewhouse.tasks.api import CurrentIdentity, Service, Settings
from crewhouse.tasks.models.task import Task
from crewhouse.tasks.models.templates import InstantiateRequest, Template, TemplateCreate

router = APIRouter(tags=["tasks"])


@router.post("/task-templates", status_code=201, response_model=Template, summary="Create a task template")
def create_template(body: TemplateCreate, identity: CurrentIdentity, service: Service) -> Template:
    return service.create_template(identity, body)


@router.get("/task-templates", response_model=Page[Template], summary="List task templates")
def list_templates(identity: CurrentIdentity, service: Service, settings: Settings,
                   page: Annotated[PageRequest, Depends(page_request)]) -> Page[Template]:
    scope = cursor_scope(identity, "task-templates")
    items, last = service.list_templates(identity, page.limit, page_start(settings, page.cursor, scope))
    return Page[Template](items=items, next_cursor=page_next(settings, last, scope))


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


app = create_app("Crewhouse tasks: templates", [router])
handler = lambda_handler(app, __name__)
