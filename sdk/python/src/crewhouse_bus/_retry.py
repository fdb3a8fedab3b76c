"""Retries with exponential backoff and full jitter, honouring ``Retry-After``."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now())


@dataclass
class RetryPolicy:
    """``max_attempts`` counts the first try; delays grow ``base_delay * 2**n`` up to ``max_delay``.

    A server's ``Retry-After`` wins over the computed delay (it knows when its bucket refills), but one longer
    than ``max_retry_after`` is not waited for: the error is raised so the caller can decide.
    """

    max_attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 20.0
    max_retry_after: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = field(default=random.random)

    def backoff(self, attempt: int) -> float:
        """Full jitter (uniform in [0, cap)): spreads a crowd of clients that failed together."""
        cap = min(self.max_delay, self.base_delay * (2.0 ** attempt))
        return cap * self.jitter()

    def delay(self, attempt: int, retry_after: str | None) -> float | None:
        """How long to wait before try ``attempt + 1``; ``None`` when no further try should be made."""
        if attempt + 1 >= self.max_attempts:
            return None
        server_says = parse_retry_after(retry_after, now=lambda: datetime.now(UTC).timestamp())
        if server_says is not None:
            return server_says if server_says <= self.max_retry_after else None
        return self.backoff(attempt)
