"""The tag index on moto: a change applied twice counts once; pages list a tag's items."""

from collections.abc import Iterator
from typing import Any

import pytest

from crewhouse.search.tags import DynamoTagIndex, TagCount, Tagged
from tests.support.tables import mocked_tables

OWNER = "T#t#U#u"


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoTagIndex]:
    with mocked_tables(monkeypatch, {"search": "StorageSearchIndexTable"}) as dynamodb:
        yield DynamoTagIndex(dynamodb, "search")


def test_a_change_seen_twice_counts_once(index: DynamoTagIndex) -> None:
    for _ in range(2):  # Lambda retries a stream batch: the same changes arrive again
        index.replace_tags(OWNER, "task", "t1", [], ["work", "home"])
        index.replace_tags(OWNER, "note", "n1", [], ["work"])
    assert index.counts(OWNER) == [TagCount("home", 1, 0), TagCount("work", 1, 1)]
    for _ in range(2):
        index.replace_tags(OWNER, "task", "t1", ["work", "home"], ["home"])
    assert index.counts(OWNER) == [TagCount("home", 1, 0), TagCount("work", 0, 1)]
    index.replace_tags(OWNER, "note", "n1", ["work"], [])
    assert index.counts(OWNER) == [TagCount("home", 1, 0)]  # a tag nobody carries is not listed
    assert index.counts("T#t#U#other") == []


def test_a_tags_items_come_in_pages(index: DynamoTagIndex) -> None:
    for n in range(7):
        index.replace_tags(OWNER, "task" if n % 2 else "note", f"i{n}", [], ["work"])
    seen: list[Tagged] = []
    start: dict[str, Any] | None = None
    while True:
        page, start = index.tagged(OWNER, "work", 3, start)
        seen += page
        if not start:
            break
    assert sorted(seen) == sorted(Tagged("task" if n % 2 else "note", f"i{n}") for n in range(7))
    assert index.tagged(OWNER, "home", 3, None) == ([], None)
