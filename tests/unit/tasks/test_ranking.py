"""Fractional ranks: order is kept under any insert pattern, and rebalancing never reorders."""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crewhouse.tasks.ranking import (
    BASE,
    DIGITS,
    MAX_RANK_LENGTH,
    RankError,
    initial_ranks,
    is_valid_rank,
    label_map,
    labels,
    needs_rebalance,
    rank_between,
    rebalance,
)

valid_ranks = st.builds(
    lambda body, last: body + last,
    st.text(alphabet=DIGITS, max_size=8),
    st.sampled_from(DIGITS[1:]),
)


def value(rank: str) -> Fraction:
    """The number a rank stands for, computed independently of string comparison."""
    return sum((Fraction(DIGITS.index(d), BASE ** (i + 1)) for i, d in enumerate(rank)), Fraction(0))


def assert_strictly_increasing(ranks: list[str]) -> None:
    assert all(is_valid_rank(rank) for rank in ranks), ranks
    assert all(a < b for a, b in pairwise(ranks)), ranks
    assert len(set(ranks)) == len(ranks)


def insert(ranks: list[str], position: int) -> str:
    before = ranks[position - 1] if position > 0 else None
    after = ranks[position] if position < len(ranks) else None
    rank = rank_between(before, after)
    ranks.insert(position, rank)
    return rank


@given(valid_ranks, valid_ranks)
def test_rank_between_is_strictly_between_any_two_valid_ranks(a: str, b: str) -> None:
    if a == b:
        return
    low, high = min(a, b), max(a, b)
    middle = rank_between(low, high)
    assert is_valid_rank(middle)
    assert low < middle < high
    # string order is numeric order: the alphabet is ASCII-sorted and no rank has trailing zeros
    assert value(low) < value(middle) < value(high)


@given(valid_ranks)
def test_open_ends(rank: str) -> None:
    below, above = rank_between(None, rank), rank_between(rank, None)
    assert is_valid_rank(below) and is_valid_rank(above)
    assert below < rank < above
    assert 0 < value(below) < value(rank) < value(above) < 1


@pytest.mark.parametrize(("low", "high"), [("a", "a1"), ("V", "V01"), ("1", "11"), ("z", "z1"), ("0z", "1")])
def test_adjacent_looking_ranks_still_have_room(low: str, high: str) -> None:
    middle = rank_between(low, high)
    assert low < middle < high
    assert is_valid_rank(middle)


@given(st.lists(st.integers(min_value=0, max_value=10**6), max_size=120))
def test_random_inserts_keep_order_and_uniqueness(choices: list[int]) -> None:
    ranks: list[str] = []
    for choice in choices:
        insert(ranks, choice % (len(ranks) + 1))
        assert_strictly_increasing(ranks)


def test_always_at_front_and_always_at_end_grow_slowly() -> None:
    front: list[str] = []
    end: list[str] = []
    for _ in range(300):
        insert(front, 0)
        insert(end, len(end))
    assert_strictly_increasing(front)
    assert_strictly_increasing(end)
    # one extra digit per ~60 inserts at an open end
    assert max(map(len, front)) <= 6
    assert max(map(len, end)) <= 6


@given(st.integers(min_value=1, max_value=80), st.booleans())
def test_always_between_the_same_two(count: int, next_to_low: bool) -> None:
    ranks = ["V", "W"]
    for _ in range(count):
        insert(ranks, 1 if next_to_low else len(ranks) - 1)
        assert_strictly_increasing(ranks)
    assert ranks[0] == "V" and ranks[-1] == "W"


def test_midpoint_inserts_grow_about_one_digit_per_six() -> None:
    ranks = ["V", "W"]
    for _ in range(60):
        insert(ranks, 1)
    # halving the gap each time: one more digit roughly every log2(62) ~ 6 inserts
    assert 8 <= max(map(len, ranks)) <= 14


@pytest.mark.parametrize(
    ("before", "after"),
    [("b", "a"), ("a", "a"), ("a0", None), (None, ""), ("a-", "b"), (None, "0")],
)
def test_rejects_bad_bounds(before: str | None, after: str | None) -> None:
    with pytest.raises(RankError):
        rank_between(before, after)


def test_rank_between_open_open_is_the_middle_digit() -> None:
    assert rank_between(None, None) == DIGITS[BASE // 2] == initial_ranks(1)[0]


@given(st.integers(min_value=0, max_value=2500))
@settings(max_examples=20, deadline=None)
def test_initial_ranks_are_evenly_spaced(n: int) -> None:
    ranks = initial_ranks(n)
    assert len(ranks) == n
    assert_strictly_increasing(ranks)
    if n:
        # The length the ranks are spread over: at least two free positions per gap (spacing headroom). Printed
        # ranks drop trailing zero digits, so they may be shorter (n = 61 spreads 61 one-digit ranks over two).
        length = 1
        while BASE**length < 2 * (n + 1):
            length += 1
        assert max(map(len, ranks)) <= length
        unit = Fraction(1, BASE**length)
        points = [Fraction(0), *map(value, ranks), Fraction(1)]
        gaps = [b - a for a, b in pairwise(points)]
        assert max(gaps) - min(gaps) <= unit
        assert min(gaps) >= 2 * unit  # a same-length rank fits between any two neighbours
        assert not any(needs_rebalance(rank) for rank in ranks)


def test_needs_rebalance_threshold() -> None:
    assert not needs_rebalance("V" * MAX_RANK_LENGTH)
    assert needs_rebalance("V" * (MAX_RANK_LENGTH + 1))


def apply_batches(ranks: list[str], batch_size: int) -> tuple[list[str], int]:
    """Run rebalance to completion, checking every intermediate state a reader could see."""
    state = list(ranks)
    calls = 0
    while True:
        batch = rebalance(state, batch_size)
        calls += 1
        assert len(batch) <= batch_size
        if not batch:
            return state, calls
        for index, rank in batch:
            strict_before = [a < b for a, b in pairwise(state)]
            state[index] = rank
            assert all(a <= b for a, b in pairwise(state)), "a prefix of a batch broke the order"
            strict_after = [a < b for a, b in pairwise(state)]
            assert all(after for before, after in zip(strict_before, strict_after, strict=True) if before)
        assert calls < 10_000


@given(
    st.lists(valid_ranks, max_size=120).map(sorted),
    st.integers(min_value=1, max_value=30),
)
@settings(max_examples=60)
def test_rebalance_keeps_order_in_bounded_batches(ranks: list[str], batch_size: int) -> None:
    final, calls = apply_batches(ranks, batch_size)
    target = initial_ranks(len(ranks))
    assert final == target
    assert_strictly_increasing(final)
    off_target = sum(1 for rank, goal in zip(ranks, target, strict=True) if rank != goal)
    assert calls == -(-off_target // batch_size) + 1  # full batches, then one empty answer


def test_rebalance_of_a_crowded_gap_after_many_midpoint_inserts() -> None:
    ranks = ["V", "W"]
    for _ in range(100):
        insert(ranks, 1)
    assert any(needs_rebalance(rank) for rank in ranks)
    final, _ = apply_batches(ranks, 25)
    assert_strictly_increasing(final)
    assert not any(needs_rebalance(rank) for rank in final)


def test_rebalance_rejects_unordered_input_and_bad_batch_size() -> None:
    with pytest.raises(RankError):
        rebalance(["b", "a"])
    with pytest.raises(RankError):
        rebalance(["a"], batch_size=0)


def test_labels() -> None:
    assert labels("A", 3) == ["A1", "A2", "A3"]
    assert labels("C", 0) == []
    with pytest.raises(RankError):
        labels("AB", 1)
    with pytest.raises(RankError):
        labels("a", 1)


def test_label_map_sorts_by_letter_then_rank() -> None:
    tasks = [("t1", "B", "V"), ("t2", "A", "k"), ("t3", "A", "1"), ("t4", "C", "V"), ("t5", "A", "V")]
    assert label_map(tasks) == {"t3": "A1", "t5": "A2", "t2": "A3", "t1": "B1", "t4": "C1"}


@given(st.lists(st.tuples(st.sampled_from("ABC"), valid_ranks), max_size=40, unique_by=lambda row: row[1]))
def test_label_map_numbers_follow_rank_order(rows: list[tuple[str, str]]) -> None:
    tasks = [(i, letter, rank) for i, (letter, rank) in enumerate(rows)]
    result = label_map(tasks)
    assert set(result) == set(range(len(rows)))
    for letter in "ABC":
        mine = [(rank, result[i]) for i, lt, rank in tasks if lt == letter]
        numbers = [int(label[1:]) for _, label in sorted(mine)]
        assert numbers == list(range(1, len(mine) + 1))
        assert all(label.startswith(letter) for _, label in mine)
