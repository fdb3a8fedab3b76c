"""Create a context's DynamoDB tables in ``mock_aws`` exactly as the CDK template defines them."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

import pytest

from crewhouse.local.nested_stacks import stack_template
from crewhouse.local.synth import STACK_NAME, synthesize


@cache
def template() -> dict[str, Any]:
    return stack_template(synthesize(), STACK_NAME)


def table_definition(logical_prefix: str) -> dict[str, Any]:
    matches = [r["Properties"] for k, r in template()["Resources"].items()
               if r["Type"] == "AWS::DynamoDB::Table" and k.startswith(logical_prefix)]
    assert len(matches) == 1, f"{len(matches)} tables match {logical_prefix}"
    return matches[0]


def create_table(dynamodb: Any, logical_prefix: str, name: str) -> None:
    spec = table_definition(logical_prefix)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": spec["KeySchema"],
        "AttributeDefinitions": spec["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if spec.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = spec["GlobalSecondaryIndexes"]
    if spec.get("StreamSpecification"):
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **spec["StreamSpecification"]}
    dynamodb.create_table(**kwargs)
    json.dumps(kwargs)  # the definition must stay plain data


@contextmanager
def mocked_tables(monkeypatch: pytest.MonkeyPatch, tables: Mapping[str, str]) -> Iterator[Any]:
    """``mock_aws`` with the tables ``{table name: logical id prefix}`` created as the template defines those;
    yields the DynamoDB client."""
    import boto3

    from tests.support.mock import mocked_aws

    with mocked_aws(monkeypatch):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        for name, logical_prefix in tables.items():
            create_table(dynamodb, logical_prefix, name)
        yield dynamodb
