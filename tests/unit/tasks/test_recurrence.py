"""RRULE evaluation in the task's zone: wall-clock stable across DST, RFC 5545 edge cases."""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from crewhouse.tasks.recurrence import RecurrenceError, next_date, next_occurrence, parse_rule

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def chain(rule: str, first: datetime, zone: str, steps: int, **kwargs: datetime) -> list[datetime]:
    out = [first]
    for _ in range(steps):
        following = next_occurrence(rule, out[-1], zone, **kwargs)
        assert following is not None
        out.append(following)
    return out


@pytest.mark.parametrize(
    ("zone", "first"),
    [
        ("Europe/Berlin", datetime(2026, 3, 27, 9, tzinfo=BERLIN)),  # CET -> CEST on 29 March
        ("Europe/Berlin", datetime(2026, 10, 23, 9, tzinfo=BERLIN)),  # CEST -> CET on 25 October
        ("America/New_York", datetime(2026, 3, 6, 9, tzinfo=NEW_YORK)),  # EST -> EDT on 8 March
        ("America/New_York", datetime(2026, 10, 30, 9, tzinfo=NEW_YORK)),  # EDT -> EST on 1 November
    ],
)
def test_daily_nine_stays_nine_local_across_dst(zone: str, first: datetime) -> None:
    days = chain("FREQ=DAILY", first, zone, 4)
    assert [d.date() for d in days] == [first.date() + timedelta(days=i) for i in range(5)]
    assert all(d.time() == time(9) for d in days)
    assert all(d.tzinfo == ZoneInfo(zone) for d in days)
    offsets = {d.utcoffset() for d in days}
    assert len(offsets) == 2, "the UTC offset changes while the local time does not"
    utc_hours = [d.astimezone(UTC).hour for d in days]
    assert utc_hours[0] != utc_hours[-1]


def test_previous_given_in_utc_is_read_in_the_task_zone() -> None:
    previous = datetime(2026, 3, 28, 8, 0, tzinfo=UTC)  # 09:00 in Berlin (CET)
    following = next_occurrence("RRULE:FREQ=DAILY", previous, "Europe/Berlin")
    assert following == datetime(2026, 3, 29, 9, 0, tzinfo=BERLIN)
    assert following is not None and following.astimezone(UTC).hour == 7  # CEST now


def test_monthly_on_the_31st_skips_short_months() -> None:
    first = datetime(2026, 1, 31, 18, 30, tzinfo=BERLIN)
    explicit = chain("FREQ=MONTHLY;BYMONTHDAY=31", first, "Europe/Berlin", 6)
    implicit = chain("FREQ=MONTHLY", first, "Europe/Berlin", 6)  # day taken from the start
    expected = [date(2026, m, 31) for m in (1, 3, 5, 7, 8, 10, 12)]
    assert [d.date() for d in explicit] == expected
    assert [d.date() for d in implicit] == expected
    assert all(d.time() == time(18, 30) for d in explicit)


def test_count_is_exhausted_from_the_series_start() -> None:
    start = datetime(2026, 5, 4, 9, tzinfo=BERLIN)
    rule = "FREQ=WEEKLY;COUNT=3"
    second = next_occurrence(rule, start, "Europe/Berlin", start=start)
    assert second == datetime(2026, 5, 11, 9, tzinfo=BERLIN)
    third = next_occurrence(rule, second, "Europe/Berlin", start=start)
    assert third == datetime(2026, 5, 18, 9, tzinfo=BERLIN)
    assert next_occurrence(rule, third, "Europe/Berlin", start=start) is None
    # anchored at `previous` (no start) a COUNT=1 rule has nothing after it
    assert next_occurrence("FREQ=DAILY;COUNT=1", start, "Europe/Berlin") is None


def test_until_utc_is_an_instant_and_date_only_until_includes_the_day() -> None:
    previous = datetime(2026, 3, 29, 9, tzinfo=BERLIN)
    # 07:00Z on 30 March is exactly 09:00 CEST: included
    assert next_occurrence("FREQ=DAILY;UNTIL=20260330T070000Z", previous, "Europe/Berlin") == datetime(
        2026, 3, 30, 9, tzinfo=BERLIN
    )
    assert next_occurrence("FREQ=DAILY;UNTIL=20260330T065959Z", previous, "Europe/Berlin") is None
    assert next_occurrence("FREQ=DAILY;UNTIL=20260330", previous, "Europe/Berlin") is not None
    last = datetime(2026, 3, 30, 9, tzinfo=BERLIN)
    assert next_occurrence("FREQ=DAILY;UNTIL=20260330", last, "Europe/Berlin") is None


def test_nonexistent_local_time_uses_the_offset_before_the_gap() -> None:
    start = datetime(2026, 3, 28, 2, 30, tzinfo=BERLIN)
    in_gap = next_occurrence("FREQ=DAILY", start, "Europe/Berlin", start=start)
    # 02:30 does not exist on 29 March: RFC 5545 reads it with the old offset, i.e. 03:30 CEST
    assert in_gap == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert in_gap is not None and (in_gap.hour, in_gap.minute) == (3, 30)
    after_gap = next_occurrence("FREQ=DAILY", in_gap, "Europe/Berlin", start=start)
    assert after_gap == datetime(2026, 3, 30, 2, 30, tzinfo=BERLIN)


def test_ambiguous_local_time_takes_the_first_occurrence() -> None:
    previous = datetime(2026, 10, 24, 2, 30, tzinfo=BERLIN)
    following = next_occurrence("FREQ=DAILY", previous, "Europe/Berlin")
    assert following is not None
    assert following.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST


def test_result_is_strictly_after_previous() -> None:
    previous = datetime(2026, 6, 1, 9, tzinfo=BERLIN)
    assert next_occurrence("FREQ=DAILY;BYHOUR=9,18", previous, "Europe/Berlin") == datetime(
        2026, 6, 1, 18, tzinfo=BERLIN
    )


@given(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)),
    st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]),
)
@settings(max_examples=60, deadline=None)
def test_daily_keeps_the_wall_clock_unless_it_falls_in_a_gap(previous: datetime, zone: str) -> None:
    tz = ZoneInfo(zone)
    following = next_occurrence("FREQ=DAILY", previous, zone)
    assert following is not None and following > previous
    local = previous.astimezone(tz)
    assert following.date() == local.date() + timedelta(days=1)
    wanted = datetime.combine(following.date(), local.time().replace(tzinfo=None, microsecond=0))  # RFC: seconds
    exists = wanted.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wanted
    assert (following.replace(tzinfo=None) == wanted) == exists


def test_parse_rule_normalizes_with_or_without_prefix() -> None:
    assert parse_rule("RRULE:FREQ=WEEKLY;BYDAY=MO,WE") == parse_rule(" freq=weekly;byday=mo,we ")
    assert parse_rule("FREQ=MONTHLY;BYMONTHDAY=31") == "FREQ=MONTHLY;BYMONTHDAY=31"
    assert parse_rule("FREQ=DAILY;UNTIL=20261231T000000Z").endswith("UNTIL=20261231T000000Z")
    assert parse_rule("FREQ=DAILY;UNTIL=20261231").endswith("UNTIL=20261231")


@pytest.mark.parametrize("bad", ["FREQ=FOO", "FREQ=DAILY;FOO=1", "FREQ=DAILY;COUNT=x", "FREQ=WEEKLY;BYDAY=XX", ""])
def test_invalid_rule_carries_the_parser_reason(bad: str) -> None:
    with pytest.raises(ValueError) as parser:
        rrulestr(bad, dtstart=datetime(2000, 1, 1))
    with pytest.raises(RecurrenceError) as raised:
        parse_rule(bad)
    assert raised.value.reason == str(parser.value)
    with pytest.raises(RecurrenceError):
        next_occurrence(bad, datetime(2026, 1, 1, tzinfo=UTC), "Europe/Berlin")


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("DTSTART:20260101T090000\nRRULE:FREQ=DAILY", "DTSTART"),
        ("FREQ=DAILY;DTSTART=20260101", "DTSTART"),
        ("BYDAY=MO", "FREQ"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20261231", "COUNT and UNTIL"),
        ("FREQ=DAILY;UNTIL=2026-12-31", "UNTIL"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL"),
        ("FREQ=YEARLY;BYMONTH=13", "BYMONTH"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "never"),
        ("EXDATE:20260101", "single RRULE"),
    ],
)
def test_rejected_rules(bad: str, fragment: str) -> None:
    with pytest.raises(RecurrenceError) as raised:
        parse_rule(bad)
    assert fragment in raised.value.reason


def test_rule_impossible_for_its_anchor_is_exhausted_quickly() -> None:
    # "monthly, in February" takes its day from the anchor: the 30th never comes. Valid text, and
    # dateutil alone would search until year 9999 (seconds of Lambda time)
    assert parse_rule("FREQ=MONTHLY;BYMONTH=2") == "FREQ=MONTHLY;BYMONTH=2"
    started = clock.perf_counter()
    previous = datetime(2026, 1, 30, 9, tzinfo=BERLIN)
    assert next_occurrence("FREQ=MONTHLY;BYMONTH=2", previous, "Europe/Berlin") is None
    assert clock.perf_counter() - started < 3
    assert next_occurrence("FREQ=MONTHLY;BYMONTH=2", previous.replace(day=28), "Europe/Berlin") == datetime(
        2026, 2, 28, 9, tzinfo=BERLIN
    )


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd"])
def test_invalid_timezone(zone: str) -> None:
    with pytest.raises(RecurrenceError) as raised:
        next_occurrence("FREQ=DAILY", datetime(2026, 1, 1, tzinfo=UTC), zone)
    assert "time zone" in raised.value.reason
    with pytest.raises(RecurrenceError):
        next_date("FREQ=DAILY", date(2026, 1, 1), zone)


def test_naive_previous_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_occurrence("FREQ=DAILY", datetime(2026, 1, 1, 9), "Europe/Berlin")


def test_next_date_for_planned_tasks() -> None:
    assert next_date("FREQ=WEEKLY;BYDAY=MO,WE", date(2026, 11, 23), "Europe/Berlin") == date(2026, 11, 25)
    assert next_date("FREQ=WEEKLY;BYDAY=MO,WE", date(2026, 11, 25), "Europe/Berlin") == date(2026, 11, 30)
    assert next_date("FREQ=MONTHLY", date(2026, 1, 31), "Europe/Berlin") == date(2026, 3, 31)
    assert next_date("FREQ=HOURLY", date(2026, 1, 31), "Europe/Berlin") == date(2026, 2, 1)
    assert next_date("FREQ=DAILY;UNTIL=20260201", date(2026, 1, 31), "Europe/Berlin") == date(2026, 2, 1)
    assert next_date("FREQ=DAILY;UNTIL=20260201", date(2026, 2, 1), "Europe/Berlin") is None
    start = date(2026, 1, 1)
    assert next_date("FREQ=DAILY;COUNT=2", start, "Europe/Berlin", start=start) == date(2026, 1, 2)
    assert next_date("FREQ=DAILY;COUNT=2", date(2026, 1, 2), "Europe/Berlin", start=start) is None


def test_next_date_until_in_utc_lands_on_the_local_calendar() -> None:
    # 23:30Z on 1 Feb is already 2 Feb in Berlin, so 2 Feb is still inside the series
    assert next_date("FREQ=DAILY;UNTIL=20260201T233000Z", date(2026, 2, 1), "Europe/Berlin") == date(2026, 2, 2)
    assert next_date("FREQ=DAILY;UNTIL=20260201T233000Z", date(2026, 2, 1), "America/New_York") is None
