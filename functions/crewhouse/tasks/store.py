"""DynamoDB access for tasks, in the tasks context's words: the only module that knows the table's key shapes
and indexes (see keys.py).

Items go in and come out as plain task fields: the store adds the key and index attributes on every write and
takes them off on every read. Every read is a GetItem, BatchGetItem or Query on the owner's partition;
nothing scans.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crewhouse.core import table as t
from crewhouse.core.dynamo import Item
from crewhouse.core.errors import PreconditionFailed
from crewhouse.tasks import keys

PLAN_ORDER, DUE_ORDER, SUBTASKS = "GSI1", "GSI2", "GSI3"
STALE = "The task changed meanwhile; fetch it again and retry."
_KEY_ATTRIBUTES = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK")


def stored_task(owner: str, task: Item) -> Item:
    """The item as written: the task plus its key and the keys of the (sparse) indexes it belongs to."""
    stored = fields_of(task)
    stored.update(PK=owner, SK=keys.task_sk(task["id"]), GSI1PK=owner,
                  GSI1SK=keys.plan_sort_key(task.get("planned_date"), task["priority"], task["rank"]))
    if task.get("due_utc"):
        stored.update(GSI2PK=owner, GSI2SK=f"{task['due_utc']}#{task['id']}")
    if task.get("parent_id"):
        stored.update(GSI3PK=keys.parent_pk(owner, task["parent_id"]), GSI3SK=f"{task['priority']}#{task['rank']}")
    return stored


def fields_of(item: Mapping[str, Any]) -> Item:
    """A stored item without its key and index attributes."""
    return {k: v for k, v in item.items() if k not in _KEY_ATTRIBUTES}


def _group(planned: str | None, letter: str) -> str:
    return f"{keys.plan_key(planned)}#{letter}#"


def _conditions(filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Task filters as attribute conditions: a list is any of its values, a tag is contained in ``tags``."""
    if not filters:
        return None
    return {field: t.Contains(value) if field == "tags" else t.AnyOf(tuple(value)) if isinstance(value, list)
            else value for field, value in filters.items()}


class DynamoTaskStore:
    """Tasks and templates in the tasks table (see keys.py for the shapes)."""

    def __init__(self, table: t.Table) -> None:
        self._table = table

    # --- single tasks and templates -------------------------------------------------------------------

    def task(self, owner: str, task_id: str) -> Item | None:
        found = self._table.get((owner, keys.task_sk(task_id)))
        return fields_of(found) if found else None

    def tasks(self, owner: str, task_ids: Iterable[str]) -> dict[str, Item]:
        """The tasks that exist among ``task_ids``, by id (BatchGetItem, 100 a request)."""
        found = self._table.get_many((owner, keys.task_sk(i)) for i in task_ids)
        return {str(item["id"]): fields_of(item) for item in found.values()}

    def task_tags(self, owner: str, limit: int, start: t.Resume | None) -> t.Page:
        """A page of the owner's tasks as ``id`` and ``tags`` only (the tag index's rebuild)."""
        return self._table.query(t.starting_with(owner, keys.task_sk("")), limit=limit, start=start,
                                 projection=("id", "tags"))

    def add_task(self, owner: str, task: Item) -> None:
        self._table.put_new(stored_task(owner, task))

    def replace_task(self, owner: str, task: Item, expected_version: int) -> None:
        """Write the whole task if it is still at ``expected_version`` (one write)."""
        self._table.replace(stored_task(owner, task), expected_version, stale=STALE)

    def complete_with_next(self, owner: str, done: Item, expected_version: int, next_task: Item) -> bool:
        """Update ``done`` and create ``next_task`` atomically; False when ``next_task`` already existed."""
        try:
            self._table.transact([t.versioned(stored_task(owner, done), expected_version),
                                  t.new(stored_task(owner, next_task))])
            return True
        except t.Cancelled as cancelled:
            if cancelled.failed(0):
                raise PreconditionFailed(STALE) from cancelled
            self.replace_task(owner, done, expected_version)  # the next occurrence exists already: a retry
            return False

    def delete_task(self, owner: str, task_id: str, expected_version: int) -> None:
        self._table.delete((owner, keys.task_sk(task_id)), expected_version=expected_version, stale=STALE)

    def template(self, owner: str, template_id: str) -> Item | None:
        found = self._table.get((owner, keys.template_sk(template_id)))
        return fields_of(found) if found else None

    def add_template(self, owner: str, template: Item) -> None:
        self._table.put_new({**template, "PK": owner, "SK": keys.template_sk(template["id"])})

    def delete_template(self, owner: str, template_id: str) -> None:
        self._table.delete((owner, keys.template_sk(template_id)), stale=STALE)

    def templates(self, owner: str, limit: int, start: t.Resume | None) -> t.Page:
        items, last = self._table.query(t.starting_with(owner, "TEMPLATE#"), limit=limit, start=start)
        return [fields_of(i) for i in items], last

    # --- plan order: (day, letter) groups ranked within --------------------------------------------------

    def planned(self, owner: str, *, day: str | None = None, someday: bool = False, first_day: str | None = None,
                last_day: str | None = None, limit: int, start: t.Resume | None,
                filters: Mapping[str, Any] | None = None) -> t.Page:
        """A page of tasks in plan order: one day, someday, a range of days, or every task."""
        if day:
            where = t.starting_with(owner, f"{day}#", PLAN_ORDER)
        elif someday:
            where = t.starting_with(owner, f"{keys.SOMEDAY}#", PLAN_ORDER)
        elif first_day or last_day:
            where = t.between(owner, first_day or "0", f"{last_day or '9999-12-31'}#~", PLAN_ORDER)
        else:
            where = t.whole(owner, PLAN_ORDER)
        items, last = self._table.query(where, limit=limit, start=start, filters=_conditions(filters))
        return [fields_of(i) for i in items], last

    def position_in_group(self, owner: str, task: Mapping[str, Any]) -> int:
        """1 for the first task of its (day, letter) group, 2 for the next … (counts keys only)."""
        group = _group(task.get("planned_date"), task["priority"])
        return self._table.count(t.between(owner, group, f"{group}{task['rank']}", PLAN_ORDER))

    def group_ids(self, owner: str, planned: str | None, letter: str, *, through_rank: str) -> list[str]:
        """Ids of a (day, letter) group in order, up to the task ranked ``through_rank`` (pages of 1,000)."""
        group = _group(planned, letter)
        ids: list[str] = []
        start: t.Resume | None = None
        while True:
            page, start = self._table.query(t.between(owner, group, f"{group}{through_rank}", PLAN_ORDER),
                                            limit=1000, start=start)
            ids.extend(str(member["id"]) for member in page)
            if not start:
                return ids

    def first_in_group(self, owner: str, planned: str | None, letter: str, count: int) -> list[Item]:
        items, _ = self._table.query(t.starting_with(owner, _group(planned, letter), PLAN_ORDER), limit=count)
        return [fields_of(i) for i in items]

    def last_rank(self, owner: str, planned: str | None, letter: str) -> str | None:
        items, _ = self._table.query(t.starting_with(owner, _group(planned, letter), PLAN_ORDER), limit=1,
                                     forward=False)
        return str(items[0]["rank"]) if items else None

    def neighbour_rank(self, owner: str, planned: str | None, letter: str, rank: str, *, forward: bool,
                       skip: str) -> str | None:
        """The rank of the task next to ``rank`` in its group (after it, or before it), other than ``skip``."""
        group = _group(planned, letter)
        items, _ = self._table.query(t.beyond(owner, f"{group}{rank}", forward=forward, index=PLAN_ORDER),
                                     limit=2, forward=forward)
        for candidate in items:
            if not str(candidate["GSI1SK"]).startswith(group):
                return None
            if candidate["id"] != skip:
                return str(candidate["rank"])
        return None

    # --- due order and subtasks --------------------------------------------------------------------------

    def due_between(self, owner: str, low: str, high: str, *, limit: int, start: t.Resume | None,
                    filters: Mapping[str, Any] | None = None) -> t.Page:
        """Tasks due from ``low`` to ``high`` (UTC ISO prefixes), earliest first."""
        items, last = self._table.query(t.between(owner, low, high, DUE_ORDER), limit=limit, start=start,
                                        filters=_conditions(filters))
        return [fields_of(i) for i in items], last

    def subtasks(self, owner: str, parent_id: str, *, limit: int, start: t.Resume | None,
                 filters: Mapping[str, Any] | None = None) -> t.Page:
        items, last = self._table.query(t.whole(keys.parent_pk(owner, parent_id), SUBTASKS), limit=limit,
                                        start=start, filters=_conditions(filters))
        return [fields_of(i) for i in items], last
