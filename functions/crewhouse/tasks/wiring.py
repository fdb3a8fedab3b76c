"""How the tasks context's service is built: the one place, for its API, its workers and other contexts.

Settings default to the tasks context's own, read from the calling function's environment; nothing else
reads them. Imports are lazy: a handler pays for the service only when it builds one (cold starts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crewhouse.core.aws import aws_client
from crewhouse.core.settings import load_settings
from crewhouse.tasks.settings import TasksSettings

if TYPE_CHECKING:
    from crewhouse.tasks.logic import TaskService


def service_for(settings: TasksSettings | None = None) -> TaskService:
    from crewhouse.core.table import Table
    from crewhouse.core.tenancy import profile_timezone
    from crewhouse.tasks.logic import TaskService
    from crewhouse.tasks.store import DynamoTaskStore

    settings = settings or load_settings(TasksSettings)
    return TaskService(DynamoTaskStore(Table(aws_client("dynamodb", settings), settings.tasks_table)),
                       timezone_of=profile_timezone)
