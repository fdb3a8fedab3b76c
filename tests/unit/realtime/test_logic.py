"""Subscription rules, tenancy and replay ordering of crewhouse.realtime.logic, over the real store on
MemoryTable and fakes for the resources and the management API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crewhouse.core.tenancy import MembershipGrant
from crewhouse.realtime.logic import MembershipCheck, RealtimeService, deliveries_for
from crewhouse.realtime.models import Caller, Delivery, Topic
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
    """Alice owns job j1 and chat session s1; tenant t1 has agent a1 and execution x1."""

    def can_read(self, caller: Caller, topic: Topic) -> bool:
        mine = (caller.tenant_id, caller.user_id) == ("t1", "alice")
        return (topic in (Topic("job", "j1"), Topic("chat", "s1")) and mine) or \
            (topic in (Topic("agent", "a1"), Topic("execution", "x1")) and caller.tenant_id == "t1")


class Sender:
    def __init__(self) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.gone: set[str] = set()
        self.closed: list[str] = []

    def close(self, connection_id: str) -> None:
        self.closed.append(connection_id)

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


# --- the producers' events: which owner scope each reaches ----------------------------------------------------

def test_chat_events_reach_the_sessions_owner_only() -> None:
    for detail_type in ("chat.tool_call", "chat.reply"):
        (delivery,) = deliveries_for({"detail-type": detail_type, "source": "crewhouse.chat", "detail": {
            "tenant_id": "t1", "user_id": "alice", "session_id": "s1", "index": 1}})
        assert delivery == Delivery("t1", "alice", Topic("chat", "s1"), detail_type,
                                    {"tenant_id": "t1", "user_id": "alice", "session_id": "s1", "index": 1})
    # No owner, no session, or an id that is no topic: nowhere (never a tenant-wide chat topic).
    for detail in ({"tenant_id": "t1", "session_id": "s1"}, {"tenant_id": "t1", "user_id": "alice"},
                   {"user_id": "alice", "session_id": "s1"}, {"tenant_id": "t1", "user_id": "a", "session_id": "x y"}):
        assert deliveries_for({"detail-type": "chat.reply", "detail": detail}) == []


def test_flow_execution_events_reach_the_tenants_execution_topic() -> None:
    detail = {"tenant_id": "t1", "flow_id": "f1", "execution_id": "x1",
              "event": {"type": "node_started", "node_id": "n1", "at": "2026-01-01T00:00:00+00:00", "detail": {}}}
    (delivery,) = deliveries_for({"detail-type": "flow.execution_event", "detail": detail})
    assert (delivery.tenant_id, delivery.user_id, delivery.topic) == ("t1", None, Topic("execution", "x1"))
    assert delivery.data["event"]["type"] == "node_started"
    assert deliveries_for({"detail-type": "flow.execution_event", "detail": {"execution_id": "x1"}}) == []


def test_a_new_notification_reaches_its_recipients_notifications_topic() -> None:
    detail = {"tenant_id": "t1", "user_id": "alice", "notification": {"id": "n1", "title": "Hi"}}
    (delivery,) = deliveries_for({"detail-type": "notification.created", "detail": detail})
    assert (delivery.tenant_id, delivery.user_id, delivery.topic) == ("t1", "alice", Topic("notifications"))
    assert deliveries_for({"detail-type": "notification.created", "detail": {"tenant_id": "t1"}}) == []


def test_bus_messages_reach_the_addressed_agents_topic() -> None:
    detail = {"tenant_id": "t1", "agent_id": "a1", "message": {"id": "m1", "payload": {"hi": 1}}}
    (delivery,) = deliveries_for({"detail-type": "bus.message", "detail": detail})
    assert (delivery.tenant_id, delivery.user_id, delivery.topic) == ("t1", None, Topic("agent", "a1"))
    assert deliveries_for({"detail-type": "bus.message", "detail": {"tenant_id": "t1"}}) == []


def test_each_new_event_is_delivered_in_its_owners_scope_only(service: RealtimeService) -> None:
    sender = service.sender
    assert isinstance(sender, Sender)
    for connection, caller in (("c-alice", ALICE), ("c-bob", BOB), ("c-eve", EVE)):
        service.connect(connection, caller)
    for topic in ("chat:s1", "execution:x1", "agent:a1"):
        assert _subscribe(service, "c-alice", topic)[-1]["type"] == "subscribed"
    for topic in ("execution:x1", "agent:a1"):
        assert _subscribe(service, "c-bob", topic)[-1]["type"] == "subscribed"  # tenant-wide: any member
    assert _subscribe(service, "c-bob", "chat:s1")[0]["status"] == 404  # another user's session
    assert _subscribe(service, "c-eve", "execution:x1")[0]["status"] == 404  # another tenant's
    for tenant in ("t1", "t2"):
        _publish(service, {"detail-type": "chat.reply", "detail": {"tenant_id": tenant, "user_id": "alice",
                                                                   "session_id": "s1"}})
        _publish(service, {"detail-type": "flow.execution_event", "detail": {"tenant_id": tenant,
                                                                             "execution_id": "x1"}})
        _publish(service, {"detail-type": "bus.message", "detail": {"tenant_id": tenant, "agent_id": "a1"}})
    received = {c: [(m["topic"], m["detail_type"]) for m in sent if m["type"] == "event"]
                for c, sent in sender.sent.items()}
    assert received["c-alice"] == [("chat:s1", "chat.reply"), ("execution:x1", "flow.execution_event"),
                                   ("agent:a1", "bus.message")]
    assert received["c-bob"] == [("execution:x1", "flow.execution_event"), ("agent:a1", "bus.message")]
    assert received.get("c-eve", []) == []  # t2's events of the same ids had no subscriber in t2


# --- the membership re-check -------------------------------------------------------------------------------

class Memberships:
    """The membership port: who is an active member of which tenant; counts the reads."""

    def __init__(self, *members: tuple[str, str]) -> None:
        self.members = set(members)
        self.reads = 0

    def grant(self, tenant_id: str, principal_id: str) -> MembershipGrant | None:
        self.reads += 1
        return MembershipGrant("member", "active") if (tenant_id, principal_id) in self.members else None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def checked() -> tuple[RealtimeService, Memberships, Clock]:
    memberships, clock = Memberships(("t1", "alice"), ("t1", "bob")), Clock()
    service = RealtimeService(DynamoRealtimeStore(CountingTable()), Resources(), Sender(),
                              members=MembershipCheck(memberships, clock=clock))
    return service, memberships, clock


def _events_of(sender: Sender, connection: str) -> list[dict[str, Any]]:
    return [m for m in sender.sent.get(connection, []) if m["type"] == "event"]


def test_a_removed_member_stops_receiving_within_the_cache_time_and_is_closed(
        checked: tuple[RealtimeService, Memberships, Clock]) -> None:
    service, memberships, clock = checked
    sender = service.sender
    assert isinstance(sender, Sender)
    for connection, caller in (("c-alice", ALICE), ("c-bob", BOB), ("c-agent", AGENT)):
        service.connect(connection, caller)
        _subscribe(service, connection, "agent:a1")
    _publish(service, {"detail-type": "bus.message", "detail": {"tenant_id": "t1", "agent_id": "a1"}})
    memberships.members.discard(("t1", "bob"))  # Bob is removed from t1
    clock.now += 30  # within the cache time: the membership read 30 s ago still counts
    _publish(service, {"detail-type": "bus.message", "detail": {"tenant_id": "t1", "agent_id": "a1"}})
    assert [len(_events_of(sender, c)) for c in ("c-alice", "c-bob", "c-agent")] == [2, 2, 2]
    clock.now += 31
    delivery = deliveries_for({"detail-type": "bus.message", "detail": {"tenant_id": "t1", "agent_id": "a1"}})[0]
    assert service.publish(delivery) == (2, 0, 0, 1)  # Alice and the agent; Bob's connection dropped
    assert len(_events_of(sender, "c-bob")) == 2
    assert sender.sent["c-bob"][-1]["status"] == 403  # told why
    assert sender.closed == ["c-bob"]
    assert service.store.connection("c-bob") is None
    assert [s.connection_id for s in service.store.subscribers(("t1", None, "agent:a1"))] == ["c-agent", "c-alice"]
    _publish(service, {"detail-type": "bus.message", "detail": {"tenant_id": "t1", "agent_id": "a1"}})
    assert [len(_events_of(sender, c)) for c in ("c-alice", "c-bob", "c-agent")] == [4, 2, 4]


def test_membership_is_read_once_a_minute_per_person_and_never_for_agents(
        checked: tuple[RealtimeService, Memberships, Clock]) -> None:
    service, memberships, clock = checked
    for connection, caller in (("c-alice", ALICE), ("c-alice-2", ALICE), ("c-agent", AGENT)):
        service.connect(connection, caller)
        _subscribe(service, connection, "agent:a1")
    assert memberships.reads == 1  # at Alice's first subscribe; her second and the agent's read nothing
    for _ in range(5):
        _publish(service, {"detail-type": "bus.message", "detail": {"tenant_id": "t1", "agent_id": "a1"}})
    assert memberships.reads == 1
    clock.now += 61
    _publish(service, {"detail-type": "bus.message", "detail": {"tenant_id": "t1", "agent_id": "a1"}})
    assert memberships.reads == 2


def test_a_removed_member_may_not_subscribe(checked: tuple[RealtimeService, Memberships, Clock]) -> None:
    service, memberships, _ = checked
    memberships.members.clear()
    service.connect("c-alice", ALICE)
    assert _subscribe(service, "c-alice", "job:j1")[0]["status"] == 403
    assert service.store.subscribers(("t1", "alice", "job:j1")) == []


def test_a_subscription_filed_without_its_holder_is_checked_through_the_connection(
        checked: tuple[RealtimeService, Memberships, Clock]) -> None:
    service, memberships, _ = checked
    sender = service.sender
    assert isinstance(sender, Sender)
    service.connect("c-bob", BOB)
    service.store.subscribe("c-bob", ("t1", None, "agent:a1"), 2 ** 40)  # as before subscriptions named holders
    memberships.members.discard(("t1", "bob"))
    delivery = deliveries_for({"detail-type": "bus.message", "detail": {"tenant_id": "t1", "agent_id": "a1"}})[0]
    assert service.publish(delivery) == (0, 0, 0, 1)
    assert sender.closed == ["c-bob"]
