"""Bad input over real HTTP: always a 4xx problem+json, never a 500."""

from __future__ import annotations

import httpx
import pytest

from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer

PROBLEM = "application/problem+json"


def test_unknown_route_is_a_404_problem(api: httpx.Client, user: SignedInUser) -> None:
    response = api.get("/no/such/route", headers=bearer(user.id_token))
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 404


def test_wrong_method_is_a_405_problem(api: httpx.Client, user: SignedInUser) -> None:
    response = api.delete("/me", headers=bearer(user.id_token))
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2"])
def test_malformed_bodies_never_500(api: httpx.Client, user: SignedInUser, body: bytes) -> None:
    response = api.post("/me", content=body, headers={**bearer(user.id_token), "content-type": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"] == PROBLEM


def test_body_over_one_mebibyte_is_413(api: httpx.Client, user: SignedInUser) -> None:
    response = api.post("/anything", content=b"x" * (1024 * 1024 + 10),
                        headers={**bearer(user.id_token), "content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


def test_body_over_api_gateway_limit_is_413(api: httpx.Client, user: SignedInUser) -> None:
    response = api.post("/anything", content=b"x" * (10 * 1024 * 1024 + 1), headers=bearer(user.id_token))
    assert response.status_code == 413


JSON = {"content-type": "application/json"}
LONG = "a" * 3000  # over DynamoDB's 1,024-byte sort-key limit


@pytest.mark.parametrize(("method", "path", "content", "headers"), [
    ("POST", "/tasks", b'{"title": ', JSON),  # malformed JSON
    ("POST", "/tasks", '{"title": "caf\u00e9"}'.encode("latin-1"), JSON),  # not UTF-8
    ("POST", "/notes", b'{"title": ' + b"[" * 10000 + b"]" * 10000 + b"}", JSON),  # nested past the parser
    ("POST", "/tasks", b'{"title": "x"}', {"content-type": "text/plain"}),  # wrong content types
    ("POST", "/tasks", b"title=x", {"content-type": "application/x-www-form-urlencoded"}),
    ("POST", "/notes", b"<note/>", {"content-type": "application/xml"}),
    ("POST", "/tasks", b'{"title": "x"}', {}),
    ("POST", "/tasks", b"[1, 2]", JSON),
    ("POST", "/tasks", b'{"title": "x", "estimate_minutes": 1' + b"0" * 400 + b"}", JSON),  # huge numbers
    ("POST", "/tasks", b'{"title": "x", "estimate_minutes": 1e400}', JSON),
    ("POST", "/tasks", b'{"title": "x", "estimate_minutes": NaN}', JSON),
    ("GET", "/tasks?limit=" + "9" * 400, b"", {}),
    ("GET", "/notes/{note}/revisions/" + "9" * 400, b"", {}),
    ("POST", "/tasks", b'{"title": "\\ud800"}', JSON),  # a lone surrogate cannot be stored
    ("POST", "/tasks/quick-add", b'{"text": "\\udfff tomorrow 9am"}', JSON),
    ("POST", "/notebooks", b'{"name": "\\ud800"}', JSON),
    ("POST", "/chat/sessions", b'{"title": "\\ud800"}', JSON),
    ("POST", "/files", b'{"filename": "\\ud800.txt", "content_type": "text/plain", "size": 3}', JSON),
    ("POST", "/jobs", b'{"type": "summarize", "params": {"text": "\\ud800 a text to summarise"}}', JSON),
    ("GET", "/tasks?cursor=" + "a" * 5000, b"", {}),
    ("GET", "/notes?cursor=%00%ff", b"", {}),
    ("POST", "/tasks", b'{"title": "x"}', {**JSON, "Idempotency-Key": "k" * 5000}),
])
def test_malformed_oversized_and_unstorable_input_is_a_4xx_problem(
        api: httpx.Client, user: SignedInUser, method: str, path: str, content: bytes,
        headers: dict[str, str]) -> None:
    if "{note}" in path:
        note = api.post("/notes", json={"title": "n"}, headers=bearer(user.id_token)).json()
        path = path.replace("{note}", note["id"])
    response = api.request(method, path, content=content, headers={**headers, **bearer(user.id_token)})
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("value", ["%00", "a%00b", "%ff%fe", "%F0%9F%98%80", "%E2%80%AE", LONG, "%2E%2E", "%20"])
@pytest.mark.parametrize(("method", "template"), [
    ("GET", "/tasks/{}"), ("PATCH", "/tasks/{}"), ("DELETE", "/tasks/{}"), ("GET", "/notes/{}"),
    ("DELETE", "/notes/{}"), ("PATCH", "/notebooks/{}"), ("GET", "/files/{}"), ("GET", "/jobs/{}"),
    ("GET", "/chat/sessions/{}/messages"), ("GET", "/task-templates/{}"),
])
def test_odd_path_parameters_are_a_4xx_problem(api: httpx.Client, user: SignedInUser, method: str,
                                               template: str, value: str) -> None:
    body = {"title": "x"} if method == "PATCH" else None
    response = api.request(method, template.format(value), json=body, headers=bearer(user.id_token))
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM
