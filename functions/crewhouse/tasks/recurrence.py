"""RFC 5545 recurrence for tasks, evaluated in the task's own IANA time zone.

Rules are expanded on naive *local wall-clock* times and only then given the zone, so "daily at
09:00 Europe/Berlin" stays 09:00 when the UTC offset changes. Local times that do not exist (spring
gap) or exist twice (autumn fold) are resolved as RFC 5545 3.3.5 says: the offset before the gap,
the first of the two. The task owns the series start (hence no DTSTART in the rule text). Pure logic.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

_UNTIL_FORMAT = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")
_PROBE_YEAR = 9200
"""Feasibility probes run near year 9999, where dateutil stops; see :func:`_never_occurs`."""
_MAX_SKIPS = 16


class RecurrenceError(ValueError):
    """A rule (or time zone) we cannot evaluate; ``reason`` is safe to show to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_rule(text: str) -> str:
    """The normalized RRULE value (no ``RRULE:`` prefix), or :class:`RecurrenceError` saying why not.

    Accepts the value with or without ``RRULE:``. The reason for a malformed rule is dateutil's own
    parser message. Also refused: DTSTART (the task's date is the start), COUNT with UNTIL (RFC
    5545 forbids both), a non-RFC UNTIL, and rules that can never produce a date (e.g. 30 February),
    which dateutil would otherwise search for up to year 9999.
    """
    body, until = _split(text)
    anchor = datetime(_PROBE_YEAR, 1, 1)
    rule = _compile(body, anchor)
    if _never_occurs(rule, anchor):
        raise RecurrenceError("the rule never produces a date")
    parts = str(rule).splitlines()[-1].removeprefix("RRULE:").split(";")
    if until is not None:  # keep UNTIL as written: dateutil would drop the Z / the date-only form
        parts = [part for part in parts if not part.startswith("UNTIL=")] + [f"UNTIL={until}"]
    return ";".join(parts)


def next_occurrence(
    rule: str,
    previous: datetime,
    timezone: str,
    *,
    start: datetime | None = None,
) -> datetime | None:
    """The first occurrence strictly after ``previous``, aware in ``timezone``; ``None`` once exhausted.

    The series is anchored at ``start`` (the first occurrence, RFC DTSTART) or, by default, at
    ``previous``. COUNT counts from that anchor: without ``start``, ``COUNT=1`` is exhausted at once
    and larger counts never run out, so pass ``start`` when the rule has a COUNT. Anchoring at
    ``previous`` also moves the wall-clock time when ``previous`` was pushed out of a DST gap; with
    ``start`` the original time is kept. dateutil walks from the anchor, so a ``start`` far in the
    past with a minutely rule costs time proportional to the occurrences in between.
    """
    zone = _zone(timezone)
    _require_aware(previous, "previous")
    anchor_source = previous if start is None else start
    _require_aware(anchor_source, "start")
    anchor = _wall_clock(anchor_source, zone)
    body, until = _split(rule)
    compiled = _compile(body, anchor, until, zone)
    if _never_occurs(compiled, anchor):
        return None
    candidate = compiled.after(_wall_clock(previous, zone), inc=True)
    for _ in range(_MAX_SKIPS):  # a fold can put a wall-clock time after `previous` before it in UTC
        if candidate is None:
            return None
        aware = _localize(candidate, zone)
        if aware > previous:
            return aware
        candidate = compiled.after(candidate, inc=False)
    return None


def next_date(rule: str, previous_date: date, timezone: str, *, start: date | None = None) -> date | None:
    """The first occurrence on a day after ``previous_date``, for date-only (planned) tasks.

    ``timezone`` places a UTC ``UNTIL`` on the local calendar; a date-only ``UNTIL`` includes that day.
    ``start`` anchors the series as in :func:`next_occurrence`.
    """
    zone = _zone(timezone)
    anchor = datetime.combine(previous_date if start is None else start, time())
    body, until = _split(rule)
    compiled = _compile(body, anchor, until, zone)
    if _never_occurs(compiled, anchor):
        return None
    candidate = compiled.after(datetime.combine(previous_date, time.max), inc=False)
    return None if candidate is None else candidate.date()


def _split(text: str) -> tuple[str, str | None]:
    """Strip the prefix, validate with dateutil, and set UNTIL aside (it is converted per zone)."""
    value = text.strip()
    if "DTSTART" in value.upper():
        raise RecurrenceError("DTSTART is not allowed in the rule: the task's own date is the series start")
    if value.upper().startswith("RRULE:"):
        value = value[len("RRULE:") :]
    value = value.upper()
    if "\n" in value or "\r" in value or ":" in value:
        raise RecurrenceError("expected a single RRULE value such as FREQ=WEEKLY;BYDAY=MO")
    parts = value.split(";")
    names = [part.partition("=")[0] for part in parts]
    if value and "FREQ" not in names:
        raise RecurrenceError("FREQ is required")
    try:
        rrulestr(value, dtstart=datetime(2000, 1, 1), ignoretz=True)
    except (ValueError, TypeError) as exc:
        raise RecurrenceError(str(exc)) from None
    if "COUNT" in names and "UNTIL" in names:
        raise RecurrenceError("COUNT and UNTIL must not both be set (RFC 5545)")
    for part in parts:
        key, _, raw = part.partition("=")
        if key in ("COUNT", "INTERVAL") and not (raw.lstrip("+").isdigit() and int(raw) >= 1):
            # dateutil accepts 0 and negatives; INTERVAL=0 would never advance
            raise RecurrenceError(f"invalid {key!r}: {raw} (must be a positive integer)")
        if key == "BYMONTH" and not all(item.lstrip("+").isdigit() and 1 <= int(item) <= 12 for item in raw.split(",")):
            raise RecurrenceError(f"invalid 'BYMONTH': {raw} (months are 1 to 12)")
    until = next((part.partition("=")[2] for part in parts if part.startswith("UNTIL=")), None)
    if until is not None and not _UNTIL_FORMAT.match(until):
        raise RecurrenceError(f"invalid 'UNTIL': {until} (expected YYYYMMDD or YYYYMMDDTHHMMSSZ)")
    body = ";".join(part for part in parts if not part.startswith("UNTIL="))
    return body, until


def _compile(body: str, anchor: datetime, until: str | None = None, zone: tzinfo | None = None) -> rrule:
    """The dateutil rule on naive local wall-clock times, UNTIL turned into local wall-clock too."""
    try:
        compiled: rrule = rrulestr(body, dtstart=anchor)
        if until is not None:
            compiled = compiled.replace(until=_local_until(until, zone or UTC))
    except (ValueError, TypeError) as exc:
        raise RecurrenceError(str(exc)) from None
    return compiled


def _local_until(until: str, zone: tzinfo) -> datetime:
    match = _UNTIL_FORMAT.match(until)
    assert match is not None  # validated in _split
    day, clock, utc = match.groups()
    if clock is None:  # a date-only UNTIL includes the whole local day
        return datetime.combine(datetime.strptime(day, "%Y%m%d").date(), time.max)
    moment = datetime.strptime(day + clock, "%Y%m%d%H%M%S")
    return _wall_clock(moment.replace(tzinfo=UTC), zone) if utc else moment


def _never_occurs(compiled: rrule, anchor: datetime) -> bool:
    """True when the rule yields nothing from the anchor on, decided without an 8000-year search.

    dateutil keeps searching until year 9999 for a rule that never matches (e.g. BYMONTH=2 with
    BYMONTHDAY=30), which takes seconds. The Gregorian calendar repeats every 400 years, so the same
    rule re-anchored at the same position in the cycle near year 9200 answers in at most 800 years.
    """
    try:
        probe_anchor = anchor.replace(year=_PROBE_YEAR + anchor.year % 400)
    except ValueError:
        return False
    try:
        probe = compiled.replace(dtstart=probe_anchor, until=None, count=None)
        return probe.after(probe_anchor, inc=True) is None
    except (OverflowError, ValueError):  # dateutil near its year limit: let the real evaluation decide
        return False


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise RecurrenceError(f"unknown time zone {timezone!r} (expected an IANA name like Europe/Berlin)") from None


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _wall_clock(moment: datetime, zone: tzinfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def _localize(wall_clock: datetime, zone: tzinfo) -> datetime:
    """Attach the zone; fold=0 gives RFC 5545's choice for gaps and folds, the UTC round trip normalizes."""
    return wall_clock.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
