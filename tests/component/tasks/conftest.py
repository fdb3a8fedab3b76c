from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crewhouse.core.settings import function_environment
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.members import seed_membership
from tests.support.routing import handler_for
from tests.support.tables import mocked_tables

ENV = {"TASKS_TABLE": "tasks", "SEARCH_TABLE": "search", "SYNC_TABLE": "sync", "IDEMPOTENCY_TABLE": "idem",
       "CURSOR_SIGNING_KEY": "test-key", "AWS_REGION": "us-east-1"}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_tables(monkeypatch, {"tasks": "TasksTasksTable",
                                      "search": "StorageSearchIndexTable",
                                      "sync": "StorageSyncLogTable",
                                      "idem": "StorageIdempotencyTable"}) as dynamodb:
        yield dynamodb


Call = Callable[..., tuple[int, dict[str, str], Any]]


@pytest.fixture
def call(aws: Any) -> Call:
    """``call(method, path, body=None, user="u1", tenant="t1", headers=None, query="")``."""

    def invoke(method: str, path: str, body: Any = None, *, user: str = "u1", tenant: str = "t1",
               headers: dict[str, str] | None = None, query: str = "") -> tuple[int, dict[str, str], Any]:
        seed_membership(tenant, user)
        event = http_event(method, path, body=body, claims=claims_for(tenant, user), headers=headers, query=query)
        with function_environment(ENV):
            response = handler_for(method, path)(event, lambda_context("tasks"))
        return response["statusCode"], response.get("headers", {}), response_json(response)

    return invoke
