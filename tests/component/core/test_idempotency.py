"""Idempotency-Key on Powertools idempotency with a moto DynamoDB table."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from crewhouse.core.errors import ValidationProblem
from crewhouse.core.idempotency import run_idempotent
from crewhouse.core.identity import Identity
from crewhouse.core.settings import CoreSettings, function_environment, load_settings
from tests.support.mock import mocked_aws

ALICE = Identity(tenant_id="t1", user_id="alice", role="member", scopes=frozenset())
BOB = Identity(tenant_id="t1", user_id="bob", role="member", scopes=frozenset())


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[CoreSettings]:
    with mocked_aws(monkeypatch):
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="idem", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        with function_environment({"IDEMPOTENCY_TABLE": "idem"}):
            yield load_settings(CoreSettings)


def counter() -> tuple[list[int], Any]:
    calls: list[int] = []

    def action() -> dict[str, Any]:
        calls.append(1)
        return {"id": f"created-{len(calls)}"}

    return calls, action


def test_same_key_runs_once_and_replays_the_result(settings: CoreSettings) -> None:
    calls, action = counter()
    first = run_idempotent(settings, ALICE, "create-task", "key-1", {"title": "a"}, action)
    second = run_idempotent(settings, ALICE, "create-task", "key-1", {"title": "a"}, action)
    assert first == second == {"id": "created-1"}
    assert len(calls) == 1


def test_keys_are_scoped_per_user_and_operation(settings: CoreSettings) -> None:
    calls, action = counter()
    run_idempotent(settings, ALICE, "create-task", "key-1", {"title": "a"}, action)
    run_idempotent(settings, BOB, "create-task", "key-1", {"title": "a"}, action)
    run_idempotent(settings, ALICE, "create-note", "key-1", {"title": "a"}, action)
    assert len(calls) == 3


def test_same_key_with_another_body_is_422(settings: CoreSettings) -> None:
    _, action = counter()
    run_idempotent(settings, ALICE, "create-task", "key-1", {"title": "a"}, action)
    with pytest.raises(ValidationProblem):
        run_idempotent(settings, ALICE, "create-task", "key-1", {"title": "b"}, action)


def test_without_a_key_every_call_runs(settings: CoreSettings) -> None:
    calls, action = counter()
    run_idempotent(settings, ALICE, "create-task", None, {"title": "a"}, action)
    run_idempotent(settings, ALICE, "create-task", None, {"title": "a"}, action)
    assert len(calls) == 2
