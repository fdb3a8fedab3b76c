"""The per-agent token bucket (GCRA), simulated with the same arithmetic DynamoDB applies to the item."""

from __future__ import annotations

from typing import Any

import pytest

from crewhouse.bus.rate_limit import rate_attributes, refusal, state_after


def admit(item: dict[str, Any], now: int) -> bool:
    """The two conditional updates of ``DynamoAgents.admit``, on a dict, in its order."""
    if item["rate_tat_ms"] < now:  # idle: full again
        item["rate_tat_ms"] = now + item["rate_interval_ms"]
        item["rate_gate_ms"] = now + item["rate_gate_offset_ms"]
        return True
    if item["rate_tat_ms"] >= now and item["rate_gate_ms"] <= now:  # busy bucket
        item["rate_tat_ms"] += item["rate_interval_ms"]
        item["rate_gate_ms"] += item["rate_interval_ms"]
        return True
    return False


@pytest.mark.parametrize("limit", [2, 5, 1000])
def test_a_full_bucket_admits_exactly_its_limit_at_once_then_refuses(limit: int) -> None:
    item = rate_attributes(limit)
    now = 1_000_000
    admitted = [admit(item, now) for _ in range(limit + 3)]
    assert admitted == [True] * limit + [False] * 3
    state = refusal(item, now)
    assert state.remaining == 0 and state.retry_after_seconds >= 1 and state.limit == limit


def test_the_bucket_refills_at_the_limit_rate() -> None:
    item = rate_attributes(60)  # one a second
    now = 5_000_000
    while admit(item, now):
        pass
    assert not admit(item, now + 500)  # half a token
    assert admit(item, now + 1000)  # one token back after a second
    assert not admit(item, now + 1000)


def test_remaining_counts_down_and_headers_say_so() -> None:
    item = rate_attributes(10)
    now = 7_000_000
    admit(item, now)
    first = state_after(item, now)
    admit(item, now)
    second = state_after(item, now)
    assert (first.remaining, second.remaining) == (9, 8)
    assert second.headers() == {"RateLimit-Limit": "10", "RateLimit-Remaining": "8",
                                "RateLimit-Reset": str(second.reset_seconds)}
    assert "Retry-After" in refusal({**item, "rate_gate_ms": now + 2500}, now).headers()
