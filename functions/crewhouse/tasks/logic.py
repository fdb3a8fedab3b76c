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

from crewhouse.core.errors import Conflict, NotFound, ValidationProblem
from crewhouse.core.etag import require_version
from crewhouse.core.identity import Identity
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
GROUP_FIELDS = ("planned_date", "priority")


class TaskStore(Protocol):
    def get(self, owner: str, sk: str) -> Item | None: ...

    def batch_get(self, owner: str, sks: Iterable[str]) -> dict[str, Item]: ...

    def put_new(self, item: Item) -> None: ...

    def replace(self, item: Item, expected_version: int) -> None: ...

    def replace_and_create(self, item: Item, expected_version: int, new_item: Item) -> bool: ...

    def delete(self, owner: str, sk: str, expected_version: int | None = None) -> None: ...

    def query(self, *, index: str | None, partition: tuple[str, str], sort: tuple[str, ...] | None = None,
              limit: int = 50, start: dict[str, Any] | None = None, forward: bool = True,
              filters: Mapping[str, Any] | None = None, count_only: bool = False
              ) -> tuple[list[Item], dict[str, Any] | None]: ...

    def count(self, *, index: str, partition: tuple[str, str], sort: tuple[str, ...]) -> int: ...


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
                 new_id: Callable[[], str] = new_ulid) -> None:
        self.store = store
        self.clock = clock
        self.new_id = new_id

    # --- reading ------------------------------------------------------------------------------------

    def get(self, identity: Identity, task_id: str) -> Task:
        item = self._load(identity, task_id)
        return self.to_task(item, self._label(item))

    def _load(self, identity: Identity, task_id: str) -> Item:
        item = self.store.get(keys.owner_pk(identity.tenant_id, identity.user_id), keys.task_sk(task_id))
        if item is None:
            raise NotFound(f"No task {task_id}.")  # also another user's or tenant's task
        return item

    def _label(self, item: Item) -> str:
        group = f"{keys.plan_key(item.get('planned_date'))}#{item['priority']}#"
        before = self.store.count(index="GSI1", partition=("GSI1PK", item["PK"]),
                                  sort=("between", group, f"{group}{item['rank']}"))
        return f"{item['priority']}{before}"  # the range includes the task itself

    @staticmethod
    def to_task(item: Item, label: str | None = None) -> Task:
        return Task.model_validate({**item, "label": label})

    def list_tasks(self, identity: Identity, filters: ListFilters, limit: int, start: dict[str, Any] | None
             ) -> tuple[list[Task], dict[str, Any] | None]:
        owner = keys.owner_pk(identity.tenant_id, identity.user_id)
        attribute_filters = filters.attribute_filters()
        if filters.due_from or filters.due_to:
            low = _iso(_utc(filters.due_from)) if filters.due_from else ""
            high = (_iso(_utc(filters.due_to)) or "") + "~" if filters.due_to else "~"
            items, last = self.store.query(index="GSI2", partition=("GSI2PK", owner),
                                           sort=("between", low or "0", high), limit=limit, start=start,
                                           filters=attribute_filters)
            return [self.to_task(i, self._label(i)) for i in items], last
        if filters.parent_id:
            items, last = self.store.query(index="GSI3", partition=("GSI3PK", keys.parent_pk(owner, filters.parent_id)),
                                           limit=limit, start=start, filters=attribute_filters)
            return [self.to_task(i, self._label(i)) for i in items], last
        sort: tuple[str, ...] | None = None
        if filters.planned_date:
            sort = ("begins", f"{filters.planned_date.isoformat()}#")
        elif filters.someday:
            sort = ("begins", f"{keys.SOMEDAY}#")
        elif filters.date_from or filters.date_to:
            low = filters.date_from.isoformat() if filters.date_from else "0"
            high = (filters.date_to.isoformat() if filters.date_to else "9999-12-31") + "#~"
            sort = ("between", low, high)
        items, last = self.store.query(index="GSI1", partition=("GSI1PK", owner), sort=sort, limit=limit,
                                       start=start, filters=attribute_filters)
        return self._with_labels(items, exact=bool(attribute_filters)), last

    def _with_labels(self, items: list[Item], *, exact: bool) -> list[Task]:
        """Labels renumber on read. Unfiltered pages are contiguous within a group: count what precedes
        its first task, then step on. Filtered pages skip tasks, so each group present in the page is read
        once (keys only, up to its last task on the page) and positions come from that order."""
        if exact:
            positions: dict[str, int] = {}
            last_in_group: dict[str, str] = {}
            for item in items:
                group = f"{keys.plan_key(item.get('planned_date'))}#{item['priority']}#"
                last_in_group[group] = max(last_in_group.get(group, ""), f"{group}{item['rank']}")
            for group, last_sort_key in last_in_group.items():
                members = self._group_members(items[0]["PK"], group, last_sort_key)
                positions.update({task_id: index for index, task_id in enumerate(members, start=1)})
            return [self.to_task(item, f"{item['priority']}{positions.get(item['id'], 0)}") for item in items]
        tasks: list[Task] = []
        previous_group: str | None = None
        position = 0
        for item in items:
            group = f"{keys.plan_key(item.get('planned_date'))}#{item['priority']}"
            if group != previous_group:
                position = int(self._label(item)[1:])
            else:
                position += 1
            previous_group = group
            tasks.append(self.to_task(item, f"{item['priority']}{position}"))
        return tasks

    def _group_members(self, owner: str, group: str, last_sort_key: str) -> list[str]:
        """Ids of a (day, letter) group in order, up to ``last_sort_key`` (one Query a page of 1,000)."""
        ids: list[str] = []
        start: dict[str, Any] | None = None
        while True:
            page, start = self.store.query(index="GSI1", partition=("GSI1PK", owner),
                                           sort=("between", group, last_sort_key), limit=1000, start=start)
            ids.extend(str(member["id"]) for member in page)
            if not start:
                return ids

    # --- writing ------------------------------------------------------------------------------------

    def create(self, identity: Identity, fields: TaskCreate, *, task_id: str | None = None) -> Task:
        owner = keys.owner_pk(identity.tenant_id, identity.user_id)
        now = self.clock()
        item = self._validated_item(owner, fields.model_dump(mode="json"), task_id or self.new_id(), now)
        item.update(PK=owner, SK=keys.task_sk(item["id"]), created_at=now.isoformat(), updated_at=now.isoformat(),
                    version=1, completed_at=now.isoformat() if item["status"] == "done" else None)
        item["rank"] = self._end_rank(owner, item.get("planned_date"), item["priority"])
        self.store.put_new(item)
        return self.to_task(item, self._label(item))

    def update(self, identity: Identity, task_id: str, patch: TaskPatch, if_match: str | None) -> Task:
        item = self._load(identity, task_id)
        require_version(if_match, item["version"])
        changes = patch.model_dump(mode="json", exclude_unset=True)
        merged = {**item, **changes}
        _check_fields(merged)
        now = self.clock()
        updated = self._validated_item(item["PK"], merged, task_id, now, existing=item)
        if any(updated.get(f) != item.get(f) for f in GROUP_FIELDS):
            updated["rank"] = self._end_rank(item["PK"], updated.get("planned_date"), updated["priority"])
        if updated["status"] == "done" and item["status"] != "done":
            updated["completed_at"] = now.isoformat()
        elif updated["status"] != "done":
            updated["completed_at"] = None
        updated.update(updated_at=now.isoformat(), version=item["version"] + 1)
        self.store.replace(updated, item["version"])
        return self.to_task(updated, self._label(updated))

    def delete(self, identity: Identity, task_id: str, if_match: str | None) -> None:
        item = self._load(identity, task_id)
        require_version(if_match, item["version"])
        self.store.delete(item["PK"], item["SK"], item["version"])

    def move(self, identity: Identity, task_id: str, request: MoveRequest) -> Task:
        """Reorder within or across (day, letter) groups by writing this one task's rank."""
        item = self._load(identity, task_id)
        owner = item["PK"]
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
            anchor_sk = f"{group}{anchor['rank']}"
            if request.before_id:
                neighbour = self._neighbour(owner, group, anchor_sk, forward=False, skip=task_id)
                rank = ranking.rank_between(neighbour, anchor["rank"])
            else:
                neighbour = self._neighbour(owner, group, anchor_sk, forward=True, skip=task_id)
                rank = ranking.rank_between(anchor["rank"], neighbour)
        elif keys.plan_key(planned) == keys.plan_key(item.get("planned_date")) and letter == item["priority"]:
            return self.to_task(item, self._label(item))  # nothing to move
        else:
            rank = self._end_rank(owner, planned, letter)
        moved = {**item, "planned_date": planned, "priority": letter, "rank": rank,
                 "updated_at": self.clock().isoformat(), "version": item["version"] + 1}
        self.store.replace(moved, item["version"])
        return self.to_task(moved, self._label(moved))

    def _neighbour(self, owner: str, group: str, anchor_sk: str, *, forward: bool, skip: str) -> str | None:
        sort = (">", anchor_sk) if forward else ("<", anchor_sk)
        items, _ = self.store.query(index="GSI1", partition=("GSI1PK", owner), sort=sort, limit=2, forward=forward)
        for candidate in items:
            if not candidate["GSI1SK"].startswith(group):
                return None
            if candidate["id"] != skip:
                return str(candidate["rank"])
        return None

    def _end_rank(self, owner: str, planned: str | None, letter: str) -> str:
        group = f"{keys.plan_key(planned)}#{letter}#"
        last, _ = self.store.query(index="GSI1", partition=("GSI1PK", owner), sort=("begins", group), limit=1,
                                   forward=False)
        return ranking.rank_between(last[0]["rank"] if last else None, None)

    # --- completion ---------------------------------------------------------------------------------

    def complete(self, identity: Identity, task_id: str, if_match: str | None = None) -> Task:
        """Mark done. Open blockers are a 409; a recurring task gets exactly one next occurrence."""
        item = self._load(identity, task_id)
        require_version(if_match, item["version"])
        if item["status"] == "done":
            return self.to_task(item, self._label(item))  # completing twice changes nothing
        blockers = self.open_blockers(item)
        if blockers:
            raise Conflict(f"Task {task_id} is blocked by {len(blockers)} open task(s).", slug="blocked",
                           blockers=blockers)
        now = self.clock()
        done = {**item, "status": "done", "completed_at": now.isoformat(), "updated_at": now.isoformat(),
                "version": item["version"] + 1}
        next_item = self._next_occurrence(item, now)
        if next_item is None:
            self.store.replace(done, item["version"])
        else:
            done["next_occurrence_id"] = next_item["id"]
            self.store.replace_and_create(done, item["version"], next_item)
        return self.to_task(done, self._label(done))

    def reopen(self, identity: Identity, task_id: str, if_match: str | None = None) -> Task:
        item = self._load(identity, task_id)
        require_version(if_match, item["version"])
        if item["status"] in OPEN_STATUSES:
            return self.to_task(item, self._label(item))
        reopened = {**item, "status": "todo", "completed_at": None, "updated_at": self.clock().isoformat(),
                    "version": item["version"] + 1}
        self.store.replace(reopened, item["version"])
        return self.to_task(reopened, self._label(reopened))

    def open_blockers(self, item: Item) -> list[dict[str, str]]:
        depends_on = item.get("depends_on") or []
        if not depends_on:
            return []
        found = self.store.batch_get(item["PK"], [keys.task_sk(d) for d in depends_on])
        return [{"id": b["id"], "title": b["title"], "status": b["status"]}
                for b in found.values() if b["status"] in OPEN_STATUSES]

    def _next_occurrence(self, item: Item, now: datetime) -> Item | None:
        rule = item.get("recurrence")
        if not rule:
            return None
        from crewhouse.tasks import recurrence

        timezone = item.get("timezone") or "UTC"
        next_item = {k: v for k, v in item.items() if not k.startswith("GSI")}
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
        next_item.update(id=next_id, SK=keys.task_sk(next_id), status="todo", completed_at=None, version=1,
                         created_at=now.isoformat(), updated_at=now.isoformat(), previous_occurrence_id=item["id"],
                         reminders=[_shift_reminder(r, shift) for r in item.get("reminders") or []])
        next_item.pop("next_occurrence_id", None)
        next_item["rank"] = self._end_rank(item["PK"], next_item.get("planned_date"), item["priority"])
        next_item["due_utc"] = _iso(_utc(datetime.fromisoformat(next_item["due"]))) if next_item.get("due") else None
        next_item["reminder_times"] = _reminder_times(next_item, now, allow_past=True)
        return next_item

    # --- dependencies -------------------------------------------------------------------------------

    def add_dependency(self, identity: Identity, task_id: str, depends_on: str) -> Task:
        from crewhouse.tasks.graph import find_cycle

        if task_id == depends_on:
            raise Conflict("A task cannot depend on itself.", slug="dependency-cycle", cycle=[task_id, task_id])
        item = self._load(identity, task_id)
        self._load(identity, depends_on)
        current = list(item.get("depends_on") or [])
        if depends_on in current:
            return self.to_task(item, self._label(item))
        if len(current) >= 100:
            raise ValidationProblem("A task can depend on at most 100 tasks.")
        owner = item["PK"]

        def edges(node: str) -> list[str]:
            found = self.store.get(owner, keys.task_sk(node))
            return list(found.get("depends_on") or []) if found else []

        cycle = find_cycle(task_id, depends_on, edges)
        if cycle:
            raise Conflict("This dependency would close a cycle.", slug="dependency-cycle", cycle=cycle)
        updated = {**item, "depends_on": [*current, depends_on], "updated_at": self.clock().isoformat(),
                   "version": item["version"] + 1}
        self.store.replace(updated, item["version"])
        return self.to_task(updated, self._label(updated))

    def remove_dependency(self, identity: Identity, task_id: str, other: str) -> Task:
        item = self._load(identity, task_id)
        current = list(item.get("depends_on") or [])
        if other not in current:
            raise NotFound(f"Task {task_id} does not depend on {other}.")
        updated = {**item, "depends_on": [d for d in current if d != other], "updated_at": self.clock().isoformat(),
                   "version": item["version"] + 1}
        self.store.replace(updated, item["version"])
        return self.to_task(updated, self._label(updated))

    # --- templates ----------------------------------------------------------------------------------

    def create_template(self, identity: Identity, body: TemplateCreate) -> Template:
        from crewhouse.tasks.models.templates import Template

        owner = keys.owner_pk(identity.tenant_id, identity.user_id)
        template_id = self.new_id()
        item = {"PK": owner, "SK": keys.template_sk(template_id), "id": template_id,
                "created_at": self.clock().isoformat(), **body.model_dump(mode="json")}
        self.store.put_new(item)
        return Template.model_validate(item)

    def get_template(self, identity: Identity, template_id: str) -> Template:
        from crewhouse.tasks.models.templates import Template

        item = self.store.get(keys.owner_pk(identity.tenant_id, identity.user_id), keys.template_sk(template_id))
        if item is None:
            raise NotFound(f"No task template {template_id}.")
        return Template.model_validate(item)

    def list_templates(self, identity: Identity, limit: int, start: dict[str, Any] | None
                       ) -> tuple[list[Template], dict[str, Any] | None]:
        from crewhouse.tasks.models.templates import Template

        owner = keys.owner_pk(identity.tenant_id, identity.user_id)
        items, last = self.store.query(index=None, partition=("PK", owner), sort=("begins", "TEMPLATE#"),
                                       limit=limit, start=start)
        return [Template.model_validate(i) for i in items], last

    def delete_template(self, identity: Identity, template_id: str) -> None:
        self.get_template(identity, template_id)
        self.store.delete(keys.owner_pk(identity.tenant_id, identity.user_id), keys.template_sk(template_id))

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
        item = {k: v for k, v in fields.items() if not k.startswith("GSI")}
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
            found = self.store.batch_get(owner, [keys.task_sk(d) for d in new_dependencies])
            missing = sorted(d for d in new_dependencies if keys.task_sk(d) not in found)
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
            parent = self.store.get(owner, keys.task_sk(current))
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
