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
