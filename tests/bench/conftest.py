"""Fixtures the benchmarks share."""

import pytest

from tests.bench.dynamodb_work import speed_up_moto


@pytest.fixture
def fast_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and moto without its costs that grow with a table (``dynamodb_work.speed_up_moto``),
    for a benchmark that seeds thousands of items."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    speed_up_moto(monkeypatch)
