"""The sync feed over a fake log: latest state per (kind, id) by version, deletions as {kind, id}, the settle
horizon, paging and expired tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crewhouse.core.errors import Gone
from crewhouse.core.identity import Identity
from crewhouse.sync.feed import SETTLE_MS, changes_since, latest_changes, supersedes
from crewhouse.sync.log import RETENTION_SECONDS, Change, position_for
from crewhouse.sync.models import SyncResponse

ME = Identity(tenant_id="t", user_id="u", role="member", scopes=frozenset())
KEY = b"k"
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


class FakeLog:
    def __init__(self, changes: list[Change]) -> None:
        self.changes = sorted(changes, key=lambda c: c.position)

    def changes_after(self, owner: str, position: str, limit: int) -> tuple[list[Change], bool]:
        assert owner == "T#t#U#u"
        after = [c for c in self.changes if c.position > position]
        return after[:limit], len(after) > limit


def change(ms_ago: int, kind: str, item: str, op: str = "upsert", version: int | None = 1,
           event: str = "e") -> Change:
    data = {"id": item, "version": version, "title": f"{item} v{version}"} if op == "upsert" else None
    return Change(position_for(NOW_MS - ms_ago, event), kind, item, op, version, data)


def feed(log: FakeLog, since: str | None, limit: int = 100) -> SyncResponse:
    return changes_since(log, KEY, ME, since, limit, clock=lambda: NOW)


def start_token(log: FakeLog, ms_ago: int) -> str:
    then = NOW - timedelta(milliseconds=ms_ago)
    return str(changes_since(log, KEY, ME, None, 10, clock=lambda: then).token)


def test_version_decides_even_when_positions_disagree() -> None:
    newer = change(10_000, "note", "n", version=3, event="a")
    older = change(10_000, "note", "n", version=2, event="b")  # same millisecond, later in the log
    assert supersedes(newer, older) and not supersedes(older, newer)
    assert latest_changes([newer, older])[("note", "n")] is newer
    purge = change(9_000, "note", "n", op="delete", version=3)
    assert supersedes(purge, newer) and not supersedes(newer, purge)
    legacy = Change("1#x", "task", "t", "upsert")
    assert supersedes(legacy, change(1, "task", "t"))  # without versions the log order decides


def test_items_carry_kind_and_deletions_are_kind_and_id() -> None:
    log = FakeLog([change(60_000, "task", "t1"), change(50_000, "note", "n1"), change(40_000, "notebook", "b1"),
                   change(30_000, "note", "n1", version=2), change(20_000, "note", "n2"),
                   change(10_000, "note", "n2", op="delete", version=2)])
    body = feed(log, start_token(log, 70_000))
    assert sorted((i.kind, i.id, i.version) for i in body.items) == [
        ("note", "n1", 2), ("notebook", "b1", 1), ("task", "t1", 1)]
    assert [d.model_dump() for d in body.deleted] == [{"kind": "note", "id": "n2"}]
    assert next(i for i in body.items if i.id == "n1").model_dump()["title"] == "n1 v2"
    quiet = feed(log, body.token)
    assert (quiet.items, quiet.deleted) == ([], [])


def test_fresh_entries_wait_for_the_horizon() -> None:
    settled = change(SETTLE_MS + 500, "note", "old")
    fresh = change(SETTLE_MS - 500, "note", "new")
    log = FakeLog([settled, fresh])
    body = feed(log, start_token(log, 60_000))
    assert [i.id for i in body.items] == ["old"] and body.has_more is False
    # An entry written late but stamped just before the fresh one still comes next time: nothing is skipped.
    log.changes.append(change(SETTLE_MS - 400, "note", "late", event="0"))
    log.changes.sort(key=lambda c: c.position)
    later = changes_since(log, KEY, ME, body.token, 100, clock=lambda: NOW + timedelta(seconds=5))
    assert sorted(i.id for i in later.items) == ["late", "new"]
    fresh_token = feed(log, None).token
    assert feed(log, fresh_token).items == []  # a fresh token starts at the horizon


def test_pages_follow_has_more() -> None:
    log = FakeLog([change(60_000 - i, "task", f"t{i}") for i in range(5)])
    first = feed(log, start_token(log, 70_000), limit=2)
    assert (len(first.items), first.has_more) == (2, True)
    second = feed(log, first.token, limit=2)
    third = feed(log, second.token, limit=2)
    assert sorted(i.id for p in (first, second, third) for i in p.items) == [f"t{i}" for i in range(5)]
    assert third.has_more is False


def test_old_or_foreign_tokens_are_refused() -> None:
    log = FakeLog([])
    with pytest.raises(Gone):
        feed(log, start_token(log, (RETENTION_SECONDS + 60) * 1000))
    other = Identity(tenant_id="t", user_id="someone-else", role="member", scopes=frozenset())
    token = changes_since(log, KEY, other, None, 10, clock=lambda: NOW).token
    with pytest.raises(Exception, match="cursor"):
        feed(log, token)
