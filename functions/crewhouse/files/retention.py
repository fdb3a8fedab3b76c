"""The tenant's file-retention policy: files nobody opened for ``days`` days are deleted, with a preview of what
would go and a warning a week before. The rules are pure (UTC days); :class:`Retention` applies them through the
files service's ports, and deletes through the same path as ``DELETE /files/{id}``.

**Opened** means, for a file: created (``POST /files``), its bytes checked and made available, and the owner's
``GET /files/{id}`` (the file with its OCR text), ``GET /files/{id}/download`` or ``GET /files/{id}/thumbnail``
(a presigned link created). Listing, searching, attaching, and agents reading a file (MCP tools, jobs) do not
count. ``last_opened_at`` is written at most once per file per UTC day (see ``FileService.opened``).

**Days** are UTC calendar days. A file last opened on day ``D`` is kept through ``delete_after = D + days`` and
deleted by the first sweep on a later day. It is in the **warning window** on the 7 days up to and including
``delete_after`` (so the first warning goes out 7 days before the sweep that deletes it), and warned once per
window: ``warned_for`` records the ``delete_after`` a warning announced, and opening the file removes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from crewhouse.core.errors import Conflict, Forbidden
from crewhouse.core.etag import require_version
from crewhouse.core.identity import Identity
from crewhouse.files import keys

if TYPE_CHECKING:
    from crewhouse.files.logic import FileService

Item = dict[str, Any]
MIN_DAYS, MAX_DAYS, DEFAULT_DAYS = 30, 3650, 365
WARNING_DAYS = 7
MAX_LISTED = 50  # files named in one warning event; the rest are counted in "more"
EVENT_SOURCE, WARNING_EVENT = "crewhouse.files", "file.retention.warning"
State = Literal["due", "warning"]


# --- the rules (pure) ------------------------------------------------------------------------------------------


def utc_day(timestamp: str) -> date:
    """The UTC calendar day of an ISO 8601 timestamp (any offset; a naive one is read as UTC)."""
    moment = datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


def delete_after(last_opened: date, days: int) -> date:
    """The last day a file opened on ``last_opened`` is kept."""
    return last_opened + timedelta(days=days)


def cutoff(today: date, days: int) -> date:
    """Files last opened before this day are due on ``today``."""
    return today - timedelta(days=days)


def warning_end(today: date, days: int) -> date:
    """The first last-opened day past the warning window on ``today`` (exclusive bound)."""
    return cutoff(today, days) + timedelta(days=WARNING_DAYS)


def state_on(today: date, last_opened: date, days: int) -> State | None:
    """``due`` (the sweep of ``today`` deletes it), ``warning`` (it goes within 7 days) or None."""
    kept_until = delete_after(last_opened, days)
    if today > kept_until:
        return "due"
    if today > kept_until - timedelta(days=WARNING_DAYS):
        return "warning"
    return None


def next_sweep(now: datetime, hour: int) -> datetime:
    """When the daily sweep (at ``hour``:00 UTC) next runs: today's if it is still ahead, else tomorrow's."""
    now = now.astimezone(UTC)
    today = datetime.combine(now.date(), time(hour), tzinfo=UTC)
    return today if now < today else today + timedelta(days=1)


def warning_details(tenant_id: str, user_id: str, files: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``file.retention.warning`` detail for one user: soonest first, at most 50 named, the rest counted."""
    ordered = sorted(files, key=lambda f: (f["delete_after"], f["filename"], f["file_id"]))
    listed = ordered[:MAX_LISTED]
    return {"tenant_id": tenant_id, "user_id": user_id, "delete_after": listed[0]["delete_after"],
            "files": [{k: f[k] for k in ("file_id", "filename", "size", "last_opened_at", "delete_after")}
                      for f in listed],
            "more": len(ordered) - len(listed)}


class Policy(NamedTuple):
    enabled: bool
    days: int
    version: int
    updated_at: str | None = None
    updated_by: str | None = None


def policy_of(item: Mapping[str, Any] | None) -> Policy:
    if not item:
        return Policy(enabled=False, days=DEFAULT_DAYS, version=0)
    return Policy(enabled=bool(item["enabled"]), days=int(item["days"]), version=int(item["version"]),
                  updated_at=item.get("updated_at"), updated_by=item.get("updated_by"))


class Candidate(NamedTuple):
    """A file of the last-opened index, as the sweep and the preview see it."""

    user_id: str
    file_id: str
    filename: str
    size: int
    status: str
    last_opened_at: str
    warned_for: str | None
    owner: str

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> Candidate:
        _, user_id = keys.owner_parts(str(item["PK"]))
        return cls(user_id=user_id, file_id=str(item["id"]), filename=str(item.get("filename", "")),
                   size=int(item.get("size", 0)), status=str(item.get("status", "")),
                   last_opened_at=str(item["last_opened_at"]), warned_for=item.get("warned_for"),
                   owner=str(item["PK"]))

    def delete_after(self, days: int) -> date:
        return delete_after(utc_day(self.last_opened_at), days)


class SweepReport(NamedTuple):
    tenants: int
    deleted: list[str]
    skipped: list[str]  # due, but opened (or deleted) since the sweep read the index, or its links kept changing
    warned_users: int
    warned_files: int
    complete: bool


# --- applying them ---------------------------------------------------------------------------------------------


class Retention:
    """The policy API, its preview and the sweep, over the files service (its store, objects and delete path)."""

    def __init__(self, service: FileService, events: Any = None, event_bus: str = "crewhouse", *,
                 sweep_hour: int = 3) -> None:
        self.service = service
        self.store = service.store
        self.events = events
        self.event_bus = event_bus
        self.sweep_hour = sweep_hour

    # --- policy ---------------------------------------------------------------------------------------------

    def policy(self, tenant_id: str) -> Policy:
        return policy_of(self.store.retention_policy(tenant_id))

    def set_policy(self, identity: Identity, enabled: bool, days: int, if_match: str | None) -> Policy:
        if not identity.has_role("admin"):
            raise Forbidden("Only a tenant admin may change the file-retention policy.")
        current = self.policy(identity.tenant_id)
        require_version(if_match, current.version)
        item = {"enabled": enabled, "days": days, "version": current.version + 1,
                "updated_at": self.service.clock().isoformat(), "updated_by": identity.user_id}
        self.store.put_retention_policy(identity.tenant_id, item, expected_version=current.version)
        return policy_of(item)

    # --- preview --------------------------------------------------------------------------------------------

    def preview(self, identity: Identity, days: int | None, limit: int, start: dict[str, Any] | None
                ) -> dict[str, Any]:
        """What the next sweep would delete and what is in the warning window then: the whole tenant's for an
        admin, the caller's own files for anyone else. Totals come with the first page only (they read the
        whole range: one Query per 1 MB of index, about 5,000 files)."""
        policy = self.policy(identity.tenant_id)
        days = days or policy.days
        at = next_sweep(self.service.clock(), self.sweep_hour)
        today = at.date()
        end = warning_end(today, days).isoformat()
        owner = None if identity.has_role("admin") else keys.owner_pk(identity.tenant_id, identity.user_id)
        items, last = self.store.opened_before(identity.tenant_id, end, owner=owner, limit=limit, start=start)
        listed = []
        for candidate in map(Candidate.of, items):
            state = state_on(today, utc_day(candidate.last_opened_at), days)
            if state is None:  # the index lags a moment behind an open
                continue
            listed.append({"file_id": candidate.file_id, "user_id": candidate.user_id,
                           "filename": candidate.filename, "size": candidate.size, "status": candidate.status,
                           "last_opened_at": candidate.last_opened_at, "state": state,
                           "delete_after": candidate.delete_after(days).isoformat(),
                           "warned": candidate.warned_for == candidate.delete_after(days).isoformat()})
        totals = None
        if start is None:
            totals = {"due": {"count": 0, "bytes": 0}, "warning": {"count": 0, "bytes": 0}}
            for item in self.store.opened_before_all(identity.tenant_id, end, owner=owner):
                state = state_on(today, utc_day(str(item["last_opened_at"])), days)
                if state is not None:
                    totals[state]["count"] += 1
                    totals[state]["bytes"] += int(item.get("size", 0))
        return {"enabled": policy.enabled, "days": days, "as_of": today, "next_sweep_at": at,
                "scope": "own" if owner else "tenant", "totals": totals, "items": listed, "last": last}

    # --- the sweep ------------------------------------------------------------------------------------------

    def sweep(self, *, tenant_id: str | None = None, time_left: Callable[[], float] = lambda: 1e9,
              page_size: int = 100) -> SweepReport:
        """Delete every enabled tenant's due files and warn about those entering the warning window.

        Safe to interrupt and to repeat: a file is claimed (``retention_claim``) only if its ``last_opened_at``
        is still what the sweep read, an open of a claimed file answers 404, and the delete path gives its bytes
        back to the quota exactly once. ``time_left`` (seconds before the function must stop, margin included) ends
        the sweep between tenants and pages once it reaches 0; the next day's run continues where files are due.
        """
        today = self.service.clock().astimezone(UTC).date()
        deleted: list[str] = []
        skipped: list[str] = []
        tenants = warned_users = warned_files = 0
        for policy_item in self.store.retention_tenants(tenant_id):
            if time_left() <= 0:
                return SweepReport(tenants, deleted, skipped, warned_users, warned_files, complete=False)
            tenants += 1
            tenant, days = str(policy_item["tenant_id"]), int(policy_item["days"])
            if not self._delete_due(tenant, today, days, deleted, skipped, time_left, page_size):
                return SweepReport(tenants, deleted, skipped, warned_users, warned_files, complete=False)
            users, files = self._warn(tenant, today, days)
            warned_users += users
            warned_files += files
        return SweepReport(tenants, deleted, skipped, warned_users, warned_files, complete=True)

    def _delete_due(self, tenant_id: str, today: date, days: int, deleted: list[str], skipped: list[str],
                    time_left: Callable[[], float], page_size: int) -> bool:
        before = cutoff(today, days).isoformat()
        start: dict[str, Any] | None = None
        while True:
            items, start = self.store.opened_before(tenant_id, before, limit=page_size, start=start)
            for candidate in map(Candidate.of, items):
                claimed = self.store.claim_for_retention(candidate.owner, candidate.file_id,
                                                         candidate.last_opened_at, today.isoformat())
                if claimed is None:
                    skipped.append(candidate.file_id)
                    continue
                try:
                    self.service.remove(claimed)
                except Conflict:  # its task or note kept changing: stays claimed, the next sweep retries it
                    skipped.append(candidate.file_id)
                    continue
                deleted.append(candidate.file_id)
            if not start:
                return True
            if time_left() <= 0:
                return False

    def _warn(self, tenant_id: str, today: date, days: int) -> tuple[int, int]:
        """One ``file.retention.warning`` per user with files newly in the window; returns (users, files)."""
        low, high = cutoff(today, days).isoformat(), warning_end(today, days).isoformat()
        by_user: dict[str, list[Candidate]] = {}
        for item in self.store.opened_between_all(tenant_id, low, high):
            candidate = Candidate.of(item)
            if candidate.warned_for != candidate.delete_after(days).isoformat():
                by_user.setdefault(candidate.user_id, []).append(candidate)
        if not by_user:
            return 0, 0
        entries = []
        for user_id, candidates in sorted(by_user.items()):
            detail = warning_details(tenant_id, user_id, [
                {"file_id": c.file_id, "filename": c.filename, "size": c.size, "last_opened_at": c.last_opened_at,
                 "delete_after": c.delete_after(days).isoformat()} for c in candidates])
            entries.append((user_id, {"Source": EVENT_SOURCE, "DetailType": WARNING_EVENT,
                                      "EventBusName": self.event_bus, "Detail": json.dumps(detail)}))
        users = files = 0
        for sent_user in self._put_events(entries):
            users += 1
            for candidate in by_user[sent_user]:
                # Recorded after the event went out: an interruption here repeats a warning, never loses one.
                if self.store.mark_warned(candidate.owner, candidate.file_id, candidate.last_opened_at,
                                          candidate.delete_after(days).isoformat()):
                    files += 1
        return users, files

    def _put_events(self, entries: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
        """PutEvents, 10 entries a request; the users whose event EventBridge accepted."""
        pending = list(entries)
        sent: list[str] = []
        for begin in range(0, len(pending), 10):
            chunk = pending[begin:begin + 10]
            response = self.events.put_events(Entries=[entry for _, entry in chunk])
            results = response.get("Entries") or []
            sent.extend(user for (user, _), result in zip(chunk, results, strict=False) if "EventId" in result)
        return sent

