"""The DynamoDB table adapter every store uses, against moto: ranges, pages, filters, conditions, transactions."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from crewhouse.core import table as t
from crewhouse.core.errors import Conflict, PreconditionFailed
from tests.support.mock import mocked_aws


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[t.Table]:
    with mocked_aws(monkeypatch):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        names = ("PK", "SK", "GSI1PK", "GSI1SK")
        dynamodb.create_table(
            TableName="things", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in names],
            GlobalSecondaryIndexes=[{"IndexName": "GSI1", "Projection": {"ProjectionType": "ALL"}, "KeySchema": [
                {"AttributeName": "GSI1PK", "KeyType": "HASH"}, {"AttributeName": "GSI1SK", "KeyType": "RANGE"}]}])
        yield t.Table(dynamodb, "things")


def thing(n: int, **extra: Any) -> dict[str, Any]:
    return {"PK": "p", "SK": f"S#{n:03d}", "n": n, "version": 1, "tags": ["odd" if n % 2 else "even"],
            "GSI1PK": "g", "GSI1SK": f"{999 - n:03d}", **extra}


def sort_keys(page: t.Page) -> list[str]:
    return [item["SK"] for item in page[0]]


def test_items_round_trip_as_plain_values(table: t.Table) -> None:
    table.put_new(thing(1, score=1.5, nested={"a": None, "b": 2}))
    assert table.get(("p", "S#001")) == {**thing(1), "score": 1.5, "nested": {"b": 2}}
    assert table.get(("p", "S#404")) is None
    assert table.get(("p", "S#001"), projection=["n", "version"]) == {"n": 1, "version": 1}


def test_put_new_refuses_a_taken_key_and_replace_a_stale_version(table: t.Table) -> None:
    table.put_new(thing(1))
    with pytest.raises(Conflict, match="taken"):
        table.put_new(thing(1), exists="taken")
    table.replace({**thing(1), "version": 2}, 1)
    with pytest.raises(PreconditionFailed, match="stale"):
        table.replace({**thing(1), "version": 3}, 1, stale="stale")
    with pytest.raises(PreconditionFailed):
        table.replace(thing(2), 1)  # replacing needs an existing item
    assert table.get(("p", "S#001"))["version"] == 2  # type: ignore[index]


def test_delete_checks_existence_and_version(table: t.Table) -> None:
    table.put_new(thing(1))
    with pytest.raises(PreconditionFailed):
        table.delete(("p", "S#001"), expected_version=7)
    table.delete(("p", "S#001"), expected_version=1)
    with pytest.raises(PreconditionFailed):
        table.delete(("p", "S#001"))
    table.delete_if_present(("p", "S#001"))  # a second time is fine


def test_ranges_read_the_table_or_an_index_in_either_direction(table: t.Table) -> None:
    table.put_many(thing(n) for n in range(1, 11))
    assert sort_keys(table.query(t.starting_with("p", "S#00"))) == [f"S#00{n}" for n in range(1, 10)]
    assert sort_keys(table.query(t.between("p", "S#003", "S#005"))) == ["S#003", "S#004", "S#005"]
    assert sort_keys(table.query(t.beyond("p", "S#008", forward=True))) == ["S#009", "S#010"]
    assert sort_keys(table.query(t.beyond("p", "S#003", forward=False), forward=False)) == ["S#002", "S#001"]
    by_index = table.query(t.whole("g", "GSI1"), limit=3)
    assert sort_keys(by_index) == ["S#010", "S#009", "S#008"]  # GSI1SK runs the other way
    assert table.query(t.whole("nobody")) == ([], None)


def test_pages_resume_where_the_last_one_stopped(table: t.Table) -> None:
    table.put_many(thing(n) for n in range(60))  # more than one batch write of 25
    seen: list[str] = []
    start: t.Resume | None = None
    pages = 0
    while True:
        items, start = table.query(t.whole("p"), limit=25, start=start, consistent=True)
        seen += [i["SK"] for i in items]
        pages += 1
        if not start:
            break
    assert seen == [f"S#{n:03d}" for n in range(60)] and pages == 3
    assert len(table.query_all(t.whole("p"), page_size=7)) == 60
    assert table.count(t.whole("p"), page_size=16) == 60
    assert table.count(t.starting_with("p", "S#01")) == 10


def test_filters_name_their_kind(table: t.Table) -> None:
    table.put_many(thing(n, colour="red" if n < 3 else "blue") for n in range(6))
    everything = t.whole("p")
    assert sort_keys(table.query(everything, filters={"tags": t.Contains("odd")})) == ["S#001", "S#003", "S#005"]
    assert sort_keys(table.query(everything, filters={"n": t.AnyOf((0, 4))})) == ["S#000", "S#004"]
    assert sort_keys(table.query(everything, filters={"n": t.Compare(">=", 4)})) == ["S#004", "S#005"]
    assert sort_keys(table.query(everything, filters={"colour": "red", "tags": t.Contains("even")})) == [
        "S#000", "S#002"]
    projected = table.query(everything, limit=1, projection=["SK", "colour"])[0]
    assert projected == [{"SK": "S#000", "colour": "red"}]


def test_get_many_reads_more_than_one_batch(table: t.Table) -> None:
    table.put_many(thing(n) for n in range(130))
    wanted = [("p", f"S#{n:03d}") for n in range(0, 130, 1)] + [("p", "S#999"), ("p", "S#000")]
    found = table.get_many(wanted)
    assert len(found) == 130 and found[("p", "S#129")]["n"] == 129
    table.delete_many(k for k in wanted[:100])
    assert table.count(t.whole("p")) == 30


def test_a_transaction_writes_all_or_names_the_write_that_failed(table: t.Table) -> None:
    table.put_new(thing(1))
    table.transact([t.versioned({**thing(1), "version": 2}, 1), t.new(thing(2)), t.overwrite(thing(3))])
    assert table.count(t.whole("p")) == 3
    with pytest.raises(t.Cancelled) as cancelled:
        table.transact([t.removal(("p", "S#003")), t.new(thing(2))])
    assert cancelled.value.failed(1) and not cancelled.value.failed(0)
    assert table.get(("p", "S#003")) is not None  # nothing of a cancelled transaction is written
    table.transact([t.removal(("p", "S#003"))])
    assert table.get(("p", "S#003")) is None


def test_update_answers_none_when_its_condition_fails(table: t.Table) -> None:
    table.put_new(thing(1))
    updated = table.update(("p", "S#001"), "SET #n = :n ADD version :one", names={"#n": "n"},
                           values={":n": 5, ":one": 1, ":v": 1}, condition="version = :v", return_new=True)
    assert updated is not None and (updated["n"], updated["version"]) == (5, 2)
    assert table.update(("p", "S#001"), "SET n = :n", values={":n": 6, ":v": 1}, condition="version = :v") is None
    assert table.get(("p", "S#001"))["n"] == 5  # type: ignore[index]


def test_an_explained_failure_names_the_item_as_it_was(table: t.Table) -> None:
    table.put_new(thing(1, lock=5))
    with pytest.raises(t.ConditionFailed) as held:
        table.update(("p", "S#001"), "SET #l = :l", names={"#l": "lock"}, values={":l": 9, ":free": 0},
                     condition="#l = :free", explain_failure=True)
    assert held.value.current is not None and held.value.current["lock"] == 5
    with pytest.raises(t.ConditionFailed) as missing:
        table.update(("p", "S#404"), "SET #l = :l", names={"#l": "lock"}, values={":l": 9},
                     condition="attribute_exists(PK)", explain_failure=True)
    assert missing.value.current is None


def test_a_transaction_may_span_tables_and_deletes_may_be_conditional(table: t.Table) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="others", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK")])
    others = table.sibling("others")
    others.put({"PK": "p", "SK": "O#1", "count": 1})
    table.transact([t.new(thing(1)), t.on(others, t.change(("p", "O#1"), "ADD #c :one", names={"#c": "count"},
                                                          values={":one": 1}))])
    assert others.get(("p", "O#1"))["count"] == 2  # type: ignore[index]
    assert not table.delete_where(("p", "S#001"), "n = :n", values={":n": 7})
    assert table.delete_where(("p", "S#001"), "n = :n", values={":n": 1})
    table.write_many(deletes=[("p", "S#404")], puts=[thing(n, colour="teal" if n else "tan") for n in range(3)])
    assert sort_keys(table.query(t.whole("p"), filters={"colour": t.BeginsWith("te")})) == ["S#001", "S#002"]
