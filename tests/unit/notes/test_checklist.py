"""Checklist operations: add, check, reword, move, remove, links kept across replacements, limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crewhouse.notes import checklist
from crewhouse.notes.checklist import InvalidChecklist, UnknownItem


def ids() -> Callable[[], str]:
    numbers: Iterator[int] = count(1)
    return lambda: f"i{next(numbers)}"


def texts(items: list[dict[str, object]]) -> list[object]:
    return [i["text"] for i in items]


def test_add_at_the_end_or_next_to_another() -> None:
    new_id = ids()
    items, first = checklist.add([], "milk", new_id)
    items, _ = checklist.add(items, "eggs", new_id)
    items, bread = checklist.add(items, "bread", new_id, before_id=first["id"], checked=True)
    items, _ = checklist.add(items, "jam", new_id, after_id=first["id"])
    assert texts(items) == ["bread", "milk", "jam", "eggs"]
    assert bread == {"id": "i3", "text": "bread", "checked": True, "task_id": None}
    with pytest.raises(UnknownItem):
        checklist.add(items, "x", new_id, after_id="nope")


def test_update_move_remove_never_touch_the_input() -> None:
    original = [{"id": c, "text": c.upper(), "checked": False} for c in "abcd"]
    snapshot = [dict(i) for i in original]
    checked = checklist.update(original, "b", checked=True, text="Bee")
    assert checked[1] == {"id": "b", "text": "Bee", "checked": True}
    assert texts(checklist.move(original, "d", position=0)) == ["D", "A", "B", "C"]
    assert texts(checklist.move(original, "a", position=99)) == ["B", "C", "D", "A"]
    assert texts(checklist.move(original, "a", before_id="d")) == ["B", "C", "A", "D"]
    assert texts(checklist.move(original, "d", after_id="a")) == ["A", "D", "B", "C"]
    assert texts(checklist.remove(original, "c")) == ["A", "B", "D"]
    assert original == snapshot
    with pytest.raises(InvalidChecklist):
        checklist.move(original, "a", before_id="a")
    with pytest.raises(UnknownItem):
        checklist.remove(original, "zz")


def test_replacing_keeps_task_links_of_items_that_keep_their_id() -> None:
    current = [{"id": "a", "text": "A", "checked": False, "task_id": "T1"}]
    replaced = checklist.replace_all(current, [{"id": "a", "text": "A2"}, {"text": "new"}], ids())
    assert replaced == [{"id": "a", "text": "A2", "checked": False, "task_id": "T1"},
                        {"id": "i1", "text": "new", "checked": False, "task_id": None}]
    assert checklist.link_task(replaced, "i1", "T2")[1]["task_id"] == "T2"


def test_limits() -> None:
    with pytest.raises(InvalidChecklist):
        checklist.replace_all([], [{"id": "x", "text": "a"}, {"id": "x", "text": "b"}], ids())
    with pytest.raises(InvalidChecklist):
        checklist.replace_all([], [{"text": "t"}] * 201, ids())
    with pytest.raises(InvalidChecklist):
        checklist.replace_all([], [{"text": "é" * 500}] * 70, ids())  # 70 KB of text


def test_content_ignores_task_links_but_not_order_or_checks() -> None:
    base = [{"id": "a", "text": "A", "checked": False}, {"id": "b", "text": "B", "checked": False}]
    assert checklist.content(base) == checklist.content(checklist.link_task(base, "a", "T"))
    assert checklist.content(base) != checklist.content(checklist.move(base, "b", position=0))
    assert checklist.content(base) != checklist.content(checklist.update(base, "a", checked=True))


@given(st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=10), st.data())
def test_move_is_a_permutation_that_puts_the_item_where_asked(values: list[int], data: st.DataObject) -> None:
    items: list[dict[str, object]] = [{"id": f"k{i}", "text": str(v), "checked": False} for i, v in enumerate(values)]
    moving = data.draw(st.sampled_from([f"k{i}" for i in range(len(values))]))
    position = data.draw(st.integers(min_value=0, max_value=len(items) + 2))
    moved = checklist.move(items, moving, position=position)
    assert sorted(str(i["id"]) for i in moved) == sorted(str(i["id"]) for i in items)
    assert [i["id"] for i in moved].index(moving) == min(position, len(items) - 1)
