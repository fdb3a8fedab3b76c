"""IANA time zone names as API fields, checked against the zone database."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def check_timezone(name: str | None) -> str | None:
    if name is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone {name!r}") from exc
    return name


TimezoneName = Annotated[str | None, AfterValidator(check_timezone)]
