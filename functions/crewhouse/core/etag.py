"""Optimistic concurrency with ``ETag``/``If-Match`` over an item's ``version`` attribute."""

from __future__ import annotations

from crewhouse.core.errors import PreconditionFailed


def etag_for(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> int | None:
    """The version an ``If-Match`` header asks for; ``None`` when absent or ``*``."""
    if header is None:
        return None
    value = header.strip()
    if value in ("", "*"):
        return None
    value = value.removeprefix("W/").strip('"')
    try:
        return int(value)
    except ValueError as exc:
        raise PreconditionFailed(f"If-Match {header!r} is not an ETag this API issued.") from exc


def require_version(if_match: str | None, current_version: int) -> None:
    """412 when the client's ``If-Match`` names a version other than the current one."""
    wanted = parse_if_match(if_match)
    if wanted is not None and wanted != current_version:
        raise PreconditionFailed(
            f"The resource is at version {current_version}, not {wanted}; fetch it again and retry.",
            current_version=current_version,
        )
