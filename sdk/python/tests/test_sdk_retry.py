"""Retries: 429/5xx/connection errors with exponential backoff and full jitter, honouring Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from bus_fakes import FakeBus, json_of, problem
from crewhouse_bus import BadRequestError, BusClient, RateLimitedError, RetryPolicy, ServerError, parse_retry_after

AGENT = {"id": "a1", "name": "one", "kind": "external"}


def test_a_429_waits_exactly_as_long_as_retry_after_says() -> None:
    bus = FakeBus()
    bus.route("GET", "/agents/a1", problem(429, "slow down", headers={"Retry-After": "3"}),
              httpx.Response(200, json=AGENT))

    assert bus.client().get_agent("a1")["id"] == "a1"

    assert bus.sleeps == [3.0]
    assert len(bus.api_calls()) == 2


def test_5xx_without_retry_after_backs_off_exponentially_with_jitter() -> None:
    bus = FakeBus()
    bus.route("GET", "/agents/a1", problem(503), problem(502), problem(500), httpx.Response(200, json=AGENT))

    bus.client().get_agent("a1")

    # base 0.2 s doubling, times the pinned jitter 0.5
    assert bus.sleeps == pytest.approx([0.1, 0.2, 0.4])


def test_the_backoff_is_capped_and_jitter_spans_zero_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=lambda: 0.999)
    assert policy.backoff(10) == pytest.approx(8.0 * 0.999)
    assert RetryPolicy(jitter=lambda: 0.0).backoff(3) == 0.0


def test_when_retries_run_out_the_typed_error_is_raised() -> None:
    bus = FakeBus()
    bus.route("GET", "/agents/a1", problem(429, "bucket empty", headers={"Retry-After": "1"}))

    with pytest.raises(RateLimitedError) as caught:
        bus.client(max_attempts=3).get_agent("a1")

    assert caught.value.retry_after == 1.0
    assert bus.sleeps == [1.0, 1.0]
    assert len(bus.api_calls()) == 3


def test_a_retry_after_beyond_the_ceiling_is_not_waited_for() -> None:
    bus = FakeBus()
    bus.route("GET", "/agents/a1", problem(503, headers={"Retry-After": "3600"}), httpx.Response(200, json=AGENT))

    with pytest.raises(ServerError):
        bus.client().get_agent("a1")
    assert bus.sleeps == []


def test_connection_errors_are_retried() -> None:
    bus = FakeBus()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    bus.route("GET", "/agents/a1", refuse, refuse, httpx.Response(200, json=AGENT))

    assert bus.client().get_agent("a1")["id"] == "a1"
    assert len(bus.sleeps) == 2


def test_connection_errors_beyond_the_attempts_propagate() -> None:
    bus = FakeBus()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    bus.route("GET", "/agents/a1", refuse)
    with pytest.raises(httpx.ConnectError):
        bus.client(max_attempts=2).get_agent("a1")


def test_a_retried_send_keeps_its_idempotency_key() -> None:
    bus = FakeBus()
    bus.route("POST", "/messages", problem(503), httpx.Response(202, json={"id": "m1", "duplicate": False}))

    bus.client().send("a2", {"hello": 1})

    keys = [r.headers["idempotency-key"] for r in bus.calls("POST", "/messages")]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert json_of(bus.calls("POST", "/messages")[0]) == {"to": "a2", "payload": {"hello": 1}}


def test_client_errors_are_not_retried() -> None:
    bus = FakeBus()
    bus.route("GET", "/agents/a1", problem(422, "bad"))
    with pytest.raises(BadRequestError):
        bus.client().get_agent("a1")
    assert bus.sleeps == [] and len(bus.api_calls()) == 1


def test_the_token_exchange_is_retried_too() -> None:
    bus = FakeBus()
    bus.route("POST", "/bus/token", problem(503, headers={"Retry-After": "2"}),
              httpx.Response(200, json={"access_token": "late", "expires_in": 300}))
    bus.route("GET", "/agents/a1", httpx.Response(200, json=AGENT))

    bus.client().get_agent("a1")

    assert bus.sleeps == [2.0]
    assert bus.calls("GET", "/agents/a1")[0].headers["authorization"] == "Bearer late"


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=lambda: now.timestamp()) == pytest.approx(30.0)
    assert parse_retry_after("not a date") is None
    assert parse_retry_after("-5") == 0.0


def test_generated_idempotency_keys_can_be_turned_off_but_explicit_ones_are_sent() -> None:
    bus = FakeBus()
    bus.route("POST", "/messages", httpx.Response(202, json={"id": "m1", "duplicate": False}))
    client = (BusClient.builder().base_url("http://bus.test/").transport(bus.transport())
              .bearer_token("t").idempotency_keys(False).build())

    client.send("a2", 1)
    client.send("a2", 2, idempotency_key="mine")

    keys = [r.headers.get("idempotency-key") for r in bus.calls("POST", "/messages")]
    assert keys == [None, "mine"]
