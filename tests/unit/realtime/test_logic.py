"""Subscription rules, tenancy and replay ordering of crewhouse.realtime.logic, over the real store on
MemoryTable and fakes for the resources and the management API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crewhouse.realtime.logic import RealtimeService, deliveries_for
from crewhouse.realtime.models import Caller, Topic
from crewhouse.realtime.store import DynamoRealtimeStore
from tests.support.memory_table import MemoryTable

ALICE = Caller("t1", "alice", "member")
BOB = Caller("t1", "bob", "member")
EVE = Caller("t2", "eve", "admin")
AGENT = Caller("t1", "agent-principal", "agent", agent_id="a1")


class CountingTable(MemoryTable):
    """MemoryTable with the one UpdateItem the store makes: the topic's counter (ADD seq, SET expires_epoch)."""

    def update(self, key: Any, expression: str, *, values: Any = None, names: Any = None, condition: Any = None,
               return_new: bool = False, explain_failure: bool = False) -> dict[str, Any] | None:
        assert expression == "ADD seq :one SET expires_epoch = :keep"
        item = self.get(key) or {"PK": key[0], "SK": key[1], "seq": 0}
        item = {**item, "seq": int(item["seq"]) + values[":one"], "expires_epoch": values[":keep"]}
        self.put(item)
        return item


class Resources:
    """Alice owns job j1; tenant t1 has agent a1."""

    def can_read(self, caller: Caller, topic: Topic) -> bool:
        return (topic == Topic("job", "j1") and (caller.tenant_id, caller.user_id) == ("t1", "alice")) or \
            (topic == Topic("agent", "a1") and caller.tenant_id == "t1")


class Sender:
    def __init__(self) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.gone: set[str] = set()

    def send(self, connection_id: str, message: dict[str, Any]) -> bool:
        if connection_id in self.gone:
            return False
        self.sent.setdefault(connection_id, []).append(message)
        return True


@pytest.fixture
def service() -> RealtimeService:
    table = CountingTable()
    return RealtimeService(DynamoRealtimeStore(table), Resources(), Sender())


def _job_event(tenant: str, user: str, job: str, percent: int) -> dict[str, Any]:
    return {"detail-type": "job.progress", "source": "crewhouse.jobs",
            "detail": {"job": {"tenant_id": tenant, "user_id": user, "job_id": job}, "progress": percent}}


def _publish(service: RealtimeService, event: dict[str, Any]) -> None:
    for delivery in deliveries_for(event):
        service.publish(delivery)


def _subscribe(service: RealtimeService, connection: str, topic: str, last: int | None = None) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"action": "subscribe", "topic": topic}
    if last is not None:
        body["last_event_id"] = last
    return service.handle(connection, json.dumps(body))


def test_only_the_owner_may_subscribe_to_a_job(service: RealtimeService) -> None:
    for connection, caller in (("c-alice", ALICE), ("c-bob", BOB), ("c-eve", EVE)):
        service.connect(connection, caller)
    assert _subscribe(service, "c-alice", "job:j1")[-1]["type"] == "subscribed"
    assert _subscribe(service, "c-bob", "job:j1") == [
        {"type": "error", "status": 404, "title": "Not Found", "detail": "No job j1 that you can read.",
         "topic": "job:j1"}]
    assert _subscribe(service, "c-eve", "job:j1")[0]["status"] == 404


def test_events_reach_only_the_owner_scope_even_for_the_same_id(service: RealtimeService) -> None:
    sender = service.sender
    assert isinstance(sender, Sender)
    service.connect("c-alice", ALICE)
    service.connect("c-eve", EVE)
    _subscribe(service, "c-alice", "job:j1")
    _publish(service, _job_event("t1", "alice", "j1", 10))
    _publish(service, _job_event("t2", "alice", "j1", 99))  # another tenant's job of the same ids
    _publish(service, _job_event("t1", "bob", "j1", 98))  # another user's
    events = [m for m in sender.sent["c-alice"] if m["type"] == "event"]
    assert [e["data"]["progress"] for e in events] == [10]
    assert "c-eve" not in sender.sent


def test_an_agent_connection_follows_only_its_own_agent(service: RealtimeService) -> None:
    service.connect("c-agent", AGENT)
    assert _subscribe(service, "c-agent", "agent:a1")[-1]["type"] == "subscribed"
    assert _subscribe(service, "c-agent", "notifications")[0]["status"] == 403
    assert _subscribe(service, "c-agent", "job:j1")[0]["status"] == 403


def test_notifications_are_the_callers_own(service: RealtimeService) -> None:
    service.connect("c-bob", BOB)
    assert _subscribe(service, "c-bob", "notifications")[-1]["type"] == "subscribed"


def test_bad_messages_are_400_and_unknown_connections_401(service: RealtimeService) -> None:
    service.connect("c-alice", ALICE)
    assert service.handle("c-alice", "not json")[0]["status"] == 400
    assert service.handle("c-alice", json.dumps({"action": "subscribe", "topic": "jobs:x"}))[0]["status"] == 400
    assert service.handle("nobody", json.dumps({"action": "ping"}))[0]["status"] == 401
    assert service.handle("c-alice", json.dumps({"action": "ping"})) == [{"type": "pong"}]


def test_replay_sends_what_was_missed_in_order_then_the_ack(service: RealtimeService) -> None:
    service.connect("c1", ALICE)
    _subscribe(service, "c1", "job:j1")
    for percent in range(1, 8):
        _publish(service, _job_event("t1", "alice", "j1", percent))
    service.disconnect("c1")
    service.connect("c2", ALICE)
    answer = _subscribe(service, "c2", "job:j1", last=3)
    assert [m["id"] for m in answer[:-1]] == [4, 5, 6, 7]
    assert [m["data"]["progress"] for m in answer[:-1]] == [4, 5, 6, 7]
    assert answer[-1] == {"type": "subscribed", "topic": "job:j1", "replayed": 4, "last_event_id": 7,
                          "complete": True}


def test_a_gone_connection_is_removed_with_its_subscriptions(service: RealtimeService) -> None:
    sender = service.sender
    assert isinstance(sender, Sender)
    service.connect("c1", ALICE)
    _subscribe(service, "c1", "job:j1")
    sender.gone.add("c1")
    _publish(service, _job_event("t1", "alice", "j1", 5))
    store = service.store
    assert store.connection("c1") is None
    assert store.subscribers(("t1", "alice", "job:j1")) == []


def test_unsubscribe_stops_delivery(service: RealtimeService) -> None:
    sender = service.sender
    assert isinstance(sender, Sender)
    service.connect("c1", ALICE)
    _subscribe(service, "c1", "job:j1")
    assert service.handle("c1", json.dumps({"action": "unsubscribe", "topic": "job:j1"})) == [
        {"type": "unsubscribed", "topic": "job:j1"}]
    _publish(service, _job_event("t1", "alice", "j1", 5))
    assert [m for m in sender.sent.get("c1", []) if m["type"] == "event"] == []


def test_unknown_events_and_events_without_an_owner_go_nowhere() -> None:
    assert deliveries_for({"detail-type": "task.created", "detail": {}}) == []
    assert deliveries_for({"detail-type": "job.progress", "detail": {"job": {"job_id": "j1"}}}) == []


