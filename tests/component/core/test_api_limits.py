"""The request buckets' conditional updates against moto (the table as the template defines it), and the shared
app's limiter in front of a route: 429 problem+json with the headers, the budget on every answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter

from crewhouse.core import table as t
from crewhouse.core.api_limits import ApiLimiter, BucketStore, RateLimitSettings, tenant_key, user_key
from crewhouse.core.errors import TooManyRequests
from crewhouse.core.http import create_app, lambda_handler
from crewhouse.core.rate_limit import Gcra
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.tables import mocked_tables

TABLE = "rate-limits"
NOW = 1_800_000_000_000


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[t.Table]:
    with mocked_tables(monkeypatch, {TABLE: "HttpRateLimitTable"}) as dynamodb:
        yield t.Table(dynamodb, TABLE)


def test_a_bucket_admits_its_burst_then_refuses_with_retry_after_and_recovers_then(table: t.Table) -> None:
    store, bucket, key = BucketStore(table), Gcra.per_second(2, 3), user_key("t1", "u1")
    remaining = [store.charge(key, bucket, 1, NOW).state.remaining for _ in range(3)]
    assert remaining == [2, 1, 0]
    with pytest.raises(TooManyRequests) as refused:
        store.charge(key, bucket, 1, NOW)
    assert refused.value.slug == "rate-limited"
    assert refused.value.headers == {"RateLimit-Limit": "3", "RateLimit-Remaining": "0", "RateLimit-Reset": "2",
                                     "Retry-After": "1"}
    assert store.charge(key, bucket, 1, NOW + 1000).state.remaining == 1  # two refilled in a second; one taken
    item = table.get(key)
    assert item is not None and item["taken"] == 4  # a refusal takes nothing
    assert item["expires_epoch"] > NOW // 1000  # idle buckets expire (the table's TTL)


def test_an_idle_bucket_costs_one_update_and_a_busy_one_two(table: t.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    store, bucket, key = BucketStore(table), Gcra.per_second(10, 10), user_key("t1", "u2")
    updates: list[Any] = []
    original = table.update

    def counting(*args: Any, **kwargs: Any) -> Any:
        updates.append(kwargs.get("condition"))
        return original(*args, **kwargs)

    monkeypatch.setattr(table, "update", counting)
    store.charge(key, bucket, 1, NOW)
    store.charge(key, bucket, 1, NOW + 500)  # 100 ms apart is the rate: idle again
    assert len(updates) == 2
    store.charge(key, bucket, 1, NOW + 500)  # the same instant: busy
    assert len(updates) == 4


def test_a_tenant_is_charged_a_block_at_a_users_first_and_every_tenth_request(table: t.Table) -> None:
    settings = RateLimitSettings(rate_limit_table=TABLE, rate_limit_user_per_second=1000,
                                 rate_limit_user_burst=1000, rate_limit_tenant_per_second=1,
                                 rate_limit_tenant_burst=25, rate_limit_tenant_block=10)
    clock = iter(range(NOW, NOW + 1000)).__next__
    limiter = ApiLimiter(BucketStore(table), settings, clock=lambda: clock() / 1000)
    for _ in range(11):
        limiter.admit("t2", "alice", "GET /tasks")
    tenant = table.get(tenant_key("t2"))
    assert tenant is not None and tenant["taken"] == 20  # two blocks: at her 1st and her 11th request
    with pytest.raises(TooManyRequests, match="tenant"):
        limiter.admit("t2", "bob", "GET /tasks")  # his first request prepays a block: 30 > the tenant's 25
    limiter.admit("t3", "carol", "GET /tasks")  # another tenant's own bucket
    limiter.admit(None, "dave", "GET /me/tenants")  # no tenant yet: only the user's bucket
    assert table.get(tenant_key("t3")) is not None and table.get(user_key(None, "dave")) is not None


router = APIRouter()


@router.get("/things")
def things() -> dict[str, Any]:
    return {"things": []}


@router.get("/health")
def health() -> dict[str, Any]:
    return {"ok": True}


def test_the_app_answers_429_problems_over_the_limit_and_the_budget_on_each_answer(
        table: t.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"RATE_LIMIT_TABLE": TABLE, "RATE_LIMIT_USER_PER_SECOND": "1", "RATE_LIMIT_USER_BURST": "3",
                        "RATE_LIMIT_WEIGHTS": "GET /things=2"}.items():
        monkeypatch.setenv(name, value)
    handler = lambda_handler(create_app("limited", [router]), __name__)

    def call(claims: dict[str, str] | None, path: str = "/things") -> dict[str, Any]:
        event = http_event("GET", path, claims=claims)
        event["routeKey"] = f"GET {path}"
        return handler(event, lambda_context())

    first, second = call(claims_for("t1", "u1")), call(claims_for("t1", "u1"))
    assert first["statusCode"] == 200 and first["headers"]["ratelimit-remaining"] == "1"  # weight 2 of 3
    assert second["statusCode"] == 429
    assert second["headers"]["content-type"] == "application/problem+json"
    assert int(second["headers"]["retry-after"]) >= 1
    assert {second["headers"]["ratelimit-limit"], second["headers"]["ratelimit-remaining"]} == {"3", "0"}
    problem = response_json(second)
    assert problem["type"].endswith("/rate-limited") and problem["status"] == 429 and problem["instance"] == "/things"
    assert call(claims_for("t2", "u2"))["statusCode"] == 200  # another caller's bucket is full
    agent = {**claims_for("t1", "agent-1"), "credential": "agent-token"}  # the bus charges the agent's own bucket
    assert [call(agent)["statusCode"] for _ in range(3)] == [200] * 3
    public = [call(None, "/health") for _ in range(5)]  # no caller: not limited
    assert [r["statusCode"] for r in public] == [200] * 5 and "ratelimit-limit" not in public[0]["headers"]
