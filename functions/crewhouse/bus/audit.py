"""The bus's audit trail: one record per mutating action, in a table the functions may only add to and read.

The functions' roles allow ``PutItem`` (conditioned on a new key) and ``Query`` on the audit table and nothing else
(cdk/crewhouse_cdk/constructs/bus.py), so no API, ours or AWS's through a function, changes or deletes a record.

- ``T#<t>#AUDIT#<day>`` / ``<time>#<request id>#<n>``: a tenant's records by day, so a busy tenant's writes
  spread over partitions; a time-range listing reads the days newest first;
- ``T#<t>#AUDITDAYS`` / ``<day>``: one marker per day that has records, so a listing reads only those days (one
  Query for the markers, then one per day read) instead of one Query per calendar day back to the oldest it may
  show (91 on a quiet tenant). A function puts a day's marker before its first record of that day and remembers
  it, so the marker costs one conditional PutItem per container and day;
- GSI1 ``T#<t>#ACTOR#<actor>`` / ``<time>#…`` and GSI2 ``T#<t>#RESOURCE#<resource>`` / ``<time>#…``: the filters.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from crewhouse.bus.access import BusCaller
from crewhouse.core import table as t
from crewhouse.core.aws import forget_with_clients
from crewhouse.core.errors import Conflict
from crewhouse.core.keys import tenant_prefix

Item = dict[str, Any]
RETENTION_DAYS_LISTED = 90  # how far back a listing without ``since`` reaches
_sequence = itertools.count()  # tells apart two records of one request written in the same microsecond
_marked_days: set[tuple[str, str]] = set()  # (tenant, day) whose marker this container has seen written
_MARKED_DAYS_KEPT = 10_000  # forgetting only costs a repeated conditional put
forget_with_clients(_marked_days.clear)


def _day_pk(tenant_id: str, day: str) -> str:
    return f"{tenant_prefix(tenant_id)}AUDIT#{day}"


def _days_pk(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}AUDITDAYS"


class AuditTrail:
    def __init__(self, table: t.Table, clock: Any = None) -> None:
        self._table = table
        self._clock = clock or (lambda: datetime.now(UTC))

    def record(self, caller: BusCaller, action: str, resource: str, *, result: str = "ok",
               detail: dict[str, Any] | None = None) -> None:
        now = self._clock()
        at = now.isoformat(timespec="microseconds").replace("+00:00", "Z")
        sort_key = f"{at}#{caller.request_id or '-'}#{next(_sequence):06d}"
        self._mark_day(caller.tenant_id, at[:10])
        prefix = tenant_prefix(caller.tenant_id)
        self._table.put_new({
            "PK": _day_pk(caller.tenant_id, at[:10]), "SK": sort_key,
            "GSI1PK": f"{prefix}ACTOR#{caller.actor}", "GSI1SK": sort_key,
            "GSI2PK": f"{prefix}RESOURCE#{resource}", "GSI2SK": sort_key,
            "at": at, "actor": caller.actor, "actor_role": caller.role, "credential": caller.credential,
            "action": action, "resource": resource, "result": result, "request_id": caller.request_id,
            "detail": detail or {},
        })

    def _mark_day(self, tenant_id: str, day: str) -> None:
        """Before the day's first record, so a listing never misses a day that has records."""
        if (tenant_id, day) in _marked_days:
            return
        with contextlib.suppress(Conflict):  # another container marked it
            self._table.put_new({"PK": _days_pk(tenant_id), "SK": day})
        if len(_marked_days) >= _MARKED_DAYS_KEPT:
            _marked_days.clear()
        _marked_days.add((tenant_id, day))


@dataclass(frozen=True)
class AuditQuery:
    tenant_id: str
    actor: str | None = None
    resource: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _bound(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def audit_page(table: t.Table, query: AuditQuery, *, limit: int, start: dict[str, Any] | None,
               now: datetime) -> tuple[list[Item], dict[str, Any] | None]:
    """Newest first, at most ``limit`` records, and where the next page starts (``day`` and ``resume``)."""
    until = query.until or now
    since = query.since or until - timedelta(days=RETENTION_DAYS_LISTED)
    low, high = _bound(since), _bound(until) + "\uffff"
    prefix = tenant_prefix(query.tenant_id)
    if query.actor or query.resource:
        index, partition = (("GSI1", f"{prefix}ACTOR#{query.actor}") if query.actor
                            else ("GSI2", f"{prefix}RESOURCE#{query.resource}"))
        filters = {"resource": query.resource} if query.actor and query.resource else None
        items, resume = table.query(t.between(partition, low, high, index), limit=limit, forward=False,
                                    start=(start or {}).get("resume"), filters=filters)
        return items, ({"resume": resume} if resume else None)
    last_day = (start or {}).get("day") or until.astimezone(UTC).date().isoformat()
    first_day = since.astimezone(UTC).date().isoformat()
    days = _days_with_records(table, query.tenant_id, first_day, last_day)
    resume = (start or {}).get("resume")
    found: list[Item] = []
    for position, day in enumerate(days):
        if len(found) == limit:
            return found, {"day": day, "resume": None}
        items, resume = table.query(t.between(_day_pk(query.tenant_id, day), low, high), limit=limit - len(found),
                                    forward=False, start=resume if position == 0 else None)
        found += items
        if resume:
            return found, {"day": day, "resume": resume}
    return found, None


def _days_with_records(table: t.Table, tenant_id: str, first_day: str, last_day: str) -> list[str]:
    """The days from ``last_day`` back to ``first_day`` that have records, newest first (one Query: at most 91
    markers of a few bytes each)."""
    markers = table.query_all(t.between(_days_pk(tenant_id), first_day, last_day), projection=("SK",))
    return [str(item["SK"]) for item in reversed(markers)]
