"""The change log behind ``GET /sync``: one entry per change of a synced item, kept 30 days.

Written from the tables' streams (so it sees every write, whichever API made it), read by the feed
(:mod:`crewhouse.sync.feed`). An upsert entry carries the item's API-shaped snapshot, so the feed answers
from this table alone, whatever context (tasks, notes, notebooks) the item belongs to.

Keys: ``PK = T#<tenant>#U#<user>``, ``SK = <epoch ms, 13 digits>#<event id>``; ``expires_at`` drives TTL.
The time in the key is when the entry is *written* (this log's clock, in ms), not when the item changed:
a stream record processed late or retried still lands after every position a client was already given
(the feed holds back the last moments, see ``SETTLE_MS`` there). Order between changes of one item is
decided by its version, not by position.
Attributes: ``kind``, ``item_id``, ``op`` (``upsert``/``delete``), ``v`` (the item's version, when known) and
``data`` (the snapshot as JSON text, upserts only).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crewhouse.core.table import KeyRange, Table

RETENTION_SECONDS = 30 * 24 * 3600
KINDS = ("task", "note", "notebook", "profile")


@dataclass(frozen=True)
class Entry:
    """A change to record: what the stream worker of a context hands to :meth:`DynamoSyncLog.record`."""

    event_id: str  # the stream record's id: makes the position unique
    kind: str  # one of KINDS
    item_id: str
    operation: str  # "upsert" or "delete"
    version: int | None = None
    data: dict[str, Any] | None = None  # the item as its API shows it (upserts)


@dataclass(frozen=True)
class Change:
    position: str  # the entry's sort key: where a client's next sync resumes
    kind: str
    item_id: str
    operation: str
    version: int | None = None
    data: dict[str, Any] | None = None


def position_for(epoch_ms: int, event_id: str = "") -> str:
    return f"{epoch_ms:013d}#{event_id}"


def position_time_ms(position: str) -> int:
    return int(position.split("#", 1)[0])


class DynamoSyncLog:
    def __init__(self, dynamodb: Any, table: str, *, clock: Callable[[], float] = time.time) -> None:
        self._table = Table(dynamodb, table)
        self._clock = clock

    def record(self, owner: str, entries: list[Entry]) -> None:
        """Append ``entries`` for one owner, positioned at the time of writing (a retried stream record
        appends again: the feed keeps the latest version of each item)."""
        for start in range(0, len(entries), 25):
            written_ms = int(self._clock() * 1000)
            self._table.put_many({
                "PK": owner, "SK": position_for(written_ms, entry.event_id), "kind": entry.kind,
                "item_id": entry.item_id, "op": entry.operation,
                "expires_at": written_ms // 1000 + RETENTION_SECONDS, "v": entry.version,
                "data": json.dumps(entry.data, separators=(",", ":"), ensure_ascii=False)
                if entry.data is not None else None,
            } for entry in entries[start:start + 25])

    def changes_after(self, owner: str, position: str, limit: int) -> tuple[list[Change], bool]:
        items, last = self._table.query(KeyRange(owner, None, ">", position), limit=limit, consistent=True)
        changes = [Change(position=str(i["SK"]), kind=i["kind"], item_id=i["item_id"], operation=i["op"],
                          version=int(i["v"]) if "v" in i else None,
                          data=json.loads(i["data"]) if "data" in i else None)
                   for i in items]
        return changes, last is not None
