"""``GET /sync``: what changed since a client's token, so an offline client catches up cheaply."""

from __future__ import annotations

from typing import Protocol

from crewhouse.core.cursors import decode_cursor, encode_cursor
from crewhouse.core.errors import Gone
from crewhouse.core.identity import Identity
from crewhouse.sync.log import RETENTION_SECONDS, Change, position_for, position_time_ms
from crewhouse.tasks import keys
from crewhouse.tasks.logic import TaskService
from crewhouse.tasks.models import SyncResponse

# A fresh token starts a little in the past: a change logged while it was issued is sent again
# rather than lost (clients apply upserts idempotently by id and version).
OVERLAP_MS = 5_000


class ChangeLog(Protocol):
    def changes_after(self, owner: str, position: str, limit: int) -> tuple[list[Change], bool]: ...


def changes_since(service: TaskService, log: ChangeLog, signing_key: bytes, identity: Identity,
                  since: str | None, limit: int) -> SyncResponse:
    scope = f"{identity.tenant_id}/{identity.user_id}/sync"
    now_ms = int(service.clock().timestamp() * 1000)
    if since is None:
        token = encode_cursor({"p": position_for(now_ms - OVERLAP_MS)}, key=signing_key, scope=scope)
        return SyncResponse(items=[], deleted=[], token=token)
    position = str(decode_cursor(since, key=signing_key, scope=scope).get("p", ""))
    if not position or position_time_ms(position) < now_ms - RETENTION_SECONDS * 1000:
        raise Gone("This sync token is older than the 30-day change log: list everything again.",
                   slug="sync-token-expired")
    owner = keys.owner_pk(identity.tenant_id, identity.user_id)
    changes, has_more = log.changes_after(owner, position, limit)
    latest: dict[str, str] = {}
    for change in changes:
        if change.kind == "task":
            latest[change.item_id] = change.operation
    upserted = [item_id for item_id, op in latest.items() if op == "upsert"]
    found = service.store.batch_get(owner, [keys.task_sk(i) for i in upserted])
    items = [service.to_task(found[keys.task_sk(i)]) for i in upserted if keys.task_sk(i) in found]
    deleted = [i for i, op in latest.items() if op == "delete" or keys.task_sk(i) not in found]
    next_position = changes[-1].position if changes else position
    return SyncResponse(items=items, deleted=sorted(set(deleted)), has_more=has_more,
                        token=encode_cursor({"p": next_position}, key=signing_key, scope=scope))
