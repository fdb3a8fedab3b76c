"""The chat over real HTTP on the embedded cloud, with the offline assistant (no model needed)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.endpoint import local_client
from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer
from tests.integration.test_tasks_flow import eventually


def say(api: httpx.Client, headers: dict[str, str], session: str, text: str) -> dict[str, Any]:
    response = api.post(f"/chat/sessions/{session}/messages", json={"text": text}, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def tasks_of(api: httpx.Client, headers: dict[str, str]) -> list[dict[str, Any]]:
    return list(api.get("/tasks", headers=headers).json()["items"])


def test_todo_flow_through_the_five_tools(api: httpx.Client, new_user: Callable[[], SignedInUser]) -> None:
    me = bearer(new_user().id_token)
    session = api.post("/chat/sessions", json={}, headers=me).json()["id"]

    reply = say(api, me, session, "add buy milk tomorrow priority A")
    assert reply["reply"]["text"].startswith("(offline assistant)")
    assert [(t["title"], t["priority"]) for t in tasks_of(api, me)] == [("buy milk", "A")]

    say(api, me, session, "add call the bank")
    listing = say(api, me, session, "list my tasks")["reply"]["text"]
    assert "buy milk" in listing and "call the bank" in listing

    say(api, me, session, "complete 1")
    assert {t["title"]: t["status"] for t in tasks_of(api, me)}["buy milk"] == "done"

    # Name lookups go through the search index, which the table's stream keeps up to date.
    assert eventually(lambda: "Renamed" in say(api, me, session, "rename call the bank to call the bank manager")
                      ["reply"]["text"])
    assert "call the bank manager" in [t["title"] for t in tasks_of(api, me)]

    assert eventually(lambda: "Deleted" in say(api, me, session, "delete the bank manager task")["reply"]["text"])
    assert [t["title"] for t in tasks_of(api, me)] == ["buy milk"]

    history = api.get(f"/chat/sessions/{session}/messages", params={"limit": 200}, headers=me).json()["items"]
    assert history[0]["text"] == "add buy milk tomorrow priority A"
    assert all(m["text"] for m in history)


def test_double_texting_is_409(api: httpx.Client, cloud: EmbeddedCloud,
                               new_user: Callable[[], SignedInUser]) -> None:
    user = new_user()
    me = bearer(user.id_token)
    session = api.post("/chat/sessions", json={}, headers=me).json()["id"]
    tenant = api.get("/me", headers=me).json()["tenant_id"]
    assert cloud.stack is not None
    table = cloud.stack.resources[next(k for k in cloud.stack.resources if k.startswith("ChatChatTable"))]
    # A turn is running: it holds the session's lock (as the Lambda does while the model works).
    local_client("dynamodb").update_item(
        TableName=table, Key={"PK": {"S": f"T#{tenant}#U#{user.user_id}"}, "SK": {"S": f"CHAT#{session}"}},
        UpdateExpression="SET turn_lock_until = :t",
        ExpressionAttributeValues={":t": {"N": str(int(time.time()) + 60)}})
    response = api.post(f"/chat/sessions/{session}/messages", json={"text": "hello?"}, headers=me)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert api.get(f"/chat/sessions/{session}/messages", headers=me).json()["items"] == []


def test_another_users_session_is_404(api: httpx.Client, new_user: Callable[[], SignedInUser]) -> None:
    alice, bob = bearer(new_user().id_token), bearer(new_user().id_token)
    session = api.post("/chat/sessions", json={}, headers=alice).json()["id"]
    say(api, alice, session, "add alice's secret")
    for method, path, body in [("GET", f"/chat/sessions/{session}/messages", None),
                               ("POST", f"/chat/sessions/{session}/messages", {"text": "complete 1"}),
                               ("DELETE", f"/chat/sessions/{session}", None)]:
        assert api.request(method, path, json=body, headers=bob).status_code == 404
    bob_session = api.post("/chat/sessions", json={}, headers=bob).json()["id"]
    assert "secret" not in say(api, bob, bob_session, "list my tasks")["reply"]["text"]
    assert "alice's secret" in [t["title"] for t in tasks_of(api, alice)]
