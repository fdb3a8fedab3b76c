"""The tasks HTTP API (``/tasks``, ``/task-templates``, ``/sync``), served by several Lambda functions.

Each module of this package is one function's handler: a FastAPI app with only its routes, importing only
the models and helpers those routes need. FastAPI builds every route's parameter and response fields when
the module is imported, so a function that serves fewer routes starts faster. API Gateway sends each method
and path to its function (``cdk/crewhouse_cdk/constructs/tasks.py``); ``crewhouse.openapi`` merges them.

=============  ==================================================================================
module         routes
=============  ==================================================================================
``listing``    ``GET /tasks``
``reads``      ``GET /tasks/search``, ``GET /tasks/{task_id}``, ``GET /sync``
``writes``     ``POST /tasks``, ``POST /tasks/quick-add``, ``PATCH`` and ``DELETE /tasks/{task_id}``
``actions``    ``POST /tasks/{task_id}/move|complete|reopen|dependencies``,
               ``DELETE /tasks/{task_id}/dependencies/{other_id}``
``templates``  ``/task-templates`` and ``/task-templates/{template_id}...``
=============  ==================================================================================

This package module holds what they share: the request dependencies, ETags and cursor scopes.
"""

from typing import Annotated

from fastapi import Depends, Response

from crewhouse.core.etag import etag_for
from crewhouse.core.http import current_identity
from crewhouse.core.identity import Identity
from crewhouse.core.settings import load_settings
from crewhouse.tasks.logic import TaskService
from crewhouse.tasks.models.task import Task
from crewhouse.tasks.settings import TasksSettings
from crewhouse.tasks.wiring import service_for

CurrentIdentity = Annotated[Identity, Depends(current_identity)]


def tasks_settings() -> TasksSettings:
    return load_settings(TasksSettings)


Settings = Annotated[TasksSettings, Depends(tasks_settings)]


def task_service(settings: Settings) -> TaskService:
    return service_for(settings)


Service = Annotated[TaskService, Depends(task_service)]


def tagged(response: Response, task: Task) -> Task:
    response.headers["ETag"] = etag_for(task.version)
    return task



