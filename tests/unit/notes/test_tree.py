"""Notebook nesting: depth limit and moves into a notebook's own subtree, checked against brute force."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crewhouse.notes.models import MAX_NOTEBOOK_DEPTH
from crewhouse.notes.tree import NotebookCycle, TooDeep, UnknownNotebook, check_placement, depth_of, subtree


def lookups(parents: dict[str, str | None]) -> tuple[Callable[[str], str | None], Callable[[str], list[str]]]:
    def parent_of(notebook: str) -> str | None:
        if notebook not in parents:
            raise UnknownNotebook(notebook)
        return parents[notebook]

    def children_of(notebook: str) -> list[str]:
        return sorted(child for child, parent in parents.items() if parent == notebook)

    return parent_of, children_of


CHAIN = {"a": None, "b": "a", "c": "b", "d": "c", "e": "d", "x": None, "y": "x"}


def test_depth_counts_levels_from_the_top() -> None:
    parent_of, _ = lookups(CHAIN)
    assert [depth_of(n, parent_of) for n in "abcde"] == [1, 2, 3, 4, 5]


def test_a_sixth_level_is_refused() -> None:
    parent_of, _ = lookups(CHAIN)
    check_placement("d", parent_of)  # a fifth level
    with pytest.raises(TooDeep):
        check_placement("e", parent_of)
    check_placement(None, parent_of, height=MAX_NOTEBOOK_DEPTH)
    with pytest.raises(TooDeep):
        check_placement(None, parent_of, height=MAX_NOTEBOOK_DEPTH + 1)


def test_moving_into_its_own_subtree_or_onto_itself_is_a_cycle() -> None:
    parent_of, _ = lookups(CHAIN)
    for target in "bcde":
        with pytest.raises(NotebookCycle):
            check_placement(target, parent_of, height=5, moving="a")
    with pytest.raises(NotebookCycle):
        check_placement("a", parent_of, moving="a")
    with pytest.raises(UnknownNotebook):
        check_placement("missing", parent_of)


def test_a_moved_subtree_counts_with_its_height() -> None:
    parent_of, children_of = lookups(CHAIN)
    height = max(level for _, level in subtree("c", children_of))
    assert height == 3  # c, d, e
    check_placement("y", parent_of, height=height, moving="c")  # 2 + 3 = 5
    with pytest.raises(TooDeep):
        check_placement("y", parent_of, height=4, moving="b")  # 2 + 4 = 6
    assert subtree("x", children_of) == [("x", 1), ("y", 2)]


def test_damaged_data_with_a_loop_is_refused_not_looped_forever() -> None:
    parent_of, _ = lookups({"p": "q", "q": "p"})
    with pytest.raises(NotebookCycle):
        depth_of("p", parent_of)


@st.composite
def forests(draw: st.DrawFn) -> dict[str, str | None]:
    """Random forests of at most 5 levels over n0..n11."""
    parents: dict[str, str | None] = {}
    depth: dict[str, int] = {}
    for i in range(draw(st.integers(min_value=1, max_value=12))):
        options = [n for n in parents if depth[n] < MAX_NOTEBOOK_DEPTH]
        parent = draw(st.sampled_from([None, *options]))
        parents[f"n{i}"] = parent
        depth[f"n{i}"] = 1 if parent is None else depth[parent] + 1
    return parents


@given(forests(), st.data())
def test_placement_matches_brute_force(parents: dict[str, str | None], data: st.DataObject) -> None:
    parent_of, children_of = lookups(parents)
    moving = data.draw(st.sampled_from(sorted(parents)))
    target = data.draw(st.sampled_from([None, *sorted(parents)]))

    def ancestors(node: str | None) -> list[str]:
        found = []
        while node is not None:
            found.append(node)
            node = parents[node]
        return found

    def height(node: str) -> int:
        kids = [c for c, p in parents.items() if p == node]
        return 1 + max((height(k) for k in kids), default=0)

    expected: type[Exception] | None = None
    if moving in ancestors(target):
        expected = NotebookCycle
    elif len(ancestors(target)) + height(moving) > MAX_NOTEBOOK_DEPTH:
        expected = TooDeep
    measured = max(level for _, level in subtree(moving, children_of))
    assert measured == height(moving)
    if expected is None:
        check_placement(target, parent_of, height=measured, moving=moving)
    else:
        with pytest.raises(expected):
            check_placement(target, parent_of, height=measured, moving=moving)
