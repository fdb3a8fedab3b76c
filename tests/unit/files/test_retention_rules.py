"""The retention rules: UTC days, the due and warning windows and their boundaries, the next sweep, and the
warning event's detail."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from crewhouse.files import keys
from crewhouse.files.retention import (
    cutoff,
    delete_after,
    next_sweep,
    policy_of,
    state_on,
    utc_day,
    warning_details,
    warning_end,
)

D = date(2026, 1, 1)


def test_days_are_utc_days_whatever_the_offset() -> None:
    assert utc_day("2026-01-01T23:30:00-02:00") == date(2026, 1, 2)  # 01:30 UTC the next day
    assert utc_day("2026-01-02T00:30:00+02:00") == date(2026, 1, 1)  # 22:30 UTC the day before
    assert utc_day("2026-01-01T12:00:00") == date(2026, 1, 1)  # naive: read as UTC
    assert utc_day("2026-01-01T00:00:00+00:00") == date(2026, 1, 1)


@pytest.mark.parametrize(("today", "expected"), [
    (date(2026, 1, 24), None),  # 8 days before delete_after (Jan 31)
    (date(2026, 1, 25), "warning"),  # the first warning: 7 days before the sweep that deletes it (Feb 1)
    (date(2026, 1, 31), "warning"),  # delete_after: the last day it is kept
    (date(2026, 2, 1), "due"),
    (date(2027, 1, 1), "due"),
])
def test_a_file_is_kept_through_delete_after_and_warned_the_week_before(today: date, expected: str | None) -> None:
    assert delete_after(D, 30) == date(2026, 1, 31)
    assert state_on(today, D, 30) == expected


def test_the_index_ranges_match_the_states() -> None:
    """The sweep queries last-opened days < cutoff (due) and cutoff .. warning_end (exclusive) (warning)."""
    today = date(2026, 3, 10)
    for days in (30, 31, 365, 3650):
        for back in range(days - 10, days + 10):
            opened = today - timedelta(days=back)
            state = state_on(today, opened, days)
            assert (opened < cutoff(today, days)) == (state == "due"), (days, back)
            assert (cutoff(today, days) <= opened < warning_end(today, days)) == (state == "warning"), (days, back)


def test_index_keys_sort_by_day_and_a_bare_day_bounds_them() -> None:
    key = keys.opened_sk("2026-01-01", "u", "f")
    assert "2025-12-31#z#z" < "2026-01-01" <= key < "2026-01-02"
    assert keys.opened_pk("t1") == "T#t1#OPENED"


def test_the_next_sweep_is_todays_until_it_ran() -> None:
    assert next_sweep(datetime(2026, 1, 1, 2, 59, tzinfo=UTC), 3) == datetime(2026, 1, 1, 3, tzinfo=UTC)
    assert next_sweep(datetime(2026, 1, 1, 3, 0, tzinfo=UTC), 3) == datetime(2026, 1, 2, 3, tzinfo=UTC)
    # 23:00 in New York on Dec 31 is 04:00 UTC on Jan 1: today's sweep (UTC) has run.
    new_york = timezone(timedelta(hours=-5))
    assert next_sweep(datetime(2025, 12, 31, 23, 0, tzinfo=new_york), 3) == datetime(2026, 1, 2, 3, tzinfo=UTC)


def test_a_tenant_without_a_policy_keeps_everything() -> None:
    assert policy_of(None) == (False, 365, 0, None, None)
    assert policy_of({"enabled": True, "days": 90, "version": 3}).days == 90


def test_the_warning_names_the_soonest_fifty_and_counts_the_rest() -> None:
    files = [{"file_id": f"f{n}", "filename": f"n{n:02}", "size": n, "last_opened_at": "2026-01-01T00:00:00+00:00",
              "delete_after": "2026-02-0" + str(1 + n % 3), "extra": "not sent"} for n in range(53)]
    detail = warning_details("t1", "u1", files)
    assert (detail["tenant_id"], detail["user_id"], detail["delete_after"], detail["more"]) == (
        "t1", "u1", "2026-02-01", 3)
    assert len(detail["files"]) == 50
    assert [f["delete_after"] for f in detail["files"]] == sorted(f["delete_after"] for f in detail["files"])
    assert set(detail["files"][0]) == {"file_id", "filename", "size", "last_opened_at", "delete_after"}
    assert warning_details("t1", "u1", files[:1])["more"] == 0
