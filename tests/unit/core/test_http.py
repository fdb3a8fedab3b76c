"""The shared HTTP shell: problem+json for every kind of bad input, through the Lambda handler."""

from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from crewhouse.core.errors import Conflict, NotFound
from crewhouse.core.http import create_app, current_identity, lambda_handler, membership_reader
from crewhouse.core.identity import Identity
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.members import StaticMemberships

router = APIRouter()


class Thing(BaseModel):
    title: str = Field(min_length=1, max_length=10)
    size: int


@router.post("/things", status_code=201)
def create_thing(thing: Thing, identity: Annotated[Identity, Depends(current_identity)]) -> dict[str, Any]:
    return {"title": thing.title, "tenant": identity.tenant_id}


@router.get("/things/{thing_id}")
def get_thing(thing_id: str, identity: Annotated[Identity, Depends(current_identity)]) -> dict[str, Any]:
    if thing_id == "taken":
        raise Conflict("That thing is taken.", holder="someone")
    raise NotFound(f"No thing {thing_id}.")


@router.post("/things/{thing_id}/rename")
def rename_thing(thing_id: str, body: dict[str, Any]) -> dict[str, Any]:
    # A model built from the caller's data inside the handler, after request parsing succeeded.
    return Thing(title=str(body.get("name", "")), size=len(thing_id)).model_dump()


@router.get("/boom")
def boom() -> None:
    raise RuntimeError("secret internals")


app = create_app("test", [router])
app.dependency_overrides[membership_reader] = lambda: StaticMemberships(("t9", "user-1", "member"),
                                                                        ("tenant-1", "user-1", "member"))
handler = lambda_handler(app, __name__)
PROBLEM = "application/problem+json"


def call(event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    response = handler(event, lambda_context())
    return response["statusCode"], response["headers"], response_json(response)


def test_success_reads_identity_from_claims() -> None:
    status, _, body = call(http_event("POST", "/things", body={"title": "x", "size": 1}, claims=claims_for("t9")))
    assert status == 201
    assert body == {"title": "x", "tenant": "t9"}


def test_validation_error_is_422_with_field_paths() -> None:
    status, headers, body = call(http_event("POST", "/things", body={"title": "", "size": "big"}, claims=claims_for()))
    assert status == 422
    assert headers["content-type"] == PROBLEM
    assert {e["path"] for e in body["errors"]} == {"body.title", "body.size"}
    assert body["type"].endswith("/validation-error")


def test_missing_fields_and_wrong_types() -> None:
    status, _, body = call(http_event("POST", "/things", body={}, claims=claims_for()))
    assert status == 422
    assert {e["path"] for e in body["errors"]} == {"body.title", "body.size"}
    status, _, _ = call(http_event("POST", "/things", body=["not", "an", "object"], claims=claims_for()))
    assert status == 422


def test_model_built_inside_a_handler_refusing_input_is_422_naming_the_field() -> None:
    status, headers, body = call(http_event("POST", "/things/t1/rename", body={"name": "x" * 11}, claims=claims_for()))
    assert status == 422
    assert headers["content-type"] == PROBLEM
    assert body["type"].endswith("/validation-error")
    assert body["detail"] == "The request leads to invalid values: title."
    assert body["errors"] == [{"path": "title", "message": "String should have at most 10 characters",
                               "type": "string_too_long"}]
    assert "secret" not in str(body) and "x" * 11 not in str(body)  # the input is not echoed back


def test_malformed_json_is_400() -> None:
    status, headers, body = call(http_event("POST", "/things", raw_body='{"title": ', claims=claims_for()))
    assert status == 400
    assert headers["content-type"] == PROBLEM
    assert body["type"].endswith("/malformed-json")


def test_body_over_one_mebibyte_is_413() -> None:
    big = "x" * (1024 * 1024 + 1)
    status, headers, body = call(http_event("POST", "/things", raw_body=big, claims=claims_for()))
    assert status == 413
    assert headers["content-type"] == PROBLEM
    assert body["status"] == 413


def test_body_at_the_limit_is_read() -> None:
    payload = '{"title": "x", "size": 1}'
    padded = payload[:-1] + " " * (1024 * 1024 - len(payload)) + "}"
    status, _, _ = call(http_event("POST", "/things", raw_body=padded, claims=claims_for()))
    assert status == 201


def test_unknown_route_and_wrong_method() -> None:
    status, headers, body = call(http_event("GET", "/nowhere", claims=claims_for()))
    assert (status, headers["content-type"]) == (404, PROBLEM)
    assert "GET /nowhere" in body["detail"]
    status, _, body = call(http_event("DELETE", "/things", claims=claims_for()))
    assert status == 405
    assert body["status"] == 405


def test_domain_problems_keep_their_status_and_extras() -> None:
    status, _, body = call(http_event("GET", "/things/taken", claims=claims_for()))
    assert status == 409
    assert body["holder"] == "someone"
    status, _, body = call(http_event("GET", "/things/other", claims=claims_for()))
    assert (status, body["title"]) == (404, "Not Found")


def test_missing_identity_is_401_problem() -> None:
    status, headers, _ = call(http_event("POST", "/things", body={"title": "x", "size": 1}))
    assert status == 401
    assert headers["content-type"] == PROBLEM


def test_unexpected_error_is_a_500_without_internals() -> None:
    status, headers, body = call(http_event("GET", "/boom", claims=claims_for()))
    assert status == 500
    assert headers["content-type"] == PROBLEM
    assert "secret internals" not in str(body)


@pytest.mark.parametrize("limit", ["64"])
def test_limit_comes_from_settings(limit: str) -> None:
    from crewhouse.core.settings import function_environment

    with function_environment({"MAX_BODY_BYTES": limit}):
        body = '{"title": "' + "x" * 100 + '"}'
        status, _, _ = call(http_event("POST", "/things", raw_body=body, claims=claims_for()))
    assert status == 413


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/things/other", None),  # a domain problem
    ("POST", "/things", {"title": "", "size": 1}),  # a validation problem
    ("GET", "/nowhere", None),  # an HTTP error
    ("GET", "/boom", None),  # the unexpected
    ("POST", "/things", "x" * (1024 * 1024 + 1)),  # refused before any route code
])
def test_every_problem_names_the_gateway_request_id(method: str, path: str, body: Any) -> None:
    raw = body if isinstance(body, str) else None
    event = http_event(method, path, body=None if raw else body, raw_body=raw, claims=claims_for())
    _, _, problem = call(event)
    assert problem["request_id"] == event["requestContext"]["requestId"]
    assert problem["instance"] == path
