"""Tenants' model providers on the embedded cloud, over real HTTP and the functions' own IAM roles: an API key
sealed with the template's KMS key and opened by the API (/test) and by the chat, each under the tenant and
provider encryption context; the chat and an agent job run on the tenant's provider and their calls show up as
usage; another tenant sees none of it."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer
from tests.support.tool_registry import json_answer, local_endpoint

COMPLETION = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}}


@pytest.fixture(scope="module")
def owner(new_user: Callable[[], SignedInUser]) -> SignedInUser:
    return new_user()


@pytest.fixture(scope="module")
def stranger(new_user: Callable[[], SignedInUser]) -> SignedInUser:
    return new_user()


def usage(api: httpx.Client, user: SignedInUser, **query: str) -> list[dict[str, Any]]:
    response = api.get("/llm-providers/usage", params=query, headers=bearer(user.id_token))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def calls_of(rows: list[dict[str, Any]], provider_id: str) -> int:
    return sum(r["calls"] for r in rows if r["provider_id"] == provider_id)


def test_an_api_key_is_sealed_with_kms_and_used_by_the_test_call(api: httpx.Client, owner: SignedInUser,
                                                                  stranger: SignedInUser) -> None:
    with local_endpoint(json_answer(COMPLETION)) as (url, recorded):
        response = api.post("/llm-providers", json={
            "name": "gateway", "kind": "openai_compatible", "model": "gpt-local", "base_url": f"{url}/v1",
            "api_key": "sk-integration"}, headers={**bearer(owner.id_token), "Idempotency-Key": "gw-1"})
        assert response.status_code == 201, response.text
        provider = response.json()
        assert provider["has_api_key"] and "sk-integration" not in response.text
        tested = api.post(f"/llm-providers/{provider['id']}/test", headers=bearer(owner.id_token))
        assert tested.status_code == 200, tested.text
        assert tested.json()["usage"] == {"input_tokens": 9, "output_tokens": 1, "total_tokens": 10}
        assert recorded.requests[-1]["headers"]["authorization"] == "Bearer sk-integration"
    assert api.get(f"/llm-providers/{provider['id']}", headers=bearer(stranger.id_token)).status_code == 404
    assert api.post(f"/llm-providers/{provider['id']}/test", headers=bearer(stranger.id_token)).status_code == 404
    refused = api.post("/llm-providers", json={"name": "meta", "kind": "openai_compatible", "model": "m",
                                               "base_url": "https://169.254.169.254/v1"},
                       headers=bearer(owner.id_token))
    assert refused.status_code == 422 and refused.json()["errors"][0]["path"] == "body.base_url"
    deleted = api.delete(f"/llm-providers/{provider['id']}",
                         headers={**bearer(owner.id_token), "If-Match": f'"{provider["version"]}"'})
    assert deleted.status_code == 204


def test_the_chat_and_agent_jobs_run_on_the_tenants_provider(api: httpx.Client, owner: SignedInUser,
                                                             stranger: SignedInUser) -> None:
    created = api.post("/llm-providers", json={"name": "own offline", "kind": "offline"},
                       headers=bearer(owner.id_token))
    assert created.status_code == 201, created.text
    provider_id = created.json()["id"]
    ordered = api.put("/llm-providers/order", json={"ids": [provider_id]}, headers=bearer(owner.id_token))
    assert ordered.status_code == 200 and ordered.json()["items"][0]["id"] == provider_id
    today = datetime.now(UTC).date().isoformat()

    session = api.post("/chat/sessions", json={}, headers=bearer(owner.id_token)).json()
    turn = api.post(f"/chat/sessions/{session['id']}/messages", json={"text": "add water the plants"},
                    headers=bearer(owner.id_token))
    assert turn.status_code == 200, turn.text
    after_chat = calls_of(usage(api, owner, **{"from": today, "to": today}), provider_id)
    assert after_chat == 2  # the create_task tool call, then the reply

    note = api.post("/notes", json={"title": "Plants", "body": "Water the ferns on Monday. The cactus needs "
                                    "little water. Repot the palm in spring."}, headers=bearer(owner.id_token)).json()
    job = api.post("/jobs", json={"type": "summarize", "params": {"note_ids": [note["id"]]}},
                   headers=bearer(owner.id_token))
    assert job.status_code == 202, job.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = api.get(f"/jobs/{job.json()['id']}", headers=bearer(owner.id_token)).json()
        if state["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.2)
    assert state["status"] == "succeeded", state
    rows = usage(api, owner, provider_id=provider_id)
    assert calls_of(rows, provider_id) > after_chat and all(r["day"] == today for r in rows)
    assert sum(r["total_tokens"] for r in rows) > 0
    assert usage(api, stranger) == []
    assert api.get("/llm-providers", headers=bearer(stranger.id_token)).json()["items"] == []
