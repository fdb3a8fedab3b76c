"""``GET /sync``: what changed since a client's token, for every synced kind, so an offline client
catches up cheaply. Reads the change log only: each upsert entry carries the item's snapshot, so the feed
needs no read of the contexts' tables (and the function serving it no access to them)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from crewhouse.core.cursors import decode_cursor, encode_cursor
from crewhouse.core.errors import Gone
from crewhouse.core.identity import Identity
from crewhouse.sync.log import RETENTION_SECONDS, Change, position_for, position_time_ms
from crewhouse.sync.models import SyncDeleted, SyncItem, SyncResponse

SETTLE_MS = 2_000
"""The feed hands out entries only once they are this old. Positions are write times taken by each writer
just before its write: an entry that becomes visible a moment after a later-stamped one would otherwise sort
behind a token already given out and be skipped for good. Fresh tokens start at the same horizon."""


class ChangeLog(Protocol):
    def changes_after(self, owner: str, position: str, limit: int) -> tuple[list[Change], bool]: ...


def supersedes(new: Change, old: Change) -> bool:
    """Whether ``new`` is the later state of the item than ``old``.

    Log positions come from the streams' approximate creation times, which two quick changes of one item
    may share, so the item's version decides; at the same version a delete (a purge of that version) wins.
    Without versions, log order decides.
    """
    if new.version is None or old.version is None:
        return True
    if new.version != old.version:
        return new.version > old.version
    return new.operation == "delete" or old.operation != "delete"


def latest_changes(changes: list[Change]) -> dict[tuple[str, str], Change]:
    latest: dict[tuple[str, str], Change] = {}
    for change in changes:
        key = (change.kind, change.item_id)
        if key not in latest or supersedes(change, latest[key]):
            latest[key] = change
    return latest


def changes_since(log: ChangeLog, signing_key: bytes, identity: Identity, since: str | None, limit: int, *,
                  clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> SyncResponse:
    scope = f"{identity.tenant_id}/{identity.user_id}/sync"
    now_ms = int(clock().timestamp() * 1000)
    horizon = position_for(now_ms - SETTLE_MS, "~")  # after every event id of that millisecond
    if since is None:
        token = encode_cursor({"p": position_for(now_ms - SETTLE_MS)}, key=signing_key, scope=scope)
        return SyncResponse(items=[], deleted=[], token=token)
    position = str(decode_cursor(since, key=signing_key, scope=scope).get("p", ""))
    if not position or position_time_ms(position) < now_ms - RETENTION_SECONDS * 1000:
        raise Gone("This sync token is older than the 30-day change log: list everything again.",
                   slug="sync-token-expired")
    owner = f"T#{identity.tenant_id}#U#{identity.user_id}"
    changes, has_more = log.changes_after(owner, position, limit)
    settled = [c for c in changes if c.position <= horizon]
    if len(settled) < len(changes):
        changes, has_more = settled, False  # the rest is too fresh: next time
    items: list[SyncItem] = []
    deleted: list[SyncDeleted] = []
    for (kind, item_id), change in latest_changes(changes).items():
        if change.operation == "upsert" and change.data is not None:
            items.append(SyncItem.model_validate({**change.data, "kind": kind, "id": item_id}))
        elif change.operation == "delete":
            deleted.append(SyncDeleted.model_validate({"kind": kind, "id": item_id}))
    next_position = changes[-1].position if changes else position
    return SyncResponse(items=items, deleted=sorted(deleted, key=lambda d: (d.kind, d.id)), has_more=has_more,
                        token=encode_cursor({"p": next_position}, key=signing_key, scope=scope))
