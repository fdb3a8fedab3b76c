"""Typed errors: every bus failure arrives as RFC 9457 problem+json and leaves the SDK as a ``BusError``."""

from __future__ import annotations

import json
from typing import Any

import httpx


class BusError(Exception):
    """A problem+json answer (or a non-JSON error answer) from the bus."""

    def __init__(self, status: int, title: str, detail: str, *, type: str = "about:blank",
                 instance: str | None = None, extra: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.instance = instance
        self.extra: dict[str, Any] = extra or {}
        self.headers: dict[str, str] = headers or {}

    @property
    def request_id(self) -> str | None:
        value = self.extra.get("request_id")
        return str(value) if value is not None else None


class BadRequestError(BusError):
    """400 or 422: the request itself is wrong; retrying will not help."""


class UnauthorizedError(BusError):
    """401: no token, an expired one, or revoked credentials."""


class ForbiddenError(BusError):
    """403: the caller's role does not allow the action."""


class NotFoundError(BusError):
    """404: unknown, or another tenant's (the bus never reveals which)."""


class ConflictError(BusError):
    """409: e.g. a stream whose bytes do not match the checksum declared at its start."""


class PreconditionFailedError(BusError):
    """412: the ``If-Match`` version is stale; fetch the resource again."""


class PayloadTooLargeError(BusError):
    """413: over 256 KiB for a message or inline context; send a context reference or stream it."""


class RateLimitedError(BusError):
    """429 after the retries ran out."""

    @property
    def retry_after(self) -> float | None:
        from crewhouse_bus._retry import parse_retry_after

        return parse_retry_after(self.headers.get("retry-after"))


class ServerError(BusError):
    """5xx after the retries ran out."""


class ChecksumMismatchError(Exception):
    """Bytes on disk or on the wire do not hash to what the bus declared."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"{what}: expected SHA-256 {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class ReplyTimeoutError(Exception):
    """A synchronous request got no reply in time; fetch it later with ``get_reply(correlation_id)``."""

    def __init__(self, correlation_id: str) -> None:
        super().__init__(f"no reply yet for request {correlation_id}")
        self.correlation_id = correlation_id


_BY_STATUS: dict[int, type[BusError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    413: PayloadTooLargeError,
    422: BadRequestError,
    429: RateLimitedError,
}

_PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance"}


def error_class_for(status: int) -> type[BusError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else BusError


def error_from_response(response: httpx.Response) -> BusError:
    """The typed error for a failed answer; a body that is not problem+json still gives status and text."""
    status = response.status_code
    body: Any = None
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    headers = {key.lower(): value for key, value in response.headers.items()}
    cls = error_class_for(status)
    if not isinstance(body, dict):
        text = response.text[:500] if response.content else ""
        return cls(status, response.reason_phrase or "Error", text, headers=headers)
    extra = {key: value for key, value in body.items() if key not in _PROBLEM_MEMBERS}
    # The token endpoint answers OAuth's {"error", "error_description"} rather than problem+json.
    detail = body.get("detail") or body.get("error_description") or body.get("error") or ""
    return cls(status, str(body.get("title") or response.reason_phrase or "Error"), str(detail),
               type=str(body.get("type") or "about:blank"), instance=body.get("instance"), extra=extra,
               headers=headers)
