"""What a change to a task implies elsewhere: search text, the sync log, reminder schedules and the
domain event. Pure functions of the item's old and new images; workers.py applies them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crewhouse.tasks.models.task import OPEN_STATUSES, Task

Item = dict[str, Any]
SEARCH_WEIGHTS = {"title": 3.0, "tags": 2.0, "description": 1.0}


@dataclass(frozen=True)
class TaskChange:
    owner: str
    task_id: str
    operation: str  # "upsert" | "delete"
    old_text: dict[str, str] | None
    new_text: dict[str, str] | None
    reminders_to_delete: list[str] = field(default_factory=list)
    reminders_to_put: dict[str, str] = field(default_factory=dict)  # schedule name -> UTC ISO time
    event_type: str | None = None
    event_detail: dict[str, Any] = field(default_factory=dict)
    version: int | None = None
    snapshot: dict[str, Any] | None = None  # the task as the API shows it (upserts), for the sync log
    old_tags: list[str] = field(default_factory=list)
    new_tags: list[str] = field(default_factory=list)


def searchable_text(item: Item | None) -> dict[str, str] | None:
    if not item:
        return None
    return {"title": item.get("title", ""), "description": item.get("description", ""),
            "tags": " ".join(item.get("tags") or [])}


def sync_snapshot(item: Item | None) -> dict[str, Any] | None:
    """The task as ``GET /tasks/{id}`` shows it (without the label, which depends on other tasks)."""
    if not item:
        return None
    return Task.model_validate({**item, "label": None}).model_dump(mode="json")


def reminder_name(task_id: str, index: int) -> str:
    return f"task-{task_id}-{index}"


def _schedules(item: Item | None, now: datetime) -> dict[str, str]:
    if not item or item.get("status") not in OPEN_STATUSES:
        return {}
    due: dict[str, str] = {}
    for index, when in enumerate(item.get("reminder_times") or []):
        if datetime.fromisoformat(when) > now:
            due[reminder_name(item["id"], index)] = when
    return due


def _event(old: Item | None, new: Item | None) -> str | None:
    if new is None:
        return "task.deleted"
    if old is None:
        return "task.created"
    if new.get("status") == "done" and old.get("status") != "done":
        return "task.completed"
    if old.get("version") == new.get("version"):
        return None
    return "task.updated"


def task_change(old: Item | None, new: Item | None, now: datetime) -> TaskChange:
    current = new or old
    assert current is not None
    before, after = _schedules(old, now), _schedules(new, now)
    tenant, user = current["PK"].split("#")[1], current["PK"].split("#")[3]
    return TaskChange(
        owner=current["PK"],
        task_id=current["id"],
        operation="delete" if new is None else "upsert",
        old_text=searchable_text(old),
        new_text=searchable_text(new),
        reminders_to_delete=sorted(set(before) - set(after)),
        reminders_to_put={k: v for k, v in after.items() if before.get(k) != v},
        event_type=_event(old, new),
        event_detail={"tenant_id": tenant, "user_id": user, "task_id": current["id"],
                      "title": current.get("title"), "status": current.get("status"),
                      "version": current.get("version")},
        version=current.get("version"),
        snapshot=sync_snapshot(new),
        old_tags=list((old or {}).get("tags") or []),
        new_tags=list((new or {}).get("tags") or []),
    )
