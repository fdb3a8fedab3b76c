import pytest

from crewhouse.core.errors import PreconditionFailed
from crewhouse.core.etag import etag_for, parse_if_match, require_version


def test_etag_round_trips_through_if_match() -> None:
    assert parse_if_match(etag_for(7)) == 7
    assert parse_if_match(f"W/{etag_for(7)}") == 7


@pytest.mark.parametrize("header", [None, "", "*"])
def test_absent_or_wildcard_if_match_asks_for_nothing(header: str | None) -> None:
    assert parse_if_match(header) is None
    require_version(header, 3)  # no exception


def test_stale_version_is_412_naming_the_current_one() -> None:
    with pytest.raises(PreconditionFailed) as raised:
        require_version(etag_for(2), 3)
    assert raised.value.status == 412
    assert raised.value.extra["current_version"] == 3


def test_garbage_if_match_is_412() -> None:
    with pytest.raises(PreconditionFailed):
        parse_if_match('"abc"')
