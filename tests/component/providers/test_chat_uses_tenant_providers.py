"""A chat turn of a tenant with its own (offline) provider goes through that provider and records its usage; a
tenant without one keeps the platform's chain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from crewhouse.chat.api import handler as chat_handler
from crewhouse.core.settings import function_environment
from crewhouse.providers import wiring
from crewhouse.providers.api import handler as providers_handler
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.members import seed_membership
from tests.support.tables import mocked_tables

# The platform chain is an OpenAI-compatible endpoint nobody listens on: a turn that used it would fail.
ENV = {"CHAT_TABLE": "chat", "TASKS_TABLE": "tasks", "SEARCH_TABLE": "search", "PROVIDERS_TABLE": "providers",
       "LLM_PROVIDERS": "openai", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "CURSOR_SIGNING_KEY": "k",
       "AWS_REGION": "us-east-1", "IDEMPOTENCY_TABLE": "idempotency"}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with mocked_tables(monkeypatch, {"chat": "ChatChatTable", "tasks": "TasksTasksTable",
                                      "search": "StorageSearchIndexTable",
                                      "providers": "ProvidersProvidersTable"}):
        key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
        wiring._cache.clear()
        yield {**ENV, "PROVIDERS_KEY_ID": key}
        wiring._cache.clear()


def call(handler: Any, env: dict[str, str], tenant: str, method: str, path: str, body: Any = None,
         query: str = "") -> tuple[int, Any]:
    seed_membership(tenant, "u1", "admin")
    event = http_event(method, path, body=body, claims=claims_for(tenant, "u1"), query=query)
    with function_environment(env):
        response = handler(event, lambda_context("test"))
    return response["statusCode"], response_json(response)


def test_a_chat_turn_runs_on_the_tenants_provider_and_records_its_usage(env: dict[str, str]) -> None:
    status, provider = call(providers_handler, env, "t1", "POST", "/llm-providers", {"name": "own", "kind": "offline"})
    assert status == 201, provider
    _, session = call(chat_handler, env, "t1", "POST", "/chat/sessions", {})
    status, turn = call(chat_handler, env, "t1", "POST", f"/chat/sessions/{session['id']}/messages",
                        {"text": "add buy milk priority A"})
    assert status == 200, turn
    assert turn["reply"]["text"].startswith("(offline assistant)")
    assert [c["name"] for c in turn["tool_calls"]] == ["create_task"]
    status, usage = call(providers_handler, env, "t1", "GET", "/llm-providers/usage")
    (row,) = usage["items"]
    assert row["provider_id"] == provider["id"] and row["agent_id"] is None
    assert row["calls"] == 2  # the tool call, then the reply
    assert row["total_tokens"] == turn["usage"]["totalTokens"] > 0


def test_a_tenant_without_providers_keeps_the_platform_chain(env: dict[str, str]) -> None:
    platform_offline = {**env, "LLM_PROVIDERS": "offline"}
    call(providers_handler, env, "t1", "POST", "/llm-providers", {"name": "t1's own", "kind": "offline"})
    _, session = call(chat_handler, platform_offline, "t2", "POST", "/chat/sessions", {})
    status, turn = call(chat_handler, platform_offline, "t2", "POST", f"/chat/sessions/{session['id']}/messages",
                        {"text": "add buy milk"})
    assert status == 200 and turn["usage"]["totalTokens"] > 0, turn
    for tenant in ("t1", "t2"):  # nothing recorded: neither t1's provider nor any of t2's was used
        assert call(providers_handler, env, tenant, "GET", "/llm-providers/usage")[1]["items"] == []
