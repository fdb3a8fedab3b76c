"""Which items carry which tag, and how many of each kind: kept in the search table from the contexts' streams.

Keys (in the shared search table, beside the term index):
- membership: ``PK = <owner>#tag#<tag>``, ``SK = <kind>#<item id>``: lists a tag's items for rename and merge;
- count: ``PK = <owner>#tags``, ``SK = <tag>``, one number attribute per kind (``task``, ``note``): lists a
  user's tags with their counts in one Query.

A membership and its count change in one transaction, conditional on the membership (not) being there, so a
stream record processed twice counts once. A tag's work is one transaction per item that gains or loses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from crewhouse.core import table as t

KINDS = ("task", "note")


class TagCount(NamedTuple):
    tag: str
    tasks: int
    notes: int


class Tagged(NamedTuple):
    kind: str
    item_id: str


def _members_pk(owner: str, tag: str) -> str:
    return f"{owner}#tag#{tag}"


def _counts_pk(owner: str) -> str:
    return f"{owner}#tags"


class DynamoTagIndex:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._table = t.Table(dynamodb, table)

    def replace_tags(self, owner: str, kind: str, item_id: str, old: Iterable[str], new: Iterable[str]) -> None:
        """Move an item from the tags it had to the tags it has (an absent or trashed item has none)."""
        before, after = set(old), set(new)
        member = f"{kind}#{item_id}"
        changes = [*((tag, -1) for tag in sorted(before - after)), *((tag, 1) for tag in sorted(after - before))]
        for tag, delta in changes:
            key = (_members_pk(owner, tag), member)
            write = t.new({"PK": key[0], "SK": key[1]}) if delta > 0 else t.removal(key, must_exist=True)
            count = t.change((_counts_pk(owner), tag), "ADD #kind :delta", names={"#kind": kind},
                             values={":delta": delta})
            try:
                self._table.transact([write, count])
            except t.Cancelled as cancelled:
                if not cancelled.failed(0):
                    raise  # failed(0): this change was applied already (a stream record seen twice)

    def counts(self, owner: str) -> list[TagCount]:
        """Every tag the owner's live items carry, by name, with how many tasks and notes carry it."""
        found = self._table.query_all(t.whole(_counts_pk(owner)), consistent=True)
        counts = [TagCount(str(i["SK"]), int(i.get("task", 0)), int(i.get("note", 0))) for i in found]
        return [c for c in counts if c.tasks > 0 or c.notes > 0]

    def tagged(self, owner: str, tag: str, limit: int, start: t.Resume | None
               ) -> tuple[list[Tagged], t.Resume | None]:
        """A page of the items that carry ``tag`` (as the streams last saw them)."""
        items, last = self._table.query(t.whole(_members_pk(owner, tag)), limit=limit, start=start, consistent=True)
        found = [Tagged(*str(i["SK"]).split("#", 1)) for i in items]
        return [f for f in found if f.kind in KINDS], last
