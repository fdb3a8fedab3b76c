"""Tiers and benchmark size for the whole suite.

Every test is marked with its tier from its directory (``tests/<tier>/...``), so ``-m`` selects a tier
whatever paths were given: ``pytest -m "unit or infra"``. The tiers are independent of one another and of
their order; the Makefile runs them in separate processes where moto's process-wide state requires it
(``mock_aws`` in component tests resets the state the integration tier's embedded cloud lives in).

``--bench-size=small`` (or ``CREWHOUSE_BENCH_SIZE=small``) runs each benchmark at a reduced size that still
checks its regression ceiling; ``full`` (the default) is the size the README's figures come from.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TIERS = ("unit", "component", "integration", "infra", "bench", "e2e", "cost")
BENCH_SIZES = ("small", "full")
TESTS = Path(__file__).resolve().parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench-size", choices=BENCH_SIZES, default=None,
                     help="benchmark size: small (make test) or full (make bench, the default); "
                          "also CREWHOUSE_BENCH_SIZE")


def pytest_configure(config: pytest.Config) -> None:
    size = config.getoption("--bench-size")
    if size:  # the bench modules read it at import, which comes after this hook
        os.environ["CREWHOUSE_BENCH_SIZE"] = size
    from tests.support.botocore_loader import share_botocore_loader

    share_botocore_loader()  # each botocore data file parsed once per process, not once per test's session


def tier_of(path: Path) -> str | None:
    try:
        relative = path.resolve().relative_to(TESTS)
    except ValueError:
        return None
    return relative.parts[0] if len(relative.parts) > 1 and relative.parts[0] in TIERS else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item.path)
        if tier is not None:
            item.add_marker(getattr(pytest.mark, tier))
