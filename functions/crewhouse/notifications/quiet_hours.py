"""Quiet hours: whether a moment falls into a person's nightly quiet window, and when that window ends.

The window is local wall time in the person's zone (``22:00``-``07:00``), so its length in UTC changes across a
daylight-saving change (nine hours on the night clocks go forward in Berlin, eleven when they go back). Every
comparison is made in UTC: Python compares two datetimes of the same zone by wall time, which across a DST
change would put the end of a window before its start.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def _wall(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _utc(day: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time ``at`` on ``day`` in ``zone`` (a time skipped by a DST change resolves to
    the instant the clocks reached it, as the zone's rules say for fold 0)."""
    return datetime.combine(day.date(), at, tzinfo=zone).astimezone(UTC)


def next_local_hour(now: datetime, hour: int, timezone: str) -> datetime:
    """The first instant after ``now`` (UTC) at which the wall clock in ``timezone`` reads ``hour``:00 (the daily
    digest's time; on a day DST skips that hour, the instant the clocks reached it)."""
    zone = ZoneInfo(timezone)
    now_utc = now.astimezone(UTC)
    local = now_utc.astimezone(zone)
    for days in (0, 1, 2):
        candidate = _utc(local + timedelta(days=days), time(hour), zone)
        if candidate > now_utc:
            return candidate
    raise AssertionError("unreachable: a wall hour recurs within two days")  # pragma: no cover


def quiet_until(now: datetime, start: str, end: str, timezone: str) -> datetime | None:
    """The end of the quiet window ``now`` falls into (UTC), or None outside one. ``start == end``: no window."""
    if start == end:
        return None
    zone = ZoneInfo(timezone)
    begins, ends = _wall(start), _wall(end)
    now_utc = now.astimezone(UTC)
    local = now_utc.astimezone(zone)
    for days_back in (1, 0):  # a window that started yesterday evening, or one that started today
        first_day = local - timedelta(days=days_back)
        window_start = _utc(first_day, begins, zone)
        last_day = first_day + timedelta(days=1) if ends <= begins else first_day
        window_end = _utc(last_day, ends, zone)
        if window_start <= now_utc < window_end:
            return window_end
    return None
