"""Platform rules with fakes of our own ports (no AWS)."""

import pytest

from crewhouse.core.errors import ServiceUnavailable
from crewhouse.platform import logic


class Up:
    def ping(self) -> None:
        return None


class Down:
    def ping(self) -> None:
        raise ConnectionError("refused")


def test_ready_when_all_probes_answer() -> None:
    assert logic.check_readiness({"dynamodb": Up(), "s3": Up()}).status == "ready"


def test_not_ready_names_every_failing_probe() -> None:
    with pytest.raises(ServiceUnavailable) as raised:
        logic.check_readiness({"dynamodb": Down(), "s3": Up(), "queue": Down()})
    assert raised.value.status == 503
    assert raised.value.extra["failing"] == ["dynamodb", "queue"]
    assert "ConnectionError" in raised.value.extra["checks"]["dynamodb"]
