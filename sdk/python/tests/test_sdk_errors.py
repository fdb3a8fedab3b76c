"""problem+json answers become typed errors carrying status, type, title, detail and the extra members."""

from __future__ import annotations

import httpx
import pytest
from bus_fakes import FakeBus, problem
from crewhouse_bus import (
    BadRequestError,
    BusError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
    error_from_response,
)


@pytest.mark.parametrize(("status", "error_class"), [
    (400, BadRequestError), (401, UnauthorizedError), (403, ForbiddenError), (404, NotFoundError),
    (409, ConflictError), (412, PreconditionFailedError), (413, PayloadTooLargeError), (422, BadRequestError),
    (429, RateLimitedError), (500, ServerError), (503, ServerError), (418, BusError),
])
def test_each_status_maps_to_its_error_class(status: int, error_class: type[BusError]) -> None:
    error = error_from_response(problem(status, "why"))
    assert type(error) is error_class
    assert error.status == status


def test_the_problem_members_are_kept() -> None:
    bus = FakeBus()
    bus.route("PUT", "/contexts/c1", problem(412, "The resource is at version 4, not 3.", current_version=4,
                                             request_id="req-9", instance="/contexts/c1"))

    with pytest.raises(PreconditionFailedError) as caught:
        bus.client().update_context("c1", payload={"x": 1}, if_match=3)

    error = caught.value
    assert (error.status, error.title, error.detail) == (412, "T412", "The resource is at version 4, not 3.")
    assert error.type == "https://crewhouse.dev/problems/412"
    assert error.instance == "/contexts/c1"
    assert error.extra == {"current_version": 4, "request_id": "req-9"}
    assert error.request_id == "req-9"
    assert "412" in str(error)


def test_an_answer_that_is_not_json_still_gives_status_and_text() -> None:
    error = error_from_response(httpx.Response(502, text="<html>Bad Gateway</html>"))
    assert isinstance(error, ServerError)
    assert error.status == 502
    assert error.title == "Bad Gateway"
    assert "Bad Gateway" in error.detail


def test_an_oauth_error_from_the_token_endpoint_keeps_its_description() -> None:
    error = error_from_response(httpx.Response(401, json={"error": "invalid_client",
                                                          "error_description": "unknown client"}))
    assert isinstance(error, UnauthorizedError)
    assert error.detail == "unknown client"
    assert error.extra == {"error": "invalid_client", "error_description": "unknown client"}
