"""A per-agent token bucket kept on the agent's own item: the GCRA of :mod:`crewhouse.core.rate_limit`.

The agent's limit lives on its record (it varies per agent), and DynamoDB condition expressions cannot do
arithmetic, so the item also keeps ``gate = tat - burst + interval`` (the allow test becomes ``gate <= now``) and
``gate_offset = 2 * interval - burst`` (to set ``gate`` from ``now``). An admission is then one conditional
UpdateItem that also returns the agent's record, and a second only after an idle spell.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crewhouse.core.rate_limit import Gcra, RateState

DEFAULT_PER_MINUTE = 1000
WINDOW_MS = 60_000


def rate_attributes(per_minute: int) -> dict[str, int]:
    """The bucket's constants for a limit of ``per_minute`` requests (capacity ``per_minute``), and a full bucket."""
    interval = max(1, WINDOW_MS // per_minute)
    burst = interval * per_minute
    return {"rate_limit_per_minute": per_minute, "rate_interval_ms": interval,
            "rate_gate_offset_ms": 2 * interval - burst, "rate_tat_ms": 0, "rate_gate_ms": 0}


def _bucket(item: Mapping[str, Any]) -> Gcra:
    return Gcra(limit=int(item["rate_limit_per_minute"]), interval_ms=int(item["rate_interval_ms"]))


def state_after(item: Mapping[str, Any], now_ms: int) -> RateState:
    """The bucket of an admitted request's updated item."""
    return _bucket(item).admitted(int(item["rate_tat_ms"]), now_ms)


def refusal(item: Mapping[str, Any], now_ms: int) -> RateState:
    """The bucket of a refused request's item (``gate`` is later than ``now``)."""
    return _bucket(item).refused(int(item["rate_tat_ms"]), now_ms)
