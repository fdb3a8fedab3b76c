"""Token exchange: the form it posts, reuse, renewal before expiry, and one renewal on a 401."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest
from bus_fakes import FakeBus, problem
from crewhouse_bus import BusClient, UnauthorizedError

AGENT = {"id": "a1", "name": "one", "kind": "external"}


def test_the_exchange_posts_client_credentials_as_a_form_and_uses_the_token() -> None:
    bus = FakeBus()
    bus.route("GET", "/agents/a1", httpx.Response(200, json=AGENT))

    assert bus.client().get_agent("a1")["id"] == "a1"

    exchange = bus.calls("POST", "/bus/token")[0]
    assert exchange.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(exchange.content.decode()) == {
        "grant_type": ["client_credentials"], "client_id": ["client-1"], "client_secret": ["secret-1"]}
    assert "authorization" not in exchange.headers
    assert bus.calls("GET", "/agents/a1")[0].headers["authorization"] == "Bearer tok1"


def test_a_token_is_reused_until_it_nears_expiry_then_renewed() -> None:
    bus = FakeBus()  # 300 s tokens; renewed 60 s early
    bus.route("GET", "/agents/a1", httpx.Response(200, json=AGENT))
    now = [1000.0]
    client = bus.client(clock=lambda: now[0])

    client.get_agent("a1")
    now[0] += 239
    client.get_agent("a1")
    assert bus.tokens_issued == 1
    now[0] += 2  # 241 s: inside the 60 s margin
    client.get_agent("a1")

    assert bus.tokens_issued == 2
    assert [r.headers["authorization"] for r in bus.api_calls()] == ["Bearer tok1", "Bearer tok1", "Bearer tok2"]


def test_a_short_lived_token_is_renewed_at_80_percent_of_its_life() -> None:
    bus = FakeBus()
    bus.token_lifetime = 10
    bus.route("GET", "/agents/a1", httpx.Response(200, json=AGENT))
    now = [0.0]
    client = bus.client(clock=lambda: now[0])
    client.get_agent("a1")
    now[0] = 7.9
    client.get_agent("a1")
    now[0] = 8.1
    client.get_agent("a1")
    assert bus.tokens_issued == 2


def test_a_401_renews_the_token_once_and_repeats_the_call() -> None:
    bus = FakeBus()
    bus.route("GET", "/agents/a1", problem(401, "token revoked"), httpx.Response(200, json=AGENT))

    assert bus.client().get_agent("a1")["id"] == "a1"

    assert bus.tokens_issued == 2
    assert [r.headers["authorization"] for r in bus.api_calls()] == ["Bearer tok1", "Bearer tok2"]


def test_a_second_401_is_raised_not_looped_on() -> None:
    bus = FakeBus()
    bus.route("GET", "/agents/a1", problem(401, "credentials revoked"))

    with pytest.raises(UnauthorizedError) as caught:
        bus.client().get_agent("a1")

    assert caught.value.detail == "credentials revoked"
    assert bus.tokens_issued == 2
    assert len(bus.api_calls()) == 2


def test_a_persons_bearer_token_is_sent_as_is_and_a_401_is_final() -> None:
    bus = FakeBus()
    bus.route("GET", "/agents/a1", problem(401, "expired"))

    with pytest.raises(UnauthorizedError):
        bus.client(token="id-token").get_agent("a1")

    assert bus.tokens_issued == 0
    assert [r.headers["authorization"] for r in bus.api_calls()] == ["Bearer id-token"]


def test_refused_credentials_raise_unauthorized_from_the_exchange() -> None:
    bus = FakeBus()
    bus.route("POST", "/bus/token", problem(401, "invalid_client"))

    with pytest.raises(UnauthorizedError):
        bus.client().get_agent("a1")
    assert bus.api_calls() == []


def test_the_token_url_from_the_registration_is_used_when_given() -> None:
    bus = FakeBus()
    bus.route("POST", "/auth/token", httpx.Response(200, json={"access_token": "elsewhere", "expires_in": 60}))
    bus.route("GET", "/agents/a1", httpx.Response(200, json=AGENT))
    client = (BusClient.builder().base_url("http://bus.test").transport(bus.transport())
              .client_credentials("c", "s", token_url="http://bus.test/auth/token").build())

    client.get_agent("a1")

    assert bus.calls("GET", "/agents/a1")[0].headers["authorization"] == "Bearer elsewhere"


def test_build_needs_credentials_or_a_token() -> None:
    with pytest.raises(ValueError, match="client_credentials"):
        BusClient.builder().base_url("http://bus.test").build()
