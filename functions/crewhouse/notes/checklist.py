"""Checklist operations on a note's list of items (plain dicts ``{id, text, checked, task_id}``).

Pure: every function returns a new list and never touches the input. Order is the list order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from crewhouse.notes.models import MAX_CHECKLIST_BYTES, MAX_CHECKLIST_ITEMS

Item = dict[str, Any]


class UnknownItem(LookupError):
    def __init__(self, item_id: str) -> None:
        super().__init__(f"No checklist item {item_id}.")
        self.item_id = item_id


class InvalidChecklist(ValueError):
    pass


def _index(items: Sequence[Mapping[str, Any]], item_id: str) -> int:
    for position, item in enumerate(items):
        if item["id"] == item_id:
            return position
    raise UnknownItem(item_id)


def validate(items: Sequence[Mapping[str, Any]]) -> None:
    """At most 200 items, unique ids, texts together within 64 KiB."""
    if len(items) > MAX_CHECKLIST_ITEMS:
        raise InvalidChecklist(f"A checklist holds at most {MAX_CHECKLIST_ITEMS} items.")
    ids = [item["id"] for item in items]
    if len(set(ids)) != len(ids):
        raise InvalidChecklist("Checklist item ids must be unique.")
    if sum(len(str(item["text"]).encode()) for item in items) > MAX_CHECKLIST_BYTES:
        raise InvalidChecklist(f"The checklist's texts exceed {MAX_CHECKLIST_BYTES} bytes together.")


def replace_all(current: Sequence[Mapping[str, Any]], incoming: Sequence[Mapping[str, Any]],
                new_id: Callable[[], str]) -> list[Item]:
    """A whole new checklist; items that keep their id keep their task link."""
    links = {item["id"]: item.get("task_id") for item in current}
    result = []
    for raw in incoming:
        item_id = raw.get("id") or new_id()
        result.append({"id": item_id, "text": raw["text"], "checked": bool(raw.get("checked", False)),
                       "task_id": links.get(item_id)})
    validate(result)
    return result


def add(items: Sequence[Mapping[str, Any]], text: str, new_id: Callable[[], str], *, checked: bool = False,
        before_id: str | None = None, after_id: str | None = None) -> tuple[list[Item], Item]:
    """Insert a new item (at the end unless anchored); returns the list and the item."""
    result = [dict(i) for i in items]
    item: Item = {"id": new_id(), "text": text, "checked": checked, "task_id": None}
    if before_id:
        result.insert(_index(result, before_id), item)
    elif after_id:
        result.insert(_index(result, after_id) + 1, item)
    else:
        result.append(item)
    validate(result)
    return result, item


def update(items: Sequence[Mapping[str, Any]], item_id: str, *, text: str | None = None,
           checked: bool | None = None) -> list[Item]:
    result = [dict(i) for i in items]
    target = result[_index(result, item_id)]
    if text is not None:
        target["text"] = text
    if checked is not None:
        target["checked"] = checked
    validate(result)
    return result


def move(items: Sequence[Mapping[str, Any]], item_id: str, *, before_id: str | None = None,
         after_id: str | None = None, position: int | None = None) -> list[Item]:
    """Move one item before or after another, or to a 0-based position (clamped to the end)."""
    if item_id in (before_id, after_id):
        raise InvalidChecklist("An item cannot be moved relative to itself.")
    result = [dict(i) for i in items]
    moving = result.pop(_index(result, item_id))
    if before_id:
        result.insert(_index(result, before_id), moving)
    elif after_id:
        result.insert(_index(result, after_id) + 1, moving)
    else:
        result.insert(min(position or 0, len(result)), moving)
    return result


def remove(items: Sequence[Mapping[str, Any]], item_id: str) -> list[Item]:
    result = [dict(i) for i in items]
    del result[_index(result, item_id)]
    return result


def link_task(items: Sequence[Mapping[str, Any]], item_id: str, task_id: str) -> list[Item]:
    result = [dict(i) for i in items]
    result[_index(result, item_id)]["task_id"] = task_id
    return result


def find(items: Sequence[Mapping[str, Any]], item_id: str) -> Item:
    return dict(items[_index(items, item_id)])


def content(items: Sequence[Mapping[str, Any]] | None) -> str:
    """What a revision records of a checklist: ids, texts, checks and order (not task links)."""
    return json.dumps([[i["id"], i["text"], bool(i.get("checked"))] for i in items or []])


def plain_text(items: Sequence[Mapping[str, Any]] | None) -> str:
    return "\n".join(str(i["text"]) for i in items or [])
