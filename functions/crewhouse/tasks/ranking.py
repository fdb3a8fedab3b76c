"""Fractional ranks for ABC ordering: moving a task rewrites only that task's rank.

A rank is a base-62 fraction ``0.d1d2d3...`` written as its digit string. The digit alphabet is in
ASCII order, so plain string comparison (DynamoDB sort keys, ``sorted``) equals numeric comparison.
A valid rank is non-empty and never ends in the minimum digit ``0``: without trailing zeros every
distinct string is a distinct number strictly between 0 and 1, so there is always room between two
ranks, before the first and after the last. Pure logic, no I/O.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from itertools import pairwise
from typing import TypeVar

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BASE = len(DIGITS)
MAX_RANK_LENGTH = 12
"""Ranks longer than this ask for a rebalance (they still work; they just keep growing)."""

_INDEX = {digit: value for value, digit in enumerate(DIGITS)}
_MIDDLE = DIGITS[BASE // 2]
_HEADROOM = 2
"""Fresh ranks are spaced at least this many same-length steps apart, so a first insert stays short."""

K = TypeVar("K", bound=Hashable)


class RankError(ValueError):
    """A rank that is malformed, or bounds that are not in order."""


def is_valid_rank(rank: object) -> bool:
    """True for a non-empty base-62 string without a trailing ``0`` (the only ranks we ever write)."""
    return (
        isinstance(rank, str) and rank != "" and not rank.endswith(DIGITS[0]) and all(digit in _INDEX for digit in rank)
    )


def _check(rank: str) -> None:
    if not is_valid_rank(rank):
        raise RankError(f"invalid rank {rank!r}: base-62 digits, non-empty, not ending in {DIGITS[0]!r}")


def rank_between(before: str | None, after: str | None) -> str:
    """A valid rank strictly between ``before`` and ``after`` (``None`` is an open end).

    Open ends step by one digit at the shortest position that has room, so appending to the end
    (or the front) of a group adds one character only every ~60 inserts; between two ranks it takes
    the midpoint, adding one character every ~6 inserts into the same gap.
    """
    if before is not None:
        _check(before)
    if after is not None:
        _check(after)
    if before is not None and after is not None and before >= after:
        raise RankError(f"bounds out of order: {before!r} must sort before {after!r}")
    if after is None:
        return _MIDDLE if before is None else _after(before)
    if before is None:
        return _before(after)
    return _midpoint(before, after)


def _after(rank: str) -> str:
    """The shortest-change rank above ``rank`` (open upper end, i.e. below 1.0)."""
    if rank == "":
        return _MIDDLE
    for position, digit in enumerate(rank):
        value = _INDEX[digit]
        if value < BASE - 1:
            return rank[:position] + DIGITS[value + 1]
    return rank + DIGITS[1]  # all maximum digits: go one level deeper


def _before(rank: str) -> str:
    """The shortest-change rank below ``rank`` (open lower end, i.e. above 0.0)."""
    for position, digit in enumerate(rank):
        value = _INDEX[digit]
        if value > 1:
            return rank[:position] + DIGITS[value - 1]
    # only 0s and 1s, ending in 1: replace the final 1 by 0 and take the top of the next level
    return rank[:-1] + DIGITS[0] + DIGITS[-1]


def _midpoint(low: str, high: str) -> str:
    """A rank strictly between ``low`` (may be ``""`` meaning 0) and ``high``, with ``low < high``."""
    shared = 0
    while shared < len(high) and (low[shared] if shared < len(low) else DIGITS[0]) == high[shared]:
        shared += 1
    if shared:
        return high[:shared] + _midpoint(low[shared:], high[shared:])
    low_digit = _INDEX[low[0]] if low else 0
    high_digit = _INDEX[high[0]]
    if high_digit - low_digit > 1:
        return DIGITS[(low_digit + high_digit) // 2]
    if len(high) > 1:
        return high[0]  # high's first digit alone is above low and below high
    # high is the single digit right above low's first digit: go deeper, above low's remainder
    return DIGITS[low_digit] + _after(low[1:])


def needs_rebalance(rank: str) -> bool:
    """True once a rank has grown past :data:`MAX_RANK_LENGTH` digits."""
    return len(rank) > MAX_RANK_LENGTH


def initial_ranks(n: int) -> list[str]:
    """``n`` evenly spaced ranks, as short as the spacing allows (``initial_ranks(1) == ["V"]``)."""
    if n < 0:
        raise RankError("n must not be negative")
    if n == 0:
        return []
    length = 1
    while BASE**length < (n + 1) * _HEADROOM:
        length += 1
    span = BASE**length
    return [_encode((i + 1) * span // (n + 1), length) for i in range(n)]


def _encode(value: int, length: int) -> str:
    digits = []
    for _ in range(length):
        value, digit = divmod(value, BASE)
        digits.append(DIGITS[digit])
    return "".join(reversed(digits)).rstrip(DIGITS[0])


def rebalance(ranks_in_order: list[str], batch_size: int = 25) -> list[tuple[int, str]]:
    """The next bounded batch of ``(index, new_rank)`` moving a group towards even spacing.

    Call repeatedly, applying each batch, until it returns ``[]``. Each item is moved straight to
    its final evenly spaced rank, and only when that rank lies strictly between its current
    neighbours, so after every prefix of a batch (apply in the returned order, or atomically) the
    list is still strictly ordered and readers never see tasks swap. Ties in the input (two
    concurrent inserts into the same gap) are allowed and get resolved. While any item is off its
    target, at least one can always move, so each call fills its batch and the loop terminates.
    """
    if batch_size < 1:
        raise RankError("batch_size must be at least 1")
    for rank in ranks_in_order:
        _check(rank)
    for left, right in pairwise(ranks_in_order):
        if left > right:
            raise RankError(f"ranks are not in order: {left!r} before {right!r}")
    targets = initial_ranks(len(ranks_in_order))
    state = list(ranks_in_order)
    last = len(state) - 1
    moves: list[tuple[int, str]] = []
    progress = True
    while progress and len(moves) < batch_size:
        progress = False
        # forward pass settles items moving down, backward pass items moving up
        for indexes in (range(len(state)), range(last, -1, -1)):
            for i in indexes:
                if len(moves) >= batch_size:
                    return moves
                target = targets[i]
                if state[i] == target:
                    continue
                if (i == 0 or state[i - 1] < target) and (i == last or target < state[i + 1]):
                    state[i] = target
                    moves.append((i, target))
                    progress = True
    return moves


def _check_letter(letter: str) -> None:
    if len(letter) != 1 or not ("A" <= letter <= "Z"):
        raise RankError(f"priority letter must be a single capital letter, got {letter!r}")


def labels(letter: str, count: int) -> list[str]:
    """Display labels ``A1, A2, ...``: derived on read, never stored, so moves stay one write."""
    _check_letter(letter)
    if count < 0:
        raise RankError("count must not be negative")
    return [f"{letter}{position}" for position in range(1, count + 1)]


def label_map(tasks: Iterable[tuple[K, str, str]]) -> dict[K, str]:
    """``{task_id: "A1"}`` for ``(task_id, letter, rank)`` rows: sorted by letter, then rank.

    Equal ranks (a concurrent insert not yet rebalanced) keep their input order, so labels stay
    unique and stable for a given read.
    """
    rows = list(tasks)
    for _, letter, _ in rows:
        _check_letter(letter)
    positions: dict[str, int] = {}
    result: dict[K, str] = {}
    for task_id, letter, _ in sorted(rows, key=lambda row: (row[1], row[2])):
        positions[letter] = positions.get(letter, 0) + 1
        result[task_id] = f"{letter}{positions[letter]}"
    return result
