"""crewhouse.local.dynamodb_writes: a failed transaction rolls back exactly, and its rollback copy costs what
the transaction touches, not what the table holds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from crewhouse.local import dynamodb_writes
from tests.support.mock import mocked_aws


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    dynamodb_writes.install()
    with mocked_aws(monkeypatch):
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                                       {"AttributeName": "SK", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                                  {"AttributeName": "SK", "AttributeType": "S"}])
        for pk in ("A", "B"):
            client.put_item(TableName="t", Item={"PK": {"S": pk}, "SK": {"S": "1"}, "n": {"N": "1"}})
        yield client


def get(client: Any, pk: str, sk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = client.get_item(TableName="t", Key={"PK": {"S": pk}, "SK": {"S": sk}}).get("Item")
    return item


def test_a_failed_transaction_leaves_every_item_as_it_was(table: Any) -> None:
    with pytest.raises(table.exceptions.TransactionCanceledException):
        table.transact_write_items(TransactItems=[
            {"Update": {"TableName": "t", "Key": {"PK": {"S": "A"}, "SK": {"S": "1"}},
                        "UpdateExpression": "SET n = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            {"Put": {"TableName": "t", "Item": {"PK": {"S": "A"}, "SK": {"S": "2"}}}},
            {"Delete": {"TableName": "t", "Key": {"PK": {"S": "B"}, "SK": {"S": "1"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"PK": {"S": "C"}, "SK": {"S": "1"}},
                                "ConditionExpression": "attribute_exists(PK)"}},
        ])
    assert get(table, "A", "1") == {"PK": {"S": "A"}, "SK": {"S": "1"}, "n": {"N": "1"}}
    assert get(table, "A", "2") is None
    assert get(table, "B", "1") is not None


def test_a_successful_transaction_applies_everything(table: Any) -> None:
    table.transact_write_items(TransactItems=[
        {"Update": {"TableName": "t", "Key": {"PK": {"S": "A"}, "SK": {"S": "1"}},
                    "UpdateExpression": "SET n = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
        {"Delete": {"TableName": "t", "Key": {"PK": {"S": "B"}, "SK": {"S": "1"}}}},
    ])
    assert get(table, "A", "1")["n"] == {"N": "2"}  # type: ignore[index]
    assert get(table, "B", "1") is None


def test_the_rollback_copy_skips_untouched_partitions(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.dynamo_type import Item

    for index in range(200):
        table.put_item(TableName="t", Item={"PK": {"S": f"other-{index}"}, "SK": {"S": "1"}})
    copies: list[int] = []
    original = Item.__deepcopy__

    def counting(self: Any, memo: dict[int, Any]) -> Any:
        copies.append(1)
        return original(self, memo)

    monkeypatch.setattr(Item, "__deepcopy__", counting)
    table.transact_write_items(TransactItems=[
        {"Update": {"TableName": "t", "Key": {"PK": {"S": "A"}, "SK": {"S": "1"}},
                    "UpdateExpression": "SET n = :three", "ExpressionAttributeValues": {":three": {"N": "3"}}}}])
    assert len(copies) <= 3  # the touched partition (and moto's own per-item copy), not 200 items
    assert get(table, "other-7", "1") is not None


def test_the_expression_tree_copy_is_the_same_tree_and_validation_leaves_the_parsed_one_alone() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    def shape(node: Any) -> Any:
        children = getattr(node, "children", None)
        if children is None:
            return node if not hasattr(node, "type") else (node.type, None)
        return (node.type, [shape(child) for child in children])

    def parents_point_up(node: Any) -> bool:
        return all(getattr(child, "parent", node) is node and parents_point_up(child)
                   for child in getattr(node, "children", None) or [] if hasattr(child, "children"))

    parsed = UpdateExpressionParser.make("SET a = :a, #b = if_not_exists(#b, :zero) + :one REMOVE c[2] ADD d :s")
    before = shape(parsed)
    copied = dynamodb_writes.copy_expression_tree(parsed)
    assert shape(copied) == before
    assert copied is not parsed and copied.children is not parsed.children
    assert parents_point_up(copied)
    copied.children.clear()
    assert shape(parsed) == before


def test_update_expressions_still_apply_with_the_cheap_copy(table: Any) -> None:
    table.update_item(TableName="t", Key={"PK": {"S": "A"}, "SK": {"S": "1"}},
                      UpdateExpression="SET n = n + :one, #l = list_append(if_not_exists(#l, :empty), :x) ADD s :s",
                      ExpressionAttributeNames={"#l": "l"},
                      ExpressionAttributeValues={":one": {"N": "1"}, ":empty": {"L": []}, ":x": {"L": [{"S": "x"}]},
                                                 ":s": {"SS": ["v"]}})
    # A new item: moto validates the same parsed tree twice (once against an empty item).
    table.update_item(TableName="t", Key={"PK": {"S": "N"}, "SK": {"S": "1"}}, UpdateExpression="SET n = :one",
                      ExpressionAttributeValues={":one": {"N": "1"}})
    assert get(table, "A", "1") == {"PK": {"S": "A"}, "SK": {"S": "1"}, "n": {"N": "2"},
                                    "l": {"L": [{"S": "x"}]}, "s": {"SS": ["v"]}}
    assert get(table, "N", "1")["n"] == {"N": "1"}  # type: ignore[index]
