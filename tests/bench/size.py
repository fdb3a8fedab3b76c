"""The benchmarks' size: ``full`` (``make bench``, the README's figures) or ``small`` (``make test``).

Set by ``--bench-size`` (tests/conftest.py) or ``CREWHOUSE_BENCH_SIZE``. A small run measures the same
things on fewer items, jobs, turns or rounds and still asserts each benchmark's regression ceiling.
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

SIZE = os.environ.get("CREWHOUSE_BENCH_SIZE", "full") or "full"
if SIZE not in ("small", "full"):
    raise ValueError(f"CREWHOUSE_BENCH_SIZE must be small or full, not {SIZE!r}")
SMALL_RUN = SIZE == "small"


def by_size(small: T, full: T) -> T:
    """``small`` in a small run, else ``full``."""
    return small if SMALL_RUN else full
