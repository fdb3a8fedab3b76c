"""The agentic context bus on the embedded cloud, over real HTTP through the API's Lambda authorizer: agents
registered by an admin trade their client credentials for tokens, find each other, share contexts and talk;
two tenants and two agents of one tenant stay apart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer


@pytest.fixture(scope="module")
def admin(new_user: Callable[[], SignedInUser]) -> SignedInUser:
    return new_user()


@pytest.fixture(scope="module")
def stranger(new_user: Callable[[], SignedInUser]) -> SignedInUser:
    """The admin of another tenant."""
    return new_user()


def register(api: httpx.Client, admin: SignedInUser, **fields: Any) -> dict[str, Any]:
    body = {"name": "agent", "capabilities": [], "role": "agent-full", **fields}
    response = api.post("/agents", json=body, headers=bearer(admin.id_token))
    assert response.status_code == 201, response.text
    return dict(response.json())


def access_token(api: httpx.Client, agent: dict[str, Any]) -> str:
    credentials = agent["credentials"]
    response = api.post("/bus/token", data={"grant_type": "client_credentials",
                                            "client_id": credentials["client_id"],
                                            "client_secret": credentials["client_secret"]})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


class Agent:
    """An external agent as the SDK drives it: its id and its access token's headers."""

    def __init__(self, api: httpx.Client, admin: SignedInUser, **fields: Any) -> None:
        self.record = register(api, admin, **fields)
        self.id = self.record["id"]
        self.headers = bearer(access_token(api, self.record))


def test_agents_register_exchange_credentials_and_find_each_other(api: httpx.Client, admin: SignedInUser,
                                                                  stranger: SignedInUser) -> None:
    writer = Agent(api, admin, name="Writer", capabilities=["write"])
    reviewer = Agent(api, admin, name="Reviewer", capabilities=["review"])
    assert api.put(f"/agents/{writer.id}/heartbeat", headers=writer.headers).status_code == 200
    found = api.get("/agents", params={"capability": "review"}, headers=writer.headers)
    assert found.status_code == 200, found.text
    assert [a["id"] for a in found.json()["items"]] == [reviewer.id]
    online = api.get("/agents", params={"status": "online"}, headers=bearer(admin.id_token)).json()["items"]
    assert [a["id"] for a in online] == [writer.id]
    assert "ratelimit-remaining" in api.get(f"/agents/{writer.id}", headers=writer.headers).headers
    # Another tenant sees none of it; a token without credentials is refused by the authorizer.
    assert api.get(f"/agents/{writer.id}", headers=bearer(stranger.id_token)).status_code == 404
    assert api.get("/agents", headers=bearer(stranger.id_token)).json()["items"] == []
    assert api.get("/agents", headers=bearer("cha_" + "x" * 36)).status_code == 401
    assert api.get("/agents").status_code == 401
    card = api.get("/.well-known/agent-card.json")
    assert card.status_code == 200 and card.json()["name"] == "Crewhouse Agentic Context Bus"


def test_a_direct_message_is_delivered_once_after_ack(api: httpx.Client, admin: SignedInUser) -> None:
    sender = Agent(api, admin, name="Sender", role="agent-producer")
    receiver = Agent(api, admin, name="Receiver", role="agent-consumer")
    sent = api.post("/messages", json={"to": receiver.id, "payload": {"hello": "world"},
                                       "attributes": {"kind": "greeting"}},
                    headers={**sender.headers, "Idempotency-Key": "greeting-1"})
    assert sent.status_code == 202, sent.text
    again = api.post("/messages", json={"to": receiver.id, "payload": {"hello": "world"},
                                        "attributes": {"kind": "greeting"}},
                     headers={**sender.headers, "Idempotency-Key": "greeting-1"})
    assert again.status_code == 202 and again.json()["id"] == sent.json()["id"]
    inbox = api.get(f"/agents/{receiver.id}/messages", params={"wait": 5, "max": 10}, headers=receiver.headers)
    assert inbox.status_code == 200, inbox.text
    [message] = inbox.json()["messages"]
    assert message["payload"] == {"hello": "world"} and message["from"] == f"agent:{sender.id}"
    acked = api.post(f"/agents/{receiver.id}/messages/ack", json={"receipts": [message["receipt"]]},
                     headers=receiver.headers)
    assert acked.status_code == 200, acked.text
    empty = api.get(f"/agents/{receiver.id}/messages", params={"wait": 1}, headers=receiver.headers)
    assert empty.json()["messages"] == []
    # The consumer may not send; the producer may not read another agent's inbox.
    assert api.post("/messages", json={"to": sender.id, "payload": 1}, headers=receiver.headers).status_code == 403
    assert api.get(f"/agents/{receiver.id}/messages", headers=sender.headers).status_code == 403


def test_request_reply_answers_synchronously(api: httpx.Client, admin: SignedInUser) -> None:
    asker = Agent(api, admin, name="Asker")
    answerer = Agent(api, admin, name="Answerer")

    def answer() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            items = api.get(f"/agents/{answerer.id}/messages", params={"wait": 2},
                            headers=answerer.headers).json()["messages"]
            for item in items:
                api.post(f"/replies/{item['correlation_id']}", json={"payload": {"sum": sum(item["payload"])}},
                         headers=answerer.headers)
                api.post(f"/agents/{answerer.id}/messages/ack", json={"receipts": [item["receipt"]]},
                         headers=answerer.headers)
                return

    thread = threading.Thread(target=answer)
    thread.start()
    reply = api.post("/messages/requests", json={"to": answerer.id, "payload": [1, 2, 3], "timeout_seconds": 20,
                                                 "wait": True}, headers=asker.headers)
    thread.join()
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "replied" and reply.json()["reply"]["payload"] == {"sum": 6}


def test_a_message_nacked_max_deliveries_times_reaches_the_dead_letters(api: httpx.Client,
                                                                       admin: SignedInUser) -> None:
    sender = Agent(api, admin, name="Storm sender")
    flaky = Agent(api, admin, name="Flaky", max_deliveries=2)
    for n in range(2):
        assert api.post("/messages", json={"to": flaky.id, "payload": n}, headers=sender.headers).status_code == 202
    poisoned = good = 0
    for _ in range(6):  # the poison message (0) is nacked each time; the other one is acked
        for message in api.get(f"/agents/{flaky.id}/messages", params={"wait": 1, "max": 10},
                               headers=flaky.headers).json()["messages"]:
            verb = "nack" if message["payload"] == 0 else "ack"
            poisoned += verb == "nack"
            good += verb == "ack"
            assert api.post(f"/agents/{flaky.id}/messages/{verb}", json={"receipts": [message["receipt"]]},
                            headers=flaky.headers).status_code == 200
    assert (poisoned, good) == (2, 1)
    letters = api.get(f"/agents/{flaky.id}/dead-letters", headers=bearer(admin.id_token))
    assert letters.status_code == 200, letters.text
    assert [m["payload"] for m in letters.json()["messages"]] == [0]
    moved = api.post(f"/agents/{flaky.id}/dead-letters/redrive", json={}, headers=bearer(admin.id_token))
    assert moved.status_code == 200 and moved.json()["moved"] == 1
    back = api.get(f"/agents/{flaky.id}/messages", params={"wait": 2}, headers=flaky.headers).json()["messages"]
    assert [m["payload"] for m in back] == [0]


def test_contexts_are_versioned_and_private_ones_stay_with_their_owner(api: httpx.Client,
                                                                       admin: SignedInUser) -> None:
    owner = Agent(api, admin, name="Owner")
    other = Agent(api, admin, name="Other")
    created = api.post("/contexts", json={"name": "plan", "scope": "private", "payload": {"step": 1}},
                       headers=owner.headers)
    assert created.status_code == 201, created.text
    context_id = created.json()["id"]
    assert api.get(f"/contexts/{context_id}", headers=other.headers).status_code == 404
    updated = api.put(f"/contexts/{context_id}", json={"payload": {"step": 2}},
                      headers={**owner.headers, "If-Match": created.headers["etag"]})
    assert updated.status_code == 200, updated.text
    stale = api.put(f"/contexts/{context_id}", json={"payload": {"step": 3}},
                    headers={**owner.headers, "If-Match": created.headers["etag"]})
    assert stale.status_code == 412
    first = api.get(f"/contexts/{context_id}", params={"version": 1}, headers=owner.headers)
    assert first.json()["payload"] == {"step": 1}


def test_the_audit_trail_names_agents_and_people(api: httpx.Client, admin: SignedInUser) -> None:
    agent = Agent(api, admin, name="Audited")
    api.post("/contexts", json={"name": "note", "scope": "tenant", "payload": "x"}, headers=agent.headers)
    trail = api.get("/audit", params={"actor": f"agent:{agent.id}"}, headers=bearer(admin.id_token))
    assert trail.status_code == 200, trail.text
    assert [r["action"] for r in trail.json()["items"]] == ["context.create"]
    registered = api.get("/audit", params={"resource": f"agent/{agent.id}"}, headers=bearer(admin.id_token))
    assert [r["action"] for r in registered.json()["items"]] == ["agent.register"]
    assert api.get("/audit", headers=agent.headers).status_code == 403
