"""Idle backoff for the local pollers: poll fast while there is work, slowly while there is none.

Each poll round costs several requests to the emulator; polling every 50 ms while idle would take CPU
from the functions being served (Lambda's own pollers long-poll for the same reason).
"""

from __future__ import annotations

IDLE_CEILING = 0.5  # seconds between rounds once nothing has arrived for a while


def next_wait(delivered: int, current: float, floor: float, ceiling: float = IDLE_CEILING) -> float:
    """The pause before the next round: back to ``floor`` after work, doubling up to ``ceiling`` when idle."""
    if delivered:
        return floor
    return min(max(current, floor) * 2, max(ceiling, floor))
