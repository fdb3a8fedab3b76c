"""A per-agent token bucket kept on the agent's own item, as GCRA (the generic cell rate algorithm).

GCRA is the token bucket written as one timestamp: the theoretical arrival time (``tat``) of the next request.
A request at ``now`` is allowed while ``tat - now <= burst - interval`` (the bucket is not empty), and moves
``tat`` on by one ``interval``; an idle bucket refills by ``tat`` falling behind ``now``. DynamoDB condition
expressions cannot do arithmetic, so the item also keeps ``gate = tat - burst + interval`` (the allow test
becomes ``gate <= now``) and ``gate_offset = 2 * interval - burst`` (to set ``gate`` from ``now``). An admission
is then one conditional UpdateItem that also returns the agent's record, and a second only after an idle spell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_PER_MINUTE = 1000
WINDOW_MS = 60_000


def rate_attributes(per_minute: int) -> dict[str, int]:
    """The bucket's constants for a limit of ``per_minute`` requests (capacity ``per_minute``), and a full bucket."""
    interval = max(1, WINDOW_MS // per_minute)
    burst = interval * per_minute
    return {"rate_limit_per_minute": per_minute, "rate_interval_ms": interval,
            "rate_gate_offset_ms": 2 * interval - burst, "rate_tat_ms": 0, "rate_gate_ms": 0}


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


def _ceil_seconds(milliseconds: int) -> int:
    return max(0, -(-milliseconds // 1000))


def state_after(item: Mapping[str, Any], now_ms: int) -> RateState:
    """The bucket of an admitted request's updated item."""
    limit = int(item["rate_limit_per_minute"])
    interval = int(item["rate_interval_ms"])
    tat = int(item["rate_tat_ms"])
    burst = interval * limit
    used = max(0, tat - now_ms)
    remaining = max(0, (burst - used) // interval)
    return RateState(limit=limit, remaining=min(limit, remaining), reset_seconds=_ceil_seconds(used))


def refusal(item: Mapping[str, Any], now_ms: int) -> RateState:
    """The bucket of a refused request's item (``gate`` is later than ``now``)."""
    limit = int(item["rate_limit_per_minute"])
    gate = int(item["rate_gate_ms"])
    tat = int(item["rate_tat_ms"])
    return RateState(limit=limit, remaining=0, reset_seconds=_ceil_seconds(tat - now_ms),
                     retry_after_seconds=max(1, _ceil_seconds(gate - now_ms)))
