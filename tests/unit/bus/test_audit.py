"""The audit trail's listing reads only the days that have records (their markers), newest first, page by page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crewhouse.bus import audit
from crewhouse.bus.access import BusCaller
from crewhouse.bus.audit import AuditQuery, AuditTrail, audit_page
from crewhouse.core import table as t
from tests.support.memory_table import MemoryTable

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
CALLER = BusCaller("t1", "ada", "person", "admin", "cognito", request_id="r1")


class CountingTable(MemoryTable):
    def __init__(self) -> None:
        super().__init__()
        self.queries: list[str] = []

    def query(self, where: t.KeyRange, **kwargs: Any) -> t.Page:
        self.queries.append(where.partition)
        return super().query(where, **kwargs)

    def query_all(self, where: t.KeyRange, **kwargs: Any) -> list[dict[str, Any]]:  # one Query below 500 items
        self.queries.append(where.partition)
        return super().query_all(where, **kwargs)


@pytest.fixture(autouse=True)
def _fresh_container() -> None:
    audit._marked_days.clear()


def _write(table: MemoryTable, days_ago: int, count: int, tenant: str = "t1") -> None:
    moment = NOW - timedelta(days=days_ago)
    trail = AuditTrail(table, clock=lambda: moment)
    for n in range(count):
        trail.record(BusCaller(tenant, "ada", "person", "admin", "cognito", request_id=f"r{days_ago}-{n}"),
                     "agent.update", f"agent/{days_ago}")


def _all_pages(table: MemoryTable, limit: int) -> list[list[str]]:
    pages, start = [], None
    while True:
        items, start = audit_page(table, AuditQuery("t1"), limit=limit, start=start, now=NOW)
        pages.append([item["resource"] for item in items])
        if start is None:
            return pages


def test_a_quiet_tenant_is_listed_in_one_query_per_day_with_records_plus_the_markers() -> None:
    table = CountingTable()
    _write(table, 40, 1)
    _write(table, 3, 2)
    _write(table, 95, 1)  # older than a listing without ``since`` reaches
    table.queries.clear()
    items, more = audit_page(table, AuditQuery("t1"), limit=50, start=None, now=NOW)
    assert [item["resource"] for item in items] == ["agent/3", "agent/3", "agent/40"]
    assert more is None
    assert len(table.queries) == 3, table.queries  # the markers, then the 2 days: not one per calendar day (91)


def test_pages_follow_each_other_across_days_without_gaps_or_repeats() -> None:
    table = MemoryTable()
    for days_ago, count in ((0, 3), (1, 1), (7, 2), (89, 1)):
        _write(table, days_ago, count)
    pages = _all_pages(table, limit=2)
    assert [r for page in pages for r in page] == ["agent/0"] * 3 + ["agent/1"] + ["agent/7"] * 2 + ["agent/89"]
    assert all(len(page) <= 2 for page in pages) and pages[-1]


def test_a_day_is_marked_once_per_container_and_another_containers_marker_is_no_error() -> None:
    table = CountingTable()
    _write(table, 0, 3)
    markers = [key for key in table.items if str(key[0]).endswith("AUDITDAYS")]
    assert len(markers) == 1
    audit._marked_days.clear()  # a second container: its conditional put finds the marker
    _write(table, 0, 1)
    assert len([key for key in table.items if str(key[0]).endswith("AUDITDAYS")]) == 1


def test_tenants_do_not_see_each_others_days() -> None:
    table = MemoryTable()
    _write(table, 2, 1, tenant="t2")
    _write(table, 5, 1)
    items, _ = audit_page(table, AuditQuery("t1"), limit=10, start=None, now=NOW)
    assert [item["resource"] for item in items] == ["agent/5"]
