"""``moto.mock_aws`` for component tests, with our cached boto3 clients rebuilt inside the mock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from moto import mock_aws


@contextmanager
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from crewhouse.core import aws as core_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        core_aws.clear_clients()  # clients made outside the mock would bypass it
        try:
            yield
        finally:
            core_aws.clear_clients()
