"""Quick-add: one typed line such as ``A1 call the bank fri 9am every month #finance`` to task fields.

Dates and times are read by ``dateparser`` (no home-grown date grammar): we only decide *which* words
to hand it, because it happily reads "may" or "9" as dates. Recurrence phrases come from a small
table and priorities/tags from fixed markers. Every recognised piece is reported in ``understood``
so the client can show (and let the user undo) the interpretation. Pure logic: ``now`` and the zone
are injected. ``dateparser`` is imported on first use only: it costs ~150 ms, too much for every
cold start of a handler that merely imports this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, Field

Priority = Literal["A", "B", "C"]

MAX_WINDOW = 6
"""Longest run of words offered to dateparser ("on dec 3 at 14:30" is five)."""


class Understood(BaseModel):
    """One recognised piece of the line and what we took it to mean."""

    text: str
    meaning: str


class QuickAdd(BaseModel):
    """The task fields read from a quick-add line; words we did not recognise form the title."""

    title: str
    priority: Priority | None = None
    position: int | None = None
    planned_date: date | None = None
    due: AwareDatetime | None = None
    recurrence: str | None = None
    tags: list[str] = Field(default_factory=list)
    understood: list[Understood] = Field(default_factory=list)


class QuickAddError(ValueError):
    """The line cannot become a task (empty, no title left, unknown zone, naive ``now``)."""


_WEEKDAYS = {
    "monday": "MO", "mon": "MO", "tuesday": "TU", "tue": "TU", "tues": "TU",
    "wednesday": "WE", "wed": "WE", "thursday": "TH", "thu": "TH", "thur": "TH", "thurs": "TH",
    "friday": "FR", "fri": "FR", "saturday": "SA", "sat": "SA", "sunday": "SU", "sun": "SU",
}  # fmt: skip
_WEAK_WEEKDAYS = {"sun", "sat", "wed"}
"""Also ordinary words ("enjoy the sun"): a date only next to a time or "on"/"next"/"this"/"by"."""
_MONTHS = {
    "january", "jan", "february", "feb", "march", "mar", "april", "apr", "may", "june", "jun",
    "july", "jul", "august", "aug", "september", "sep", "sept", "october", "oct", "november", "nov",
    "december", "dec",
}  # fmt: skip
_RELATIVE_DAYS = {"today", "tomorrow", "tonight"}
_CLOCK_WORDS = {"noon", "midnight"}
_UNITS = {"day": "DAILY", "week": "WEEKLY", "month": "MONTHLY", "year": "YEARLY"}
_FILLERS = {"on", "at", "the", "of", "in", "next", "this", "by"}
_AM_PM = {"am", "pm", "a.m.", "p.m."}
_TIME = re.compile(r"^\d{1,2}(?::\d{2})?(?:am|pm)$|^\d{1,2}:\d{2}$")
_NUMERIC_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$|^\d{1,2}[./]\d{1,2}(?:[./]\d{2,4})?$")
_ORDINAL = re.compile(r"^\d{1,2}(?:st|nd|rd|th)$")
_NUMBER = re.compile(r"^\d{1,4}$")
_TAG = re.compile(r"^#([^\W_][\w-]*)$")
_MARKED_PRIORITY = re.compile(r"^(?:!|[pP]:)([ABCabc])(\d{1,3})?$")
_LEADING_PRIORITY = re.compile(r"^(?:([ABC])|([ABCabc])(\d{1,3}))$")
_PRIORITY_VALUE = re.compile(r"^([ABCabc])(\d{1,3})?$")
_SINGLE_WORD_RECURRENCE = {
    "daily": "FREQ=DAILY", "weekly": "FREQ=WEEKLY", "monthly": "FREQ=MONTHLY",
    "yearly": "FREQ=YEARLY", "annually": "FREQ=YEARLY",
}  # fmt: skip
_WORKDAYS = "MO,TU,WE,TH,FR"


@dataclass
class _Token:
    text: str  # as typed
    norm: str  # lower case, trailing punctuation removed


@dataclass
class _Reading:
    """What dateparser made of a window of words."""

    indexes: list[int]
    value: datetime  # naive, local wall clock
    has_time: bool
    has_day: bool
    hinted: bool = False


def parse_quick_add(
    line: str,
    *,
    now: datetime,
    timezone: str,
    date_order: Literal["DMY", "MDY", "YMD"] | None = None,
) -> QuickAdd:
    """Read a quick-add line relative to ``now`` (aware) in the user's IANA ``timezone``.

    A time makes ``due`` (aware, in ``timezone``) and its local date the ``planned_date``; a day
    without a time sets ``planned_date`` only. A time of day already past with no day given means
    tomorrow. Unrecognised words stay in the title, in their original order. ``date_order`` is the
    user's reading of numeric dates such as 12.03.2026 (dateparser's English default is MDY).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise QuickAddError("now must be timezone-aware")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise QuickAddError(f"unknown time zone {timezone!r}") from None
    tokens = [_Token(text, text.lower().rstrip(",;!?")) for text in line.split()]
    if not tokens:
        raise QuickAddError("the line is empty")
    used: set[int] = set()
    notes: list[tuple[int, Understood]] = []

    def note(indexes: list[int], meaning: str) -> None:
        used.update(indexes)
        notes.append((min(indexes), Understood(text=" ".join(tokens[i].text for i in indexes), meaning=meaning)))

    tags = _take_tags(tokens, note)
    priority, position = _take_priority(tokens, note)
    recurrence, day_hint = _take_recurrence(tokens, note)

    local_now = now.astimezone(zone).replace(tzinfo=None)
    reading = _take_date(tokens, used, day_hint, local_now, date_order)
    planned: date | None = None
    due: datetime | None = None
    if reading is not None:
        value = reading.value
        if reading.has_time and not reading.has_day and value <= local_now:
            value += timedelta(days=1)  # "9am" at 10:00 means tomorrow morning
        if reading.has_time:
            due = _localize(value, zone)
            planned = due.date()
            meaning = f"due {due:%a %Y-%m-%d %H:%M} ({timezone})"
        else:
            planned = value.date()
            meaning = f"planned for {planned:%a %Y-%m-%d}"
        if reading.indexes:
            note(reading.indexes, meaning)
        if reading.hinted:  # the day came from "every monday": say so on that phrase
            for index, understood in notes:
                if day_hint is not None and index == day_hint.index:
                    understood.meaning += f", starting {planned:%a %Y-%m-%d}"

    title = " ".join(token.text for i, token in enumerate(tokens) if i not in used)
    if not title:
        raise QuickAddError("nothing is left for the title")
    return QuickAdd(
        title=title,
        priority=priority,
        position=position,
        planned_date=planned,
        due=due,
        recurrence=recurrence,
        tags=tags,
        understood=[understood for _, understood in sorted(notes, key=lambda pair: pair[0])],
    )


_Note = Callable[[list[int], str], None]


@dataclass
class _DayHint:
    """The weekday of an "every monday" phrase: the first occurrence when no date is given."""

    word: str
    text: str
    index: int


def _take_tags(tokens: list[_Token], note: _Note) -> list[str]:
    tags: list[str] = []
    for i, token in enumerate(tokens):
        match = _TAG.match(token.norm)
        if match:
            tag = match.group(1)
            note([i], f"tag {tag}")
            if tag not in tags:
                tags.append(tag)
    return tags


def _priority_at(tokens: list[_Token], i: int) -> tuple[str, str | None, list[int]] | None:
    """``(letter, digits, indexes)`` when a priority marker starts at token ``i``.

    A bare leading letter must be a capital: a leading lower-case "a" is the article.
    """
    text = tokens[i].text.rstrip(",;")
    marked = _MARKED_PRIORITY.match(text)
    if marked:
        return marked.group(1), marked.group(2), [i]
    if i == 0:
        leading = _LEADING_PRIORITY.match(text)
        if leading:
            return leading.group(1) or leading.group(2), leading.group(3), [i]
    if tokens[i].norm == "priority" and i + 1 < len(tokens):
        spelled = _PRIORITY_VALUE.match(tokens[i + 1].norm)
        if spelled:
            return spelled.group(1), spelled.group(2), [i, i + 1]
    return None


def _take_priority(tokens: list[_Token], note: _Note) -> tuple[Priority | None, int | None]:
    """The first marker: leading ``A``/``A1``, or anywhere ``!A``, ``p:A``, ``priority A`` (digits optional)."""
    for i in range(len(tokens)):
        found = _priority_at(tokens, i)
        if found is None or found[1] in ("0", "00", "000"):
            continue
        letter, digits, indexes = found
        priority: Priority = "A" if letter.upper() == "A" else "B" if letter.upper() == "B" else "C"
        position = int(digits) if digits else None
        note(indexes, f"priority {priority}" + (f", position {position}" if position else ""))
        return priority, position
    return None, None


def _unit(word: str) -> str | None:
    return _UNITS.get(word.removesuffix("s"))


def _weekday_word(word: str) -> str | None:
    """The weekday name in ``word``, accepting plurals of full names ("mondays")."""
    if word in _WEEKDAYS:
        return word
    singular = word.removesuffix("s")
    return singular if len(singular) > 5 and singular in _WEEKDAYS else None


def _take_recurrence(tokens: list[_Token], note: _Note) -> tuple[str | None, _DayHint | None]:
    """The first recurrence phrase as an RRULE, plus the weekday to start on ("every monday")."""
    for i, token in enumerate(tokens):
        if token.norm in _SINGLE_WORD_RECURRENCE:
            rule = _SINGLE_WORD_RECURRENCE[token.norm]
            note([i], f"repeats {rule}")
            return rule, None
        if token.norm not in ("every", "each") or i + 1 >= len(tokens):
            continue
        words = [t.norm for t in tokens[i + 1 : i + 12]]
        interval, skip = 1, 0
        if words[0] == "other":
            interval, skip = 2, 1
        elif _NUMBER.match(words[0]) and int(words[0]) >= 1:
            interval, skip = int(words[0]), 1
        if skip < len(words) and _unit(words[skip]):
            rule = f"FREQ={_unit(words[skip])}" + (f";INTERVAL={interval}" if interval > 1 else "")
            note(list(range(i, i + skip + 2)), f"repeats {rule}")
            return rule, None
        if skip == 0 and words[0] in ("weekday", "weekdays"):
            rule = f"FREQ=WEEKLY;BYDAY={_WORKDAYS}"
            note([i, i + 1], f"repeats {rule}")
            return rule, None
        first_day = _weekday_word(words[0])
        if skip == 0 and first_day:
            days = [first_day]
            count = 1  # words of the phrase after "every": "monday and thursday" is three
            while count + 1 < len(words) and words[count] == "and":
                following = _weekday_word(words[count + 1])
                if following is None:
                    break
                days.append(following)
                count += 2
            byday = ",".join(dict.fromkeys(_WEEKDAYS[day] for day in days))
            rule = f"FREQ=WEEKLY;BYDAY={byday}"
            indexes = list(range(i, i + count + 1))
            note(indexes, f"repeats {rule}")
            return rule, _DayHint(first_day, " ".join(tokens[j].text for j in indexes), i)
    return None, None


def _kind(word: str) -> str | None:
    """The role a word can play inside a date phrase; ``None`` means it is not date vocabulary."""
    if word in _WEEKDAYS:
        return "weekday"
    if word in _MONTHS:
        return "month"
    if word in _RELATIVE_DAYS:
        return "relday"
    if word in _CLOCK_WORDS or _TIME.match(word):
        return "time"
    if word in _AM_PM:
        return "ampm"
    if _NUMERIC_DATE.match(word):
        return "numdate"
    if _ORDINAL.match(word):
        return "ordinal"
    if _NUMBER.match(word):
        return "number"
    if _unit(word):
        return "unit"
    if word in _FILLERS:
        return "filler"
    return None


def _plausible(words: list[str]) -> bool:
    """Could these words be a date phrase? Guards dateparser against "may", "9", "2 weeks", "the sun"."""
    kinds = [_kind(word) for word in words]
    if any(kind is None for kind in kinds) or kinds[-1] == "filler" or words[0] == "of":
        return False
    has = set(kinds)
    has_month, has_day_number = "month" in has, bool(has & {"number", "ordinal"})
    if has_month and not has_day_number:
        return False  # a bare "may"/"march" is far more often a verb than a date
    for i, (word, kind) in enumerate(zip(words, kinds, strict=True)):
        before = words[i - 1] if i > 0 else ""
        after = kinds[i + 1] if i + 1 < len(kinds) else None
        if kind == "number" and not (after == "ampm" or has_month or (before == "in" and after == "unit")):
            return False
        if kind == "ordinal" and not (has_month or "weekday" in has):
            return False
        if kind == "ampm" and (i == 0 or kinds[i - 1] != "number"):
            return False
        if kind == "unit" and not (before in ("next", "this") or (i >= 2 and words[i - 2] == "in")):
            return False
        if word in _WEAK_WEEKDAYS and not (has & {"time", "ampm"} or set(words) & {"on", "next", "this", "by"}):
            return False
    strong = {"weekday", "relday", "time", "numdate", "unit"}
    return bool(has & strong) or (has_month and has_day_number)


def _take_date(
    tokens: list[_Token],
    used: set[int],
    day_hint: _DayHint | None,
    local_now: datetime,
    date_order: str | None,
) -> _Reading | None:
    """The longest plausible window dateparser reads, completed by a second window or the hint."""
    import dateparser  # lazy: see the module docstring

    settings: dict[str, object] = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": local_now,
        "RETURN_TIME_AS_PERIOD": True,
    }
    if date_order:
        settings["DATE_ORDER"] = date_order
    parser = dateparser.DateDataParser(languages=["en"], settings=settings)

    def read(indexes: list[int], extra: str = "") -> _Reading | None:
        words = [tokens[i].norm for i in indexes]
        text = " ".join(filter(None, [extra, *words]))
        data = parser.get_date_data(text)
        if data.date_obj is None:
            return None
        has_time = data.period in ("time", "part_of_day")
        kinds = {_kind(word) for word in words}
        has_day = bool(extra) or bool(kinds & {"weekday", "month", "relday", "numdate", "unit", "ordinal"})
        return _Reading(indexes, data.date_obj.replace(tzinfo=None), has_time, has_day, hinted=bool(extra))

    def best(free: list[int]) -> _Reading | None:
        for length in range(min(MAX_WINDOW, len(free)), 0, -1):
            for start in range(len(free) - length + 1):
                window = free[start : start + length]
                if _plausible([tokens[i].norm for i in window]):
                    reading = read(window)
                    if reading is not None:
                        return reading
        return None

    free = [i for i in range(len(tokens)) if i not in used]
    first = best(free)
    if first is None:
        return read([], day_hint.word) if day_hint else None
    if first.has_time and first.has_day:
        return first
    second = best([i for i in free if i not in first.indexes])
    if second is not None and second.has_time != first.has_time and second.has_day != first.has_day:
        combined = read(sorted(first.indexes + second.indexes))
        if combined is not None and combined.has_time:
            return combined
    if first.has_time and not first.has_day and day_hint:
        hinted = read(first.indexes, day_hint.word)
        if hinted is not None:
            return hinted
    return first


def _localize(wall_clock: datetime, zone: tzinfo) -> datetime:
    """Attach the zone; a time in the spring-forward gap moves forward like a clock would."""
    return wall_clock.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
