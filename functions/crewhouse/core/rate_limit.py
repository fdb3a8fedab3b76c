"""Token buckets as GCRA (the generic cell rate algorithm), and the 429 and ``RateLimit`` headers they answer.

GCRA is the token bucket written as one timestamp: the theoretical arrival time (``tat``) of the next request.
A bucket of ``limit`` requests refilling one per ``interval`` holds ``burst = limit * interval`` of time. A
request of weight ``w`` at ``now`` is admitted while ``max(tat, now) + w * interval <= now + burst`` and moves
``tat`` there; an idle bucket refills by ``tat`` falling behind ``now``. Stores keep ``tat`` and apply these
tests in DynamoDB conditions (:mod:`crewhouse.bus.agents_store`, :mod:`crewhouse.core.api_limits`).

The headers are the three fields of the IETF draft "RateLimit header fields for HTTP"
(draft-ietf-httpapi-ratelimit-headers up to -06): ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset`` (seconds), with ``Retry-After`` (seconds) on a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass


def ceil_seconds(milliseconds: int) -> int:
    return max(0, -(-milliseconds // 1000))


@dataclass(frozen=True)
class RateState:
    """What the ``RateLimit-*`` headers say after an admission (or a refusal)."""

    limit: int
    remaining: int
    reset_seconds: int  # until the bucket is full again
    retry_after_seconds: int = 0  # for a refusal

    def headers(self) -> dict[str, str]:
        headers = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                   "RateLimit-Reset": str(self.reset_seconds)}
        if self.retry_after_seconds:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


@dataclass(frozen=True)
class Gcra:
    """A bucket of ``limit`` requests that refills one request per ``interval_ms``."""

    limit: int
    interval_ms: int

    @classmethod
    def per_second(cls, rate: int, burst: int) -> Gcra:
        """``rate`` requests a second sustained, ``burst`` at once from a full bucket (millisecond steps)."""
        return cls(limit=max(1, burst), interval_ms=max(1, 1000 // max(1, rate)))

    @property
    def burst_ms(self) -> int:
        return self.limit * self.interval_ms

    def cost_ms(self, weight: int = 1) -> int:
        """How far a request of ``weight`` moves ``tat`` (a weight over the limit counts as the whole bucket)."""
        return min(max(1, weight), self.limit) * self.interval_ms

    def latest_tat(self, now_ms: int, weight: int = 1) -> int:
        """The latest ``tat`` at which a request of ``weight`` is still admitted at ``now_ms``."""
        return now_ms + self.burst_ms - self.cost_ms(weight)

    def admits(self, tat_ms: int, now_ms: int, weight: int = 1) -> bool:
        return max(tat_ms, now_ms) <= self.latest_tat(now_ms, weight)

    def next_tat(self, tat_ms: int, now_ms: int, weight: int = 1) -> int:
        return max(tat_ms, now_ms) + self.cost_ms(weight)

    def admitted(self, tat_ms: int, now_ms: int) -> RateState:
        """The bucket after an admission that left it at ``tat_ms``."""
        used = max(0, tat_ms - now_ms)
        remaining = max(0, (self.burst_ms - used) // self.interval_ms)
        return RateState(limit=self.limit, remaining=min(self.limit, remaining), reset_seconds=ceil_seconds(used))

    def refused(self, tat_ms: int, now_ms: int, weight: int = 1) -> RateState:
        """The bucket of a refused request: ``Retry-After`` is when a request of ``weight`` fits again."""
        return RateState(limit=self.limit, remaining=0, reset_seconds=ceil_seconds(tat_ms - now_ms),
                         retry_after_seconds=max(1, ceil_seconds(tat_ms - self.latest_tat(now_ms, weight))))
