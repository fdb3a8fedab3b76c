"""A per-agent token bucket: the GCRA of :mod:`crewhouse.core.rate_limit`, kept on the agent's gate item.

The bucket lives on the agent's **gate** item (:mod:`crewhouse.bus.agents_store`), beside a copy of what every
request reads of the agent, not on its record: the record is in three indexes, so a write to it rewrites their
entries too. The limit varies per agent, and DynamoDB condition expressions cannot do arithmetic, so the gate
also keeps ``gate = tat - burst + interval`` (the allow test becomes ``gate <= now``) and
``gate_offset = 2 * interval - burst`` (to set ``gate`` from ``now``). An admission is then one conditional
UpdateItem that also returns what the request needs of the agent, and a second only while requests come faster
than the rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crewhouse.core.rate_limit import Gcra, RateState

DEFAULT_PER_MINUTE = 1000
WINDOW_MS = 60_000
RATE_CONSTANTS = ("rate_limit_per_minute", "rate_interval_ms", "rate_gate_offset_ms")  # change only with the limit
BUCKET_STATE = ("rate_tat_ms", "rate_gate_ms")  # moves with every admission


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
