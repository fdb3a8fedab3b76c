"""GCRA's arithmetic and the headers it answers, simulated on a bare ``tat`` as the conditional updates apply it;
the tenant's blocks; the limits' settings."""

from __future__ import annotations

import pytest

from crewhouse.core.api_limits import RateLimitSettings, blocks_opened
from crewhouse.core.rate_limit import Gcra, RateState

NOW = 1_000_000


class Bucket:
    """One bucket's ``tat`` under the two updates of ``BucketStore.charge`` (idle, else busy within the limit)."""

    def __init__(self, gcra: Gcra) -> None:
        self.gcra = gcra
        self.tat = 0

    def take(self, now: int, weight: int = 1) -> bool:
        if not self.gcra.admits(self.tat, now, weight):
            return False
        self.tat = self.gcra.next_tat(self.tat, now, weight)
        return True


def test_20_a_second_with_a_burst_of_40_admits_exactly_40_at_once_then_refuses() -> None:
    bucket = Bucket(Gcra.per_second(20, 40))
    assert [bucket.take(NOW) for _ in range(42)] == [True] * 40 + [False] * 2
    assert bucket.gcra.admitted(bucket.tat, NOW) == RateState(limit=40, remaining=0, reset_seconds=2)


def test_the_last_admitted_request_is_exactly_at_the_limit() -> None:
    gcra = Gcra(limit=3, interval_ms=100)
    assert gcra.admits(NOW + 200, NOW)  # two taken: the third fits exactly (tat + interval == now + burst)
    assert not gcra.admits(NOW + 201, NOW)  # a millisecond more does not
    assert gcra.next_tat(NOW + 200, NOW) == NOW + gcra.burst_ms


def test_a_sustained_rate_at_the_limit_is_served_forever() -> None:
    bucket = Bucket(Gcra.per_second(20, 40))
    assert all(bucket.take(NOW + step * 50) for step in range(1000))


def test_retry_after_is_when_the_next_request_fits_and_it_does_then() -> None:
    bucket = Bucket(Gcra.per_second(1, 2))  # one a second, two at once
    assert bucket.take(NOW) and bucket.take(NOW)
    refused = bucket.gcra.refused(bucket.tat, NOW)
    assert refused == RateState(limit=2, remaining=0, reset_seconds=2, retry_after_seconds=1)
    assert not bucket.take(NOW + refused.retry_after_seconds * 1000 - 1)
    assert bucket.take(NOW + refused.retry_after_seconds * 1000)


def test_a_heavier_request_costs_its_weight_and_waits_longer() -> None:
    bucket = Bucket(Gcra.per_second(10, 10))
    assert bucket.take(NOW, weight=5)
    assert bucket.gcra.admitted(bucket.tat, NOW).remaining == 5
    assert bucket.take(NOW, weight=5)
    assert not bucket.take(NOW, weight=1)
    assert bucket.gcra.refused(bucket.tat, NOW, weight=5).retry_after_seconds == 1  # 500 ms, in whole seconds
    assert Gcra(limit=3, interval_ms=10).cost_ms(99) == 30  # never more than the whole bucket


def test_an_idle_bucket_is_full_again() -> None:
    bucket = Bucket(Gcra.per_second(5, 5))
    while bucket.take(NOW):
        pass
    assert [bucket.take(NOW + 1000) for _ in range(6)] == [True] * 5 + [False]


def test_headers_name_the_limit_the_rest_and_the_reset_and_a_refusal_adds_retry_after() -> None:
    assert RateState(limit=40, remaining=39, reset_seconds=1).headers() == {
        "RateLimit-Limit": "40", "RateLimit-Remaining": "39", "RateLimit-Reset": "1"}
    assert RateState(limit=40, remaining=0, reset_seconds=2, retry_after_seconds=1).headers()["Retry-After"] == "1"


@pytest.mark.parametrize(("taken", "weight", "opened"), [
    (1, 1, 1),  # a user's first request prepays the first block
    (2, 1, 0), (10, 1, 0),
    (11, 1, 1),  # the eleventh opens the second
    (5, 5, 1),  # a heavy first request
    (15, 5, 1), (25, 15, 2),  # a weight may span blocks
])
def test_the_request_that_opens_a_tenant_block_charges_it(taken: int, weight: int, opened: int) -> None:
    assert blocks_opened(taken, weight, 10) == opened


def test_settings_parse_limits_and_route_weights_from_the_environment() -> None:
    settings = RateLimitSettings.from_environment({
        "RATE_LIMIT_TABLE": "limits", "RATE_LIMIT_USER_PER_SECOND": "5", "RATE_LIMIT_USER_BURST": "8",
        "RATE_LIMIT_WEIGHTS": "POST /jobs=4, POST /chat/sessions/{session_id}/messages=2,broken"})
    assert settings.user_bucket() == Gcra(limit=8, interval_ms=200)
    assert settings.tenant_bucket() == Gcra(limit=400, interval_ms=5)
    assert settings.weights() == {"POST /jobs": 4, "POST /chat/sessions/{session_id}/messages": 2}
