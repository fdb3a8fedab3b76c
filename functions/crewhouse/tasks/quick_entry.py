"""``POST /tasks/quick-add``: one line becomes a task, and the answer says what was understood."""

from __future__ import annotations

from pydantic import ValidationError

from crewhouse.core.errors import ValidationProblem
from crewhouse.core.identity import Identity
from crewhouse.tasks import keys
from crewhouse.tasks.logic import TaskService
from crewhouse.tasks.models.actions import MoveRequest
from crewhouse.tasks.models.create import TaskCreate
from crewhouse.tasks.models.quick_add import QuickAddRequest, QuickAddResult
from crewhouse.tasks.models.task import Task
from crewhouse.tasks.quick_add import QuickAddError, parse_quick_add


def quick_add(service: TaskService, identity: Identity, request: QuickAddRequest) -> QuickAddResult:
    timezone = service.timezone_for(identity, request.timezone) or "UTC"
    try:
        parsed = parse_quick_add(request.text, now=service.clock(), timezone=timezone)
        fields = TaskCreate(
            title=parsed.title or request.text.strip(),
            priority=parsed.priority or "B",
            planned_date=parsed.planned_date,
            due=parsed.due,
            timezone=timezone if (parsed.due or parsed.recurrence) else request.timezone,
            recurrence=parsed.recurrence,
            tags=parsed.tags,
        )
    except QuickAddError as exc:
        raise ValidationProblem(f"The text cannot become a task: {exc}.", errors=[
            {"path": "body.text", "message": str(exc), "type": "quick_add"}]) from exc
    except ValidationError as exc:
        # The client sent only ``text``: name it, and say which field read from it broke which limit.
        errors = [{"path": "body.text", "type": e["type"],
                   "message": f"the {'.'.join(map(str, e['loc'])) or 'task'} read from it: {e['msg']}"}
                  for e in exc.errors(include_url=False, include_input=False)]
        raise ValidationProblem("The task read from the text would be invalid: "
                                + "; ".join(e["message"] for e in errors) + ".", errors=errors) from exc
    task = service.create(identity, fields)
    if parsed.position:
        task = _move_to_position(service, identity, task.id, parsed.position)
    return QuickAddResult(task=task, understood=[u.model_dump() for u in parsed.understood])


def _move_to_position(service: TaskService, identity: Identity, task_id: str, position: int) -> Task:
    """``A1`` means first among the day's A tasks: move before whoever holds that place now."""
    task = service.get(identity, task_id)
    owner = keys.owner_pk(identity.tenant_id, identity.user_id)
    planned = task.planned_date.isoformat() if task.planned_date else None
    items = service.store.first_in_group(owner, planned, task.priority, position)
    if len(items) >= position and items[position - 1]["id"] != task_id:
        return service.move(identity, task_id, MoveRequest(before_id=items[position - 1]["id"]))
    return task
