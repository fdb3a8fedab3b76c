"""Task rules: ABC ordering, dependencies, recurrence, reminders and templates. No boto3 here.

The service talks to a :class:`TaskStore` port (DynamoDB in production, see store.py) and keeps every
read on the owner's partition: a request's work depends on what it touches, not on how many tasks
the user has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from crewhouse.core.business_metrics import BusinessMetric, record
from crewhouse.core.errors import Conflict, NotFound, ValidationProblem
from crewhouse.core.etag import require_version
from crewhouse.core.identity import Identity
from crewhouse.core.tags import normalise_tags
from crewhouse.tasks import keys, ranking
from crewhouse.tasks.models.task import MAX_DEPTH, OPEN_STATUSES, Reminder, Task

if TYPE_CHECKING:
    # Request and template models are built by the functions whose routes take them (crewhouse.tasks.models):
    # a function that only reads tasks does not build them.
    from crewhouse.tasks.models.actions import MoveRequest
    from crewhouse.tasks.models.create import TaskCreate
    from crewhouse.tasks.models.patch import TaskPatch
    from crewhouse.tasks.models.templates import Template, TemplateCreate

Item = dict[str, Any]
Resume = dict[str, Any]
Page = tuple[list[Item], Resume | None]
GROUP_FIELDS = ("planned_date", "priority")


class TaskStore(Protocol):
    """What the rules need of storage, in their own words (``store.DynamoTaskStore`` on DynamoDB).

    ``owner`` is the tenant-and-user key (``keys.owner_pk``); ``start`` and the second member of a page are
    the store's opaque resume points. Items are plain task fields.
    """

    def task(self, owner: str, task_id: str) -> Item | None: ...

    def tasks(self, owner: str, task_ids: Iterable[str]) -> dict[str, Item]: ...

    def add_task(self, owner: str, task: Item) -> None: ...

    def task_tags(self, owner: str, limit: int, start: Any) -> tuple[list[Item], Any]: ...

    def replace_task(self, owner: str, task: Item, expected_version: int) -> None: ...

    def complete_with_next(self, owner: str, done: Item, expected_version: int, next_task: Item) -> bool: ...

    def delete_task(self, owner: str, task_id: str, expected_version: int) -> None: ...

    def template(self, owner: str, template_id: str) -> Item | None: ...

    def add_template(self, owner: str, template: Item) -> None: ...

    def delete_template(self, owner: str, template_id: str) -> None: ...

    def templates(self, owner: str, limit: int, start: Resume | None) -> Page: ...

    def planned(self, owner: str, *, day: str | None = None, someday: bool = False, first_day: str | None = None,
                last_day: str | None = None, limit: int, start: Resume | None,
                filters: Mapping[str, Any] | None = None) -> Page: ...

    def position_in_group(self, owner: str, task: Mapping[str, Any]) -> int: ...

    def group_ids(self, owner: str, planned: str | None, letter: str, *, through_rank: str) -> list[str]: ...

    def first_in_group(self, owner: str, planned: str | None, letter: str, count: int) -> list[Item]: ...

    def last_rank(self, owner: str, planned: str | None, letter: str) -> str | None: ...

    def neighbour_rank(self, owner: str, planned: str | None, letter: str, rank: str, *, forward: bool,
                       skip: str) -> str | None: ...

    def due_between(self, owner: str, low: str, high: str, *, limit: int, start: Resume | None,
                    filters: Mapping[str, Any] | None = None) -> Page: ...

    def subtasks(self, owner: str, parent_id: str, *, limit: int, start: Resume | None,
                 filters: Mapping[str, Any] | None = None) -> Page: ...


class ListFilters(NamedTuple):
    # A NamedTuple, not a frozen dataclass: dataclasses compiles six methods when the class is defined
    # (~4 ms of every cold start). Its repr is the same, and the cursor scope is made from the repr.
    planned_date: date | None = None
    date_from: date | None = None
    date_to: date | None = None
    someday: bool = False
    due_from: datetime | None = None
    due_to: datetime | None = None
    status: tuple[str, ...] = ()
    priority: str | None = None
    tag: str | None = None
    parent_id: str | None = None

    def attribute_filters(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.status:
            found["status"] = list(self.status)
        if self.priority:
            found["priority"] = self.priority
        if self.tag:
            found["tags"] = self.tag.lower().lstrip("#")
        return found


def _owner(identity: Identity) -> str:
    return keys.owner_pk(identity.tenant_id, identity.user_id)


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def new_ulid() -> str:
    """A new id: a ULID (sortable by creation time). ``ulid`` is imported by the routes that create."""
    from ulid import ULID

    return str(ULID())


class TaskService:
    def __init__(self, store: TaskStore, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 new_id: Callable[[], str] = new_ulid,
                 timezone_of: Callable[[str], str | None] = lambda principal: None) -> None:
        self.store = store
        self.clock = clock
        self.new_id = new_id
        self.timezone_of = timezone_of  # the person's profile time zone, asked only when a task needs one

    def timezone_for(self, identity: Identity, given: str | None) -> str | None:
        """The time zone a request means: the one it names, else the caller's profile's (None: UTC)."""
        return given or self.timezone_of(identity.user_id)

    # --- reading ------------------------------------------------------------------------------------

    def get(self, identity: Identity, task_id: str) -> Task:
        item = self._load(identity, task_id)
        return self.to_task(item, self._label(_owner(identity), item))

    def _load(self, identity: Identity, task_id: str) -> Item:
        item = self.store.task(_owner(identity), task_id)
        if item is None:
            raise NotFound(f"No task {task_id}.")  # also another user's or tenant's task
        return item

    def _label(self, owner: str, item: Item) -> str:
        return f"{item['priority']}{self.store.position_in_group(owner, item)}"

    @staticmethod
    def to_task(item: Item, label: str | None = None) -> Task:
        return Task.model_validate({**item, "label": label})

    def list_tasks(self, identity: Identity, filters: ListFilters, limit: int, start: Resume | None
             ) -> tuple[list[Task], Resume | None]:
        owner = _owner(identity)
        attribute_filters = filters.attribute_filters()
        if filters.due_from or filters.due_to:
            low = _iso(_utc(filters.due_from)) if filters.due_from else ""
            high = (_iso(_utc(filters.due_to)) or "") + "~" if filters.due_to else "~"
            items, last = self.store.due_between(owner, low or "0", high, limit=limit, start=start,
                                                 filters=attribute_filters)
            return [self.to_task(i, self._label(owner, i)) for i in items], last
        if filters.parent_id:
            items, last = self.store.subtasks(owner, filters.parent_id, limit=limit, start=start,
                                              filters=attribute_filters)
            return [self.to_task(i, self._label(owner, i)) for i in items], last
        items, last = self.store.planned(
            owner, day=filters.planned_date.isoformat() if filters.planned_date else None, someday=filters.someday,
            first_day=_iso(filters.date_from), last_day=_iso(filters.date_to), limit=limit, start=start,
            filters=attribute_filters)
        return self._with_labels(owner, items, exact=bool(attribute_filters)), last

    def _with_labels(self, owner: str, items: list[Item], *, exact: bool) -> list[Task]:
        """Labels renumber on read. Unfiltered pages are contiguous within a group: count what precedes
        its first task, then step on. Filtered pages skip tasks, so each group present in the page is read
        once (keys only, up to its last task on the page) and positions come from that order."""
        if exact:
            positions: dict[str, int] = {}
            last_in_group: dict[tuple[str | None, str], str] = {}
            for item in items:
                group_key = (item.get("planned_date"), item["priority"])
                last_in_group[group_key] = max(last_in_group.get(group_key, ""), item["rank"])
            for (planned, letter), last_rank in last_in_group.items():
                members = self.store.group_ids(owner, planned, letter, through_rank=last_rank)
                positions.update({task_id: index for index, task_id in enumerate(members, start=1)})
            return [self.to_task(item, f"{item['priority']}{positions.get(item['id'], 0)}") for item in items]
        tasks: list[Task] = []
        previous_group: str | None = None
        position = 0
        for item in items:
            group = f"{keys.plan_key(item.get('planned_date'))}#{item['priority']}"
            if group != previous_group:
                position = self.store.position_in_group(owner, item)
            else:
                position += 1
            previous_group = group
            tasks.append(self.to_task(item, f"{item['priority']}{position}"))
        return tasks

    # --- writing ------------------------------------------------------------------------------------

    def create(self, identity: Identity, fields: TaskCreate, *, task_id: str | None = None) -> Task:
        owner = _owner(identity)
        now = self.clock()
        data = fields.model_dump(mode="json")
        if data.get("due") or data.get("recurrence"):  # a wall-clock time to place: in whose zone
            data["timezone"] = self.timezone_for(identity, data.get("timezone"))
        item = self._validated_item(owner, data, task_id or self.new_id(), now)
        item.update(created_at=now.isoformat(), updated_at=now.isoformat(),
                    version=1, completed_at=now.isoformat() if item["status"] == "done" else None)
        item["rank"] = self._end_rank(owner, item.get("planned_date"), item["priority"])
        self.store.add_task(owner, item)
        record(BusinessMetric.TASKS_CREATED, identity.tenant_id)
        if item["status"] == "done":
            record(BusinessMetric.TASKS_COMPLETED, identity.tenant_id)
        return self.to_task(item, self._label(owner, item))

    def update(self, identity: Identity, task_id: str, patch: TaskPatch, if_match: str | None) -> Task:
        item = self._load(identity, task_id)
        require_version(if_match, item["version"])
        changes = patch.model_dump(mode="json", exclude_unset=True)
        merged = {**item, **changes}
        _check_fields(merged)
        now = self.clock()
        owner = _owner(identity)
        updated = self._validated_item(owner, merged, task_id, now, existing=item)
        if any(updated.get(f) != item.get(f) for f in GROUP_FIELDS):
            updated["rank"] = self._end_rank(owner, updated.get("planned_date"), updated["priority"])
        if updated["status"] == "done" and item["status"] != "done":
            updated["completed_at"] = now.isoformat()
        elif updated["status"] != "done":
            updated["completed_at"] = None
        updated.update(updated_at=now.isoformat(), version=item["version"] + 1)
        self.store.replace_task(owner, updated, item["version"])
        if updated["status"] == "done" and item["status"] != "done":
            record(BusinessMetric.TASKS_COMPLETED, identity.tenant_id)
        return self.to_task(updated, self._label(owner, updated))

    def delete(self, identity: Identity, task_id: str, if_match: str | None) -> None:
        item = self._load(identity, task_id)
        require_version(if_match, item["version"])
        self.store.delete_task(_owner(identity), task_id, item["version"])

    def move(self, identity: Identity, task_id: str, request: MoveRequest) -> Task:
        """Reorder within or across (day, letter) groups by writing this one task's rank."""
        item = self._load(identity, task_id)
        owner = _owner(identity)
        planned = None if request.someday else (
            request.planned_date.isoformat() if request.planned_date else item.get("planned_date"))
        letter = request.priority or item["priority"]
        group = f"{keys.plan_key(planned)}#{letter}#"
        anchor_id = request.before_id or request.after_id
        if anchor_id:
            if anchor_id == task_id:
                raise ValidationProblem("A task cannot be moved relative to itself.")
            anchor = self._load(identity, anchor_id)
            if keys.plan_key(anchor.get("planned_date")) != keys.plan_key(planned) or anchor["priority"] != letter:
                raise ValidationProblem(f"Task {anchor_id} is not in the target group {group[:-1]}.")
            if request.before_id:
                neighbour = self.store.neighbour_rank(owner, planned, letter, anchor["rank"], forward=False,
                                                      skip=task_id)
                rank = ranking.rank_between(neighbour, anchor["rank"])
            else:
                neighbour = self.store.neighbour_rank(owner, planned, letter, anchor["rank"], forward=True,
                                                      skip=task_id)
                rank = ranking.rank_between(anchor["rank"], neighbour)
        elif keys.plan_key(planned) == keys.plan_key(item.get("planned_date")) and letter == item["priority"]:
            return self.to_task(item, self._label(owner, item))  # nothing to move
        else:
            rank = self._end_rank(owner, planned, letter)
        moved = {**item, "planned_date": planned, "priority": letter, "rank": rank,
                 "updated_at": self.clock().isoformat(), "version": item["version"] + 1}
        self.store.replace_task(owner, moved, item["version"])
        return self.to_task(moved, self._label(owner, moved))

    def _end_rank(self, owner: str, planned: str | None, letter: str) -> str:
        return ranking.rank_between(self.store.last_rank(owner, planned, letter), None)

    # --- completion ---------------------------------------------------------------------------------

    def complete(self, identity: Identity, task_id: str, if_match: str | None = None) -> Task:
        """Mark done. Open blockers are a 409; a recurring task gets exactly one next occurrence."""
        item = self._load(identity, task_id)
        require_version(if_match, item["version"])
        owner = _owner(identity)
        if item["status"] == "done":
            return self.to_task(item, self._label(owner, item))  # completing twice changes nothing
        blockers = self.open_blockers(owner, item)
        if blockers:
            raise Conflict(f"Task {task_id} is blocked by {len(blockers)} open task(s).", slug="blocked",
                           blockers=blockers)
        now = self.clock()
        done = {**item, "status": "done", "completed_at": now.isoformat(), "updated_at": now.isoformat(),
                "version": item["version"] + 1}
        next_item = self._next_occurrence(owner, item, now)
        if next_item is None:
            self.store.replace_task(owner, done, item["version"])
        else:
            done["next_occurrence_id"] = next_item["id"]
            self.store.complete_with_next(owner, done, item["version"], next_item)
        record(BusinessMetric.TASKS_COMPLETED, identity.tenant_id)
        return self.to_task(done, self._label(owner, done))

    def reopen(self, identity: Identity, task_id: str, if_match: str | None = None) -> Task:
        item = self._load(identity, task_id)
        require_version(if_match, item["version"])
        owner = _owner(identity)
        if item["status"] in OPEN_STATUSES:
            return self.to_task(item, self._label(owner, item))
        reopened = {**item, "status": "todo", "completed_at": None, "updated_at": self.clock().isoformat(),
                    "version": item["version"] + 1}
        self.store.replace_task(owner, reopened, item["version"])
        return self.to_task(reopened, self._label(owner, reopened))

    def open_blockers(self, owner: str, item: Item) -> list[dict[str, str]]:
        depends_on = item.get("depends_on") or []
        if not depends_on:
            return []
        found = self.store.tasks(owner, depends_on)
        return [{"id": b["id"], "title": b["title"], "status": b["status"]}
                for b in found.values() if b["status"] in OPEN_STATUSES]

    def _next_occurrence(self, owner: str, item: Item, now: datetime) -> Item | None:
        rule = item.get("recurrence")
        if not rule:
            return None
        from crewhouse.tasks import recurrence

        timezone = item.get("timezone") or "UTC"
        next_item = dict(item)
        if item.get("due"):
            due = datetime.fromisoformat(item["due"])
            start = datetime.fromisoformat(item["series_start"]) if item.get("series_start") else None
            following = recurrence.next_occurrence(rule, due, timezone, start=start)
            if following is None:
                return None
            next_item["due"] = following.isoformat()
            next_item["planned_date"] = following.date().isoformat()
            shift = following - due
        else:
            base = date.fromisoformat(item["planned_date"]) if item.get("planned_date") else now.date()
            first = date.fromisoformat(item["series_start"][:10]) if item.get("series_start") else None
            following_date = recurrence.next_date(rule, base, timezone, start=first)
            if following_date is None:
                return None
            next_item["planned_date"] = following_date.isoformat()
            shift = following_date - base
        # Deterministic id: a retried or repeated completion cannot create a second occurrence.
        next_id = _successor_id(item["id"])
        next_item.update(id=next_id, status="todo", completed_at=None, version=1,
                         created_at=now.isoformat(), updated_at=now.isoformat(), previous_occurrence_id=item["id"],
                         reminders=[_shift_reminder(r, shift) for r in item.get("reminders") or []])
        next_item.pop("next_occurrence_id", None)
        next_item["rank"] = self._end_rank(owner, next_item.get("planned_date"), item["priority"])
        next_item["due_utc"] = _iso(_utc(datetime.fromisoformat(next_item["due"]))) if next_item.get("due") else None
        next_item["reminder_times"] = _reminder_times(next_item, now, allow_past=True)
        return next_item

    # --- dependencies -------------------------------------------------------------------------------

    def add_dependency(self, identity: Identity, task_id: str, depends_on: str) -> Task:
        from crewhouse.tasks.graph import find_cycle

        if task_id == depends_on:
            raise Conflict("A task cannot depend on itself.", slug="dependency-cycle", cycle=[task_id, task_id])
        item = self._load(identity, task_id)
        blocker = self._load(identity, depends_on)
        current = list(item.get("depends_on") or [])
        owner = _owner(identity)
        if depends_on in current:
            return self.to_task(item, self._label(owner, item))
        if len(current) >= 100:
            raise ValidationProblem("A task can depend on at most 100 tasks.")

        def edges(node: str) -> list[str]:
            found = blocker if node == depends_on else self.store.task(owner, node)  # the blocker is read already
            return list(found.get("depends_on") or []) if found else []

        cycle = find_cycle(task_id, depends_on, edges)
        if cycle:
            raise Conflict("This dependency would close a cycle.", slug="dependency-cycle", cycle=cycle)
        updated = {**item, "depends_on": [*current, depends_on], "updated_at": self.clock().isoformat(),
                   "version": item["version"] + 1}
        self.store.replace_task(owner, updated, item["version"])
        return self.to_task(updated, self._label(owner, updated))

    def remove_dependency(self, identity: Identity, task_id: str, other: str) -> Task:
        item = self._load(identity, task_id)
        current = list(item.get("depends_on") or [])
        if other not in current:
            raise NotFound(f"Task {task_id} does not depend on {other}.")
        updated = {**item, "depends_on": [d for d in current if d != other], "updated_at": self.clock().isoformat(),
                   "version": item["version"] + 1}
        owner = _owner(identity)
        self.store.replace_task(owner, updated, item["version"])
        return self.to_task(updated, self._label(owner, updated))

    def retag(self, identity: Identity, task_id: str, old: str, new: str) -> bool:
        """Replace tag ``old`` with ``new`` on one task (a merge when it has both): one read, one conditional
        write. False when the task is gone or no longer has ``old``."""
        owner = _owner(identity)
        item = self.store.task(owner, task_id)
        if item is None or old not in (item.get("tags") or []):
            return False
        tags = normalise_tags([new if tag == old else tag for tag in item["tags"]])
        self.store.replace_task(owner, {**item, "tags": tags, "updated_at": self.clock().isoformat(),
                                        "version": item["version"] + 1}, item["version"])
        return True

    def tags_page(self, identity: Identity, start: Any, limit: int = 100) -> tuple[list[tuple[str, list[str]]], Any]:
        """A page of the caller's tagged tasks as ``(id, tags)``, for rebuilding the tag index."""
        items, resume = self.store.task_tags(_owner(identity), limit, start)
        return [(str(i["id"]), list(i["tags"])) for i in items if i.get("tags")], resume

    # --- templates ----------------------------------------------------------------------------------

    def create_template(self, identity: Identity, body: TemplateCreate) -> Template:
        from crewhouse.tasks.models.templates import Template

        template_id = self.new_id()
        item = {"id": template_id, "created_at": self.clock().isoformat(), **body.model_dump(mode="json")}
        self.store.add_template(_owner(identity), item)
        return Template.model_validate(item)

    def get_template(self, identity: Identity, template_id: str) -> Template:
        from crewhouse.tasks.models.templates import Template

        item = self.store.template(_owner(identity), template_id)
        if item is None:
            raise NotFound(f"No task template {template_id}.")
        return Template.model_validate(item)

    def list_templates(self, identity: Identity, limit: int, start: Resume | None
                       ) -> tuple[list[Template], Resume | None]:
        from crewhouse.tasks.models.templates import Template

        items, last = self.store.templates(_owner(identity), limit, start)
        return [Template.model_validate(i) for i in items], last

    def delete_template(self, identity: Identity, template_id: str) -> None:
        self.get_template(identity, template_id)
        self.store.delete_template(_owner(identity), template_id)

    def instantiate(self, identity: Identity, template_id: str, planned_date: date | None,
                    due: datetime | None) -> list[Task]:
        template = self.get_template(identity, template_id)
        overrides: dict[str, Any] = {}
        if planned_date:
            overrides["planned_date"] = planned_date
        if due:
            overrides["due"] = due
        parent = self.create(identity, template.task.model_copy(update=overrides))
        children = [self.create(identity, sub.model_copy(update={**overrides, "parent_id": parent.id}))
                    for sub in template.subtasks]
        return [parent, *children]

    # --- validation ---------------------------------------------------------------------------------

    def _validated_item(self, owner: str, fields: dict[str, Any], task_id: str, now: datetime,
                        existing: Item | None = None) -> Item:
        item = dict(fields)
        item["id"] = task_id
        if item.get("recurrence"):
            from crewhouse.tasks.recurrence import RecurrenceError, parse_rule

            try:
                item["recurrence"] = parse_rule(item["recurrence"])
            except RecurrenceError as exc:
                raise ValidationProblem(f"Invalid recurrence rule: {exc}", errors=[
                    {"path": "body.recurrence", "message": str(exc), "type": "rrule"}]) from exc
        parent_id = item.get("parent_id")
        if parent_id and (existing is None or existing.get("parent_id") != parent_id):
            self._check_parent(owner, task_id, parent_id)
        new_dependencies = set(item.get("depends_on") or []) - set((existing or {}).get("depends_on") or [])
        if task_id in new_dependencies:
            raise Conflict("A task cannot depend on itself.", slug="dependency-cycle", cycle=[task_id, task_id])
        if new_dependencies:
            found = self.store.tasks(owner, new_dependencies)
            missing = sorted(d for d in new_dependencies if d not in found)
            if missing:
                raise ValidationProblem(f"Unknown tasks in depends_on: {', '.join(missing)}.",
                                        errors=[{"path": "body.depends_on", "message": "unknown task",
                                                 "type": "unknown"}])
        due = item.get("due")
        item["due_utc"] = _iso(_utc(datetime.fromisoformat(due))) if due else None
        if due and not item.get("planned_date"):
            zone = item.get("timezone") or "UTC"
            from zoneinfo import ZoneInfo

            item["planned_date"] = datetime.fromisoformat(due).astimezone(ZoneInfo(zone)).date().isoformat()
        if item.get("recurrence") and not item.get("series_start"):
            # COUNT and UNTIL are counted from the series' first occurrence, which every occurrence keeps.
            item["series_start"] = item.get("due") or item.get("planned_date") or now.date().isoformat()
        elif not item.get("recurrence"):
            item["series_start"] = None
        item["reminder_times"] = _reminder_times(item, now, allow_past=existing is not None and
                                                 item.get("reminders") == existing.get("reminders")
                                                 and item.get("due") == existing.get("due"))
        return item

    def _check_parent(self, owner: str, task_id: str, parent_id: str) -> None:
        depth = 1
        current: str | None = parent_id
        while current is not None:
            if current == task_id:
                raise Conflict("A task cannot be its own ancestor.", slug="parent-cycle")
            parent = self.store.task(owner, current)
            if parent is None:
                raise ValidationProblem(f"Unknown parent task {current}.", errors=[
                    {"path": "body.parent_id", "message": "unknown task", "type": "unknown"}])
            depth += 1
            if depth > MAX_DEPTH:
                raise ValidationProblem(f"Subtasks nest at most {MAX_DEPTH} levels deep.", errors=[
                    {"path": "body.parent_id", "message": "too deep", "type": "depth"}])
            current = parent.get("parent_id") or None


def _check_fields(merged: Mapping[str, Any]) -> None:
    """The task after a PATCH must still be a valid task (a null title, say, is a 422)."""
    from pydantic import ValidationError

    from crewhouse.tasks.models.create import TaskCreate

    try:
        TaskCreate.model_validate({k: merged[k] for k in TaskCreate.model_fields if k in merged})
    except ValidationError as exc:
        errors = [{"path": "body." + ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
                  for e in exc.errors()]
        raise ValidationProblem("The change would leave the task invalid.", errors=errors) from exc


def _successor_id(task_id: str) -> str:
    """The next occurrence's id, derived from the task's: the same completion always names the same task."""
    from ulid import ULID

    seed = hashlib.sha256(f"{task_id}:next".encode()).digest()
    try:
        timestamp = ULID.from_str(task_id).bytes[:6]
    except ValueError:
        timestamp = seed[10:16]
    return str(ULID.from_bytes(timestamp + seed[:10]))


def _shift_reminder(reminder: dict[str, Any], shift: timedelta) -> dict[str, Any]:
    if reminder.get("at"):
        return {**reminder, "at": (datetime.fromisoformat(reminder["at"]) + shift).isoformat()}
    return reminder


def _reminder_times(item: Mapping[str, Any], now: datetime, *, allow_past: bool) -> list[str]:
    """When each reminder fires (UTC ISO). A reminder in the past is a 422 unless it was already there."""
    times: list[str] = []
    for index, raw in enumerate(item.get("reminders") or []):
        reminder = Reminder.model_validate(raw)
        if reminder.at is not None:
            when = _utc(reminder.at)
        else:
            if not item.get("due"):
                raise ValidationProblem("A reminder before due needs a due time.", errors=[
                    {"path": f"body.reminders.{index}", "message": "no due time", "type": "reminder"}])
            when = _utc(datetime.fromisoformat(item["due"])) - timedelta(minutes=reminder.minutes_before_due or 0)
        if when <= now and not allow_past:
            raise ValidationProblem(f"Reminder {index + 1} is in the past ({when.isoformat()}).", errors=[
                {"path": f"body.reminders.{index}", "message": "in the past", "type": "reminder"}])
        times.append(when.replace(microsecond=0).isoformat())
    return times
