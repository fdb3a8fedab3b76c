"""Quick-add parsing with a fixed clock: Sunday 2026-11-22 10:00 in Europe/Berlin."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import dateparser
import pytest

from crewhouse.tasks.quick_add import QuickAddError, parse_quick_add
from crewhouse.tasks.recurrence import parse_rule

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=BERLIN)


def parse(line: str, **kwargs: Any) -> Any:
    return parse_quick_add(line, now=kwargs.pop("now", NOW), timezone=kwargs.pop("timezone", "Europe/Berlin"), **kwargs)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def test_the_example_line() -> None:
    result = parse("A1 call the bank fri 9am every month #finance")
    assert result.title == "call the bank"
    assert (result.priority, result.position) == ("A", 1)
    assert result.due == at(2026, 11, 27, 9, 0)
    assert result.due.tzinfo == BERLIN and result.due.utcoffset() == timedelta(hours=1)
    assert result.planned_date == date(2026, 11, 27)
    assert result.recurrence == "FREQ=MONTHLY"
    assert result.tags == ["finance"]
    assert [(u.text, u.meaning.split()[0]) for u in result.understood] == [
        ("A1", "priority"),
        ("fri 9am", "due"),
        ("every month", "repeats"),
        ("#finance", "tag"),
    ]


# (line, title, priority, position, planned_date, due, recurrence, tags)
CASES = [
    ("water the plants", "water the plants", None, None, None, None, None, []),
    ("buy milk tomorrow", "buy milk", None, None, date(2026, 11, 23), None, None, []),
    (
        "B2 dentist dec 3 14:30 #health #family",
        "dentist", "B", 2, date(2026, 12, 3), at(2026, 12, 3, 14, 30), None, ["health", "family"],
    ),
    ("see mom may 5", "see mom", None, None, date(2027, 5, 5), None, None, []),
    ("p:C water plants every 3 days", "water plants", "C", None, None, None, "FREQ=DAILY;INTERVAL=3", []),
    ("!b review report by friday", "review report", "B", None, date(2026, 11, 27), None, None, []),
    ("priority A pay invoice", "pay invoice", "A", None, None, None, None, []),
    ("A renew passport", "renew passport", "A", None, None, None, None, []),
    ("a call with bob on sat", "a call with bob", None, None, date(2026, 11, 28), None, None, []),
    ("call back 14:30", "call back", None, None, date(2026, 11, 22), at(2026, 11, 22, 14, 30), None, []),
    ("stretch daily 7am", "stretch", None, None, date(2026, 11, 23), at(2026, 11, 23, 7), "FREQ=DAILY", []),
    ("tomorrow call bank at 9am", "call bank", None, None, date(2026, 11, 23), at(2026, 11, 23, 9), None, []),
    ("meet anna in 3 days", "meet anna", None, None, date(2026, 11, 25), None, None, []),
    (
        "standup every weekday 9:15", "standup", None, None, date(2026, 11, 23), at(2026, 11, 23, 9, 15),
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", [],
    ),
    (
        "team sync every monday and thursday", "team sync", None, None, date(2026, 11, 23), None,
        "FREQ=WEEKLY;BYDAY=MO,TH", [],
    ),
    ("C3 wrap gifts every other week #xmas", "wrap gifts", "C", 3, None, None, "FREQ=WEEKLY;INTERVAL=2", ["xmas"]),
    ("pay rent every month", "pay rent", None, None, None, None, "FREQ=MONTHLY", []),
    ("gym every 2 weeks", "gym", None, None, None, None, "FREQ=WEEKLY;INTERVAL=2", []),
    ("renew domain yearly", "renew domain", None, None, None, None, "FREQ=YEARLY", []),
    ("fix bug today 9am", "fix bug", None, None, date(2026, 11, 22), at(2026, 11, 22, 9), None, []),
    ("order wine 2026-12-24", "order wine", None, None, date(2026, 12, 24), None, None, []),
    ("enjoy the sun", "enjoy the sun", None, None, None, None, None, []),
    ("plan 2 weeks holiday", "plan 2 weeks holiday", None, None, None, None, None, []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("line", "title", "priority", "position", "planned", "due", "recurrence", "tags"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_phrasings(
    line: str,
    title: str,
    priority: str | None,
    position: int | None,
    planned: date | None,
    due: datetime | None,
    recurrence: str | None,
    tags: list[str],
) -> None:
    result = parse(line)
    assert result.title == title
    assert (result.priority, result.position) == (priority, position)
    assert result.planned_date == planned
    assert result.due == due
    if due is not None:
        assert result.due.tzinfo == BERLIN
    assert result.recurrence == recurrence
    assert result.tags == tags
    if recurrence is not None:
        assert parse_rule(recurrence) == recurrence  # every phrase-table rule is a valid RRULE


def test_may_as_a_verb_is_not_a_date() -> None:
    # Documented behaviour: a month name counts only together with a day number. dateparser alone
    # would read "may" as 22 May 2027; "may 5" above is still a date.
    result = parse("ask if we may go")
    assert result.title == "ask if we may go"
    assert result.planned_date is None and result.due is None
    assert result.understood == []


def test_every_monday_gives_the_first_day_and_combines_with_a_time() -> None:
    result = parse("every monday 9am gym")
    assert result.title == "gym"
    assert result.recurrence == "FREQ=WEEKLY;BYDAY=MO"
    assert result.due == at(2026, 11, 23, 9)
    assert result.understood[0].text == "every monday"
    assert "starting Mon 2026-11-23" in result.understood[0].meaning


def test_day_and_time_apart_are_combined() -> None:
    result = parse("fri call bank 9am")
    assert result.title == "call bank"
    assert result.due == at(2026, 11, 27, 9)


def test_due_carries_the_offset_of_its_own_date() -> None:
    result = parse("dentist mar 30 9am")
    assert result.due == at(2027, 3, 30, 9)
    assert result.due.utcoffset() == timedelta(hours=2)  # summer time, unlike NOW


def test_now_in_another_zone_is_read_in_the_users_zone() -> None:
    result = parse("buy milk tomorrow", now=datetime(2026, 11, 22, 23, 30, tzinfo=UTC))  # 00:30 on the 23rd in Berlin
    assert result.planned_date == date(2026, 11, 24)


def test_numeric_date_order_is_the_users() -> None:
    assert parse("mail form 12.03.2027").planned_date == date(2027, 12, 3)
    assert parse("mail form 12.03.2027", date_order="DMY").planned_date == date(2027, 3, 12)


def test_title_keeps_original_words_case_and_order() -> None:
    result = parse("Call Bob, re: invoice #Work tomorrow please")
    assert result.title == "Call Bob, re: invoice please"
    assert result.tags == ["work"]


class RecordingParser(dateparser.DateDataParser):
    calls: ClassVar[list[str]] = []

    def get_date_data(self, date_string: str, date_formats: Any = None) -> Any:
        RecordingParser.calls.append(date_string)
        return super().get_date_data(date_string, date_formats)


def test_dates_come_from_dateparser(monkeypatch: pytest.MonkeyPatch) -> None:
    RecordingParser.calls = []
    monkeypatch.setattr(dateparser, "DateDataParser", RecordingParser)
    result = parse("A1 call the bank fri 9am every month #finance")
    assert result.due == at(2026, 11, 27, 9)
    assert "fri 9am" in RecordingParser.calls
    # plain words and bare numbers are never offered as dates
    assert not any(word in call.split() for call in RecordingParser.calls for word in ("call", "bank", "the"))


class FakeData:
    def __init__(self, value: datetime | None, period: str) -> None:
        self.date_obj, self.period = value, period


def test_without_dateparser_answers_there_is_no_date(monkeypatch: pytest.MonkeyPatch) -> None:
    class Blind:
        def __init__(self, **_: Any) -> None:
            pass

        def get_date_data(self, text: str) -> FakeData:
            return FakeData(None, "day")

    monkeypatch.setattr(dateparser, "DateDataParser", Blind)
    result = parse("buy milk tomorrow 9am")
    assert result.title == "buy milk tomorrow 9am"
    assert result.planned_date is None and result.due is None


def test_time_already_past_today_rolls_to_tomorrow(monkeypatch: pytest.MonkeyPatch) -> None:
    # a parser that, unlike dateparser's future preference, answers "today" for a bare time
    class Today:
        def __init__(self, **kwargs: Any) -> None:
            self.base = kwargs["settings"]["RELATIVE_BASE"]

        def get_date_data(self, text: str) -> FakeData:
            hour = int(text.removesuffix("am"))
            return FakeData(self.base.replace(hour=hour, minute=0), "time")

    monkeypatch.setattr(dateparser, "DateDataParser", Today)
    assert parse("run 9am").due == at(2026, 11, 23, 9)  # 09:00 < 10:00: tomorrow
    assert parse("run 11am").due == at(2026, 11, 22, 11)  # still ahead today


def test_handler_import_does_not_load_dateparser() -> None:
    code = "import sys, crewhouse.tasks.quick_add; sys.exit('dateparser' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=".", check=False).returncode == 0


@pytest.mark.parametrize("line", ["", "   ", "tomorrow 9am", "A1 #tag"])
def test_lines_without_a_title_are_refused(line: str) -> None:
    with pytest.raises(QuickAddError):
        parse(line)


def test_bad_clock_or_zone_is_refused() -> None:
    with pytest.raises(QuickAddError):
        parse("x", now=datetime(2026, 11, 22, 10))
    with pytest.raises(QuickAddError):
        parse("x", timezone="Nowhere/Land")
