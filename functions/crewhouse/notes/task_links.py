"""Tasks made from notes, through the tasks context's own logic layer.

The notes function creates the task in-process with ``crewhouse.tasks.logic.TaskService`` over a
``DynamoTaskStore`` on the tasks table, and for that holds a narrow grant on the tasks table (GetItem,
BatchGetItem, Query, PutItem: what ``TaskService.create``/``get`` use, no update or delete). Why this and not
an HTTP call to the tasks API or an event:

- the client gets the created tasks in the response, with their ids and labels, in one request;
- every task rule (validation, ABC ordering rank, label) is the tasks context's own code, not a copy, and
  the tasks table's stream still sees the write, so task search, sync and domain events follow as for any
  task;
- no service-to-service credentials or network hop: both functions ship the same code asset, and the
  tasks logic layer is pure (boto3 only behind the store).

The cost is a code dependency from notes on the tasks logic layer and write access to another context's
table; both are confined to this module (imported only by ``POST /notes/{id}/tasks``).
"""

from __future__ import annotations

from typing import Any

from crewhouse.core.errors import Conflict, NotFound
from crewhouse.core.identity import Identity


class TaskServiceMaker:
    """``crewhouse.notes.logic.TaskMaker`` over the tasks context's service."""

    def __init__(self) -> None:
        from crewhouse.tasks.wiring import service_for

        self.service = service_for()

    def create(self, identity: Identity, task_id: str, title: str, description: str, *, tags: list[str],
               priority: str, planned_date: str | None) -> dict[str, Any]:
        from crewhouse.tasks.models.create import TaskCreate

        fields = TaskCreate.model_validate({"title": title, "description": description, "tags": tags,
                                            "priority": priority, "planned_date": planned_date})
        try:
            return self.service.create(identity, fields, task_id=task_id).model_dump(mode="json")
        except Conflict:
            found = self.find(identity, task_id)  # a concurrent retry made it first
            if found is None:
                raise
            return found

    def find(self, identity: Identity, task_id: str) -> dict[str, Any] | None:
        try:
            return self.service.get(identity, task_id).model_dump(mode="json")
        except NotFound:
            return None
