"""RFC 9457 problem details: every error leaves the API as ``application/problem+json``.

Domain code raises :class:`Problem` (or a subclass); ``core/http.py`` maps it, request validation errors
and framework HTTP errors to responses in one place, so no bad input ever becomes a 500. This module has
no web-framework imports: workers raise and read problems too, and must stay cheap to import.
"""

from __future__ import annotations

from typing import Any

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://crewhouse.dev/problems/"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    428: "Precondition Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    410: "gone",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    428: "precondition-required",
    429: "too-many-requests",
    500: "internal-error",
    503: "service-unavailable",
}


class Problem(Exception):
    """A failure that the client should see as problem+json with ``status``."""

    status = 400
    slug: str | None = None
    headers: dict[str, str] | None = None  # response headers the problem needs (Retry-After, RateLimit-*)

    def __init__(self, detail: str, *, status: int | None = None, slug: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        if status is not None:
            self.status = status
        if slug is not None:
            self.slug = slug
        self.extra = extra

    def body(self, instance: str | None = None, request_id: str | None = None) -> dict[str, Any]:
        origin = {"request_id": request_id} if request_id else {}
        return problem_body(self.status, self.detail, slug=self.slug, instance=instance, **origin, **self.extra)


class BadRequest(Problem):
    status = 400


class Unauthorized(Problem):
    status = 401


class Forbidden(Problem):
    status = 403


class NotFound(Problem):
    """Also the answer for another tenant's or user's resource: existence is never revealed."""

    status = 404


class Conflict(Problem):
    status = 409


class Gone(Problem):
    status = 410


class PreconditionFailed(Problem):
    status = 412


class PayloadTooLarge(Problem):
    status = 413


class ValidationProblem(Problem):
    status = 422


class TooManyRequests(Problem):
    status = 429


class ServiceUnavailable(Problem):
    status = 503


def title_for(status: int) -> str:
    return _TITLES.get(status, "Error")


def problem_body(status: int, detail: str, *, slug: str | None = None, instance: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (slug or _SLUGS.get(status, "error")),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body
