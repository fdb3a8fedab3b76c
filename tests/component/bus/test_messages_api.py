"""The messaging Lambda in-process over moto: send, broadcast, topics, request-reply, the inbox, dead letters,
Idempotency-Key, and who may do what (the tables made here as the contract lays them out)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from crewhouse.bus.mailboxes import Mailboxes
from crewhouse.bus.messages_api import handler
from crewhouse.bus.messaging import MAX_MESSAGE_BYTES
from crewhouse.bus.rate_limit import rate_attributes
from crewhouse.bus.settings import BusSettings
from crewhouse.core.settings import function_environment
from crewhouse.core.table import Table
from tests.support.bus import AUDIT_TABLE, BUS_ENV, BUS_TABLE, PLATFORM, agent_claims
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.members import seed_membership
from tests.support.mock import mocked_aws

Answer = tuple[int, Any, dict[str, str]]
Call = Callable[..., Answer]
IDEMPOTENCY_TABLE = "idem"


def _create(dynamodb: Any, name: str, indexes: int, keys: tuple[str, ...] = ("PK", "SK")) -> None:
    names = [*keys, *(f"GSI{n}{part}" for n in range(1, indexes + 1) for part in ("PK", "SK"))]
    request: dict[str, Any] = {
        "TableName": name, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": k, "KeyType": t} for k, t in zip(keys, ("HASH", "RANGE"), strict=False)],
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in names]}
    if indexes:
        request["GlobalSecondaryIndexes"] = [
            {"IndexName": f"GSI{n}", "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": f"GSI{n}PK", "KeyType": "HASH"},
                           {"AttributeName": f"GSI{n}SK", "KeyType": "RANGE"}]} for n in range(1, indexes + 1)]
    dynamodb.create_table(**request)


@dataclass
class Bus:
    env: dict[str, str]
    hosted_inbox: str
    table: Table
    mailboxes: Mailboxes
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_agent(self, tenant: str = "t1", *, kind: str = "external", role: str = "agent-full",
                  max_deliveries: int = 5, visibility_timeout_seconds: int = 30) -> str:
        from ulid import ULID

        agent_id = str(ULID()).lower()
        record: dict[str, Any] = {
            "agent_id": agent_id, "tenant_id": tenant, "name": f"agent {len(self.agents)}", "kind": kind,
            "role": role, "capabilities": [], "description": "", "metadata": {}, "heartbeat_interval_seconds": 30,
            "max_deliveries": max_deliveries, "visibility_timeout_seconds": visibility_timeout_seconds,
            "message_retention_seconds": 345_600, "status": "offline", "created_at": "2026-12-04T06:00:00.000Z",
            "version": 1, "credentials_valid_after_ms": 0, **rate_attributes(1000)}
        if kind == "external":
            record.update(self.mailboxes.provision(tenant, agent_id, max_deliveries=max_deliveries,
                                                   visibility_timeout_seconds=visibility_timeout_seconds,
                                                   retention_seconds=345_600))
        self.table.put({**record, "PK": f"T#{tenant}#AGENT#{agent_id}", "SK": "AGENT"})
        self.agents[agent_id] = record
        return agent_id

    def invoke(self, event: dict[str, Any]) -> Answer:
        with function_environment(self.env):
            response = handler(event, lambda_context("bus-messages"))
        return response["statusCode"], response_json(response), dict(response.get("headers") or {})

    def agent(self, agent_id: str) -> Call:
        tenant = self.agents[agent_id]["tenant_id"]

        def call(method: str, path: str, body: Any = None, *, query: str = "",
                 headers: dict[str, str] | None = None) -> Answer:
            return self.invoke(http_event(method, path, body=body, query=query, headers=headers,
                                          claims=agent_claims(tenant, agent_id)))

        return call

    def person(self, user: str, role: str = "admin", tenant: str = "t1") -> Call:
        seed_membership(tenant, user, role, table=PLATFORM)

        def call(method: str, path: str, body: Any = None, *, query: str = "",
                 headers: dict[str, str] | None = None) -> Answer:
            return self.invoke(http_event(method, path, body=body, query=query, headers=headers,
                                          claims=claims_for(tenant, user)))

        return call

    def audit(self) -> list[dict[str, Any]]:
        items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=AUDIT_TABLE)["Items"]
        return [{k: v.get("S") for k, v in item.items()} for item in items
                if "action" in item]  # the records, not the markers of the days that have some


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bus]:
    with mocked_aws(monkeypatch):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        _create(dynamodb, BUS_TABLE, 3)
        _create(dynamodb, AUDIT_TABLE, 2)
        _create(dynamodb, PLATFORM, 1)
        _create(dynamodb, IDEMPOTENCY_TABLE, 0, keys=("id",))
        sqs = boto3.client("sqs", region_name="us-east-1")
        hosted_inbox = sqs.create_queue(QueueName="hosted-inbox")["QueueUrl"]
        env = {**BUS_ENV, "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE, "HOSTED_INBOX_URL": hosted_inbox}
        mailboxes = Mailboxes(sqs, boto3.client("sns", region_name="us-east-1"), BusSettings.from_environment(env))
        yield Bus(env, hosted_inbox, Table(dynamodb, BUS_TABLE), mailboxes)


def inbox(call: Call, agent_id: str, **query: int) -> list[dict[str, Any]]:
    wanted = {"wait": 0, "max": 10, **query}
    status, body, _ = call("GET", f"/agents/{agent_id}/messages", query="&".join(f"{k}={v}" for k, v in wanted.items()))
    assert status == 200, body
    return list(body["messages"])


def ack(call: Call, agent_id: str, messages: list[dict[str, Any]]) -> None:
    status, body, _ = call("POST", f"/agents/{agent_id}/messages/ack", {"receipts": [m["receipt"] for m in messages]})
    assert status == 200 and body == {"acked": len(messages), "failed": []}, body


# --- point to point, the inbox --------------------------------------------------------------------------------

def test_a_message_reaches_the_agent_and_an_acked_one_never_comes_back(bus: Bus) -> None:
    alice, bob = bus.add_agent(), bus.add_agent(visibility_timeout_seconds=1)
    as_alice, as_bob = bus.agent(alice), bus.agent(bob)
    status, sent, headers = as_alice("POST", "/messages", {"to": bob, "payload": {"n": 1}, "attributes": {"p": "hi"}})
    assert status == 202 and sent["duplicate"] is False
    assert headers["ratelimit-limit"] == "1000"  # the agent's rate limit was charged
    as_alice("POST", "/messages", {"to": bob, "payload": {"n": 2}})
    got = inbox(as_bob, bob)
    assert sorted(m["payload"]["n"] for m in got) == [1, 2]
    first = next(m for m in got if m["payload"]["n"] == 1)
    assert first["id"] == sent["id"] and first["from"] == f"agent:{alice}" and first["to"] == bob
    assert first["kind"] == "direct" and first["attributes"] == {"p": "hi"} and first["delivery_count"] == 1
    ack(as_bob, bob, [first])
    time.sleep(1.3)  # past the visibility timeout: what was not acked is delivered again
    again = inbox(as_bob, bob)
    assert [(m["payload"]["n"], m["delivery_count"]) for m in again] == [(2, 2)]
    ack(as_bob, bob, again)
    time.sleep(1.3)
    assert inbox(as_bob, bob) == []


def test_a_message_to_a_hosted_agent_goes_to_the_hosted_inbox(bus: Bus) -> None:
    hosted = bus.add_agent(kind="hosted")
    status, sent, _ = bus.person("ada")("POST", "/messages", {"to": hosted, "payload": "write a haiku"})
    assert status == 202
    [raw] = boto3.client("sqs", region_name="us-east-1").receive_message(QueueUrl=bus.hosted_inbox)["Messages"]
    assert '"write a haiku"' in raw["Body"] and sent["id"] in raw["Body"]
    assert bus.agent(hosted)("GET", f"/agents/{hosted}/messages", query="wait=0")[0] == 409


def test_an_idempotent_send_delivers_once_and_answers_the_first_answer(bus: Bus) -> None:
    alice, bob = bus.add_agent(), bus.add_agent()
    as_alice = bus.agent(alice)
    body, key = {"to": bob, "payload": "once"}, {"Idempotency-Key": "k-1"}
    first = as_alice("POST", "/messages", body, headers=key)
    second = as_alice("POST", "/messages", body, headers=key)
    assert first[0] == second[0] == 202
    assert second[1] == {"id": first[1]["id"], "duplicate": True} and first[1]["duplicate"] is False
    assert as_alice("POST", "/messages", {**body, "payload": "other"}, headers=key)[0] == 422
    # The key is the sender's: another agent's same key is another message.
    other = bus.agent(bus.add_agent())("POST", "/messages", body, headers=key)[1]
    assert other["duplicate"] is False and other["id"] != first[1]["id"]
    assert sorted(m["id"] for m in inbox(bus.agent(bob), bob)) == sorted([first[1]["id"], other["id"]])


def test_an_oversize_message_is_413_and_goes_nowhere(bus: Bus) -> None:
    alice, bob = bus.add_agent(), bus.add_agent()
    status, problem, headers = bus.agent(alice)("POST", "/messages", {"to": bob, "payload": "x" * MAX_MESSAGE_BYTES})
    assert status == 413 and headers["content-type"] == "application/problem+json"
    assert problem["type"].endswith("/message-too-large")
    assert bus.agent(alice)("POST", "/messages/broadcast", {"payload": "x" * MAX_MESSAGE_BYTES})[0] == 413
    assert inbox(bus.agent(bob), bob) == []


def test_unknown_agents_and_other_tenants_agents_are_404(bus: Bus) -> None:
    alice, stranger = bus.add_agent(), bus.add_agent("t2")
    as_alice = bus.agent(alice)
    for to in (stranger, "01jzzzzzzzzzzzzzzzzzzzzzzz"):
        status, problem, _ = as_alice("POST", "/messages", {"to": to, "payload": "x"})
        assert status == 404 and problem["type"].endswith("/unknown-agent")
        assert as_alice("POST", "/messages/requests", {"to": to, "payload": "x", "wait": False})[0] == 404
    admin = bus.person("ada")
    assert admin("GET", f"/agents/{stranger}/dead-letters")[0] == 404
    assert admin("PUT", f"/agents/{stranger}/subscriptions/orders", {"filter": {}})[0] == 404
    assert inbox(bus.agent(stranger), stranger) == []


def test_who_may_not_send_or_read_an_inbox_gets_403(bus: Bus) -> None:
    consumer, alice, bob = bus.add_agent(role="agent-consumer"), bus.add_agent(), bus.add_agent()
    status, problem, _ = bus.agent(consumer)("POST", "/messages", {"to": bob, "payload": "x"})
    assert status == 403 and problem["type"].endswith("/bus-role")
    assert bus.agent(consumer)("POST", "/topics/orders/messages", {"payload": "x"})[0] == 403
    bus.agent(alice)("POST", "/messages", {"to": bob, "payload": "for bob only"})
    as_alice = bus.agent(alice)
    assert as_alice("GET", f"/agents/{bob}/messages", query="wait=0")[0] == 403
    assert as_alice("POST", f"/agents/{bob}/messages/ack", {"receipts": ["r"]})[0] == 403
    assert as_alice("POST", f"/agents/{bob}/messages/nack", {"receipts": ["r"]})[0] == 403
    assert as_alice("PUT", f"/agents/{bob}/subscriptions/orders", {"filter": {}})[0] == 403
    assert as_alice("GET", f"/agents/{bob}/dead-letters")[0] == 403
    observer = bus.person("olga", role="member")
    assert observer("POST", "/messages", {"to": bob, "payload": "x"})[0] == 403
    assert observer("GET", f"/agents/{bob}/messages", query="wait=0")[0] == 403  # never a message body
    assert [m["payload"] for m in inbox(bus.agent(bob), bob)] == ["for bob only"]
    refused = [(r["action"], r["actor"].split(":")[-1]) for r in bus.audit() if r["result"] == "refused"]
    assert {("message.send", consumer), ("message.send", "olga"), ("message.ack", alice)} <= set(refused)


# --- broadcast and topics -------------------------------------------------------------------------------------

def test_a_broadcast_reaches_every_agent_of_the_tenant_and_no_other(bus: Bus) -> None:
    mine = [bus.add_agent() for _ in range(3)]
    stranger = bus.add_agent("t2")
    status, sent, _ = bus.agent(mine[0])("POST", "/messages/broadcast", {"payload": "hello", "attributes": {"a": "b"}})
    assert status == 202
    for agent_id in mine:
        [got] = inbox(bus.agent(agent_id), agent_id)
        assert (got["id"], got["kind"], got["payload"], got["to"]) == (sent["id"], "broadcast", "hello", None)
    assert inbox(bus.agent(stranger), stranger) == []
    assert bus.person("ada")("POST", "/messages/broadcast", {"payload": "from a person"})[0] == 202
    assert [m["from"] for m in inbox(bus.agent(mine[1]), mine[1])] == ["user:ada"]


def test_a_topic_delivers_by_filter_and_subscriptions_can_be_listed_and_removed(bus: Bus) -> None:
    publisher, reds, everything, idle = bus.add_agent(), bus.add_agent(), bus.add_agent(), bus.add_agent()
    status, made, _ = bus.agent(reds)("PUT", f"/agents/{reds}/subscriptions/orders", {"filter": {"color": ["red"]}})
    assert status == 200 and made["topic"] == "orders" and made["filter"] == {"color": ["red"]}
    assert bus.person("ada")("PUT", f"/agents/{everything}/subscriptions/orders", {})[0] == 200  # an admin may
    as_publisher = bus.agent(publisher)
    for color in ("red", "blue"):
        assert as_publisher("POST", "/topics/orders/messages", {"payload": color, "attributes": {"color": color}})[0] \
            == 202
    assert [m["payload"] for m in inbox(bus.agent(reds), reds)] == ["red"]
    assert sorted(m["payload"] for m in inbox(bus.agent(everything), everything)) == ["blue", "red"]
    assert inbox(bus.agent(idle), idle) == []
    assert inbox(bus.agent(publisher), publisher) == []

    status, listed, _ = bus.agent(reds)("GET", f"/agents/{reds}/subscriptions")
    assert status == 200 and [(s["topic"], s["filter"]) for s in listed] == [("orders", {"color": ["red"]})]
    stored = bus.table.get((f"T#t1#AGENT#{reds}", "SUB#orders"))
    assert stored is not None and stored["subscription_arn"].startswith("arn:aws:sns:")
    assert stored["filter"] == {"color": ["red"]}
    assert bus.agent(reds)("DELETE", f"/agents/{reds}/subscriptions/orders")[0] == 204
    assert bus.table.get((f"T#t1#AGENT#{reds}", "SUB#orders")) is None
    assert bus.agent(reds)("DELETE", f"/agents/{reds}/subscriptions/orders")[0] == 404
    as_publisher("POST", "/topics/orders/messages", {"payload": "red again", "attributes": {"color": "red"}})
    assert inbox(bus.agent(reds), reds) == []
    assert [m["payload"] for m in inbox(bus.agent(everything), everything)] == ["red again"]
    assert as_publisher("POST", "/topics/nobody-listens/messages", {"payload": "x"})[0] == 202
    assert as_publisher("POST", "/topics/bad.name/messages", {"payload": "x"})[0] == 422
    assert bus.agent(reds)("PUT", f"/agents/{reds}/subscriptions/orders", {"filter": {"c": []}})[0] == 422


# --- request-reply --------------------------------------------------------------------------------------------

def answer_requests(bus: Bus, agent_id: str, stop: threading.Event, answered: list[str]) -> None:
    """The replying agent: long-polls its inbox and answers each request."""
    as_agent = bus.agent(agent_id)
    while not stop.is_set():
        for message in inbox(as_agent, agent_id, wait=1):
            if message["kind"] == "request":
                status, _, _ = as_agent("POST", f"/replies/{message['correlation_id']}",
                                        {"payload": {"echo": message["payload"]}})
                answered.append(f"{status}")
            ack(as_agent, agent_id, [message])


def test_a_synchronous_request_answers_with_the_reply(bus: Bus) -> None:
    asker, answerer = bus.add_agent(), bus.add_agent(role="agent-consumer")
    stop, answered = threading.Event(), list[str]()
    worker = threading.Thread(target=answer_requests, args=(bus, answerer, stop, answered))
    worker.start()
    try:
        started = time.monotonic()
        status, outcome, _ = bus.agent(asker)("POST", "/messages/requests",
                                              {"to": answerer, "payload": "ping", "timeout_seconds": 10})
        took = time.monotonic() - started
    finally:
        stop.set()
        worker.join()
    assert status == 200, outcome
    assert outcome["status"] == "replied" and outcome["reply"]["payload"] == {"echo": "ping"}
    assert outcome["reply"]["from"] == f"agent:{answerer}" and outcome["reply"]["to"] == asker
    assert outcome["reply"]["correlation_id"] == outcome["correlation_id"]
    assert answered == ["201"] and took < 8


def test_an_asynchronous_request_is_fetched_later_and_replied_to_once(bus: Bus) -> None:
    asker, answerer, bystander = bus.add_agent(), bus.add_agent(), bus.add_agent()
    as_asker, as_answerer = bus.agent(asker), bus.agent(answerer)
    status, outcome, headers = as_asker("POST", "/messages/requests", {"to": answerer, "payload": "q", "wait": False})
    assert status == 202 and outcome["status"] == "pending" and outcome["reply"] is None
    correlation_id = outcome["correlation_id"]
    assert headers["location"] == f"/replies/{correlation_id}"
    assert as_asker("GET", f"/replies/{correlation_id}")[0] == 202
    [request] = inbox(as_answerer, answerer)
    assert request["kind"] == "request" and request["correlation_id"] == correlation_id
    assert request["reply_to"] == asker and request["id"] == outcome["id"]
    assert bus.agent(bystander)("POST", f"/replies/{correlation_id}", {"payload": "me"})[0] == 403
    assert as_answerer("POST", f"/replies/{correlation_id}", {"payload": "a"})[0] == 201
    assert as_answerer("POST", f"/replies/{correlation_id}", {"payload": "b"})[0] == 409
    status, fetched, _ = as_asker("GET", f"/replies/{correlation_id}", query="wait=5")
    assert status == 200 and fetched["reply"]["payload"] == "a"
    assert bus.agent(bystander)("GET", f"/replies/{correlation_id}")[0] == 404
    assert as_asker("GET", "/replies/01jzzzzzzzzzzzzzzzzzzzzzzz")[0] == 404
    item = bus.table.get((f"T#t1#REPLY#{correlation_id}", "REPLY"))
    assert item is not None and 0 < item["expires_epoch"] - time.time() <= 24 * 3600


def test_a_request_without_an_answer_times_out_pending(bus: Bus) -> None:
    asker, silent = bus.add_agent(), bus.add_agent()
    started = time.monotonic()
    status, outcome, _ = bus.agent(asker)("POST", "/messages/requests",
                                          {"to": silent, "payload": "?", "timeout_seconds": 0.5})
    assert status == 202 and outcome["status"] == "pending" and time.monotonic() - started >= 0.5
    assert bus.agent(asker)("POST", "/messages/requests", {"to": silent, "payload": "?", "timeout_seconds": 26})[0] \
        == 422


# --- a nack storm and dead letters ----------------------------------------------------------------------------

def test_a_nack_storm_dead_letters_the_message_and_an_admin_redrives_it(bus: Bus) -> None:
    sender, worker = bus.add_agent(), bus.add_agent(max_deliveries=3)
    as_sender, as_worker = bus.agent(sender), bus.agent(worker)
    as_sender("POST", "/messages", {"to": worker, "payload": "poison"})
    handled = []
    for n in range(3):
        as_sender("POST", "/messages", {"to": worker, "payload": f"fine-{n}"})
        got = inbox(as_worker, worker)
        poison = [m for m in got if m["payload"] == "poison"]
        status, nacked, _ = as_worker("POST", f"/agents/{worker}/messages/nack",
                                      {"receipts": [m["receipt"] for m in poison], "delay_seconds": 0})
        assert status == 200 and nacked == {"nacked": 1, "failed": []}
        fine = [m for m in got if m["payload"] != "poison"]
        ack(as_worker, worker, fine)
        handled += [m["payload"] for m in fine]
    as_sender("POST", "/messages", {"to": worker, "payload": "fine-3"})
    assert [m["payload"] for m in inbox(as_worker, worker)] == ["fine-3"]
    assert handled == ["fine-0", "fine-1", "fine-2"]

    admin = bus.person("ada")
    status, dead, _ = admin("GET", f"/agents/{worker}/dead-letters")
    assert status == 200 and [m["payload"] for m in dead["messages"]] == ["poison"]
    assert dead["approximate_count"] == 1 and dead["messages"][0]["from"] == f"agent:{sender}"
    assert admin("GET", f"/agents/{worker}/dead-letters")[1]["approximate_count"] == 1  # the look took nothing
    assert as_worker("POST", f"/agents/{worker}/dead-letters/redrive")[0] == 403
    status, moved, _ = admin("POST", f"/agents/{worker}/dead-letters/redrive", {"limit": 10})
    assert status == 200 and moved == {"moved": 1}
    [back] = inbox(as_worker, worker)
    assert back["payload"] == "poison" and back["delivery_count"] == 1
    assert admin("GET", f"/agents/{worker}/dead-letters")[1] == {"messages": [], "approximate_count": 0}
    actions = {(r["action"], r["actor"].split(":")[-1]) for r in bus.audit() if r["result"] == "ok"}
    assert {("dead-letters.redrive", "ada"), ("message.nack", worker), ("message.ack", worker),
            ("message.send", sender)} <= actions


def test_a_receipt_that_is_not_the_inboxes_is_reported_not_fatal(bus: Bus) -> None:
    alice = bus.add_agent()
    status, body, _ = bus.agent(alice)("POST", f"/agents/{alice}/messages/ack", {"receipts": ["made-up"]})
    assert status == 200 and body["acked"] == 0 and body["failed"][0]["receipt"] == "made-up"
    assert bus.agent(alice)("POST", f"/agents/{alice}/messages/ack", {"receipts": []})[0] == 422


# --- live updates ---------------------------------------------------------------------------------------------

def test_a_message_put_in_an_agents_inbox_is_announced_for_live_updates(bus: Bus) -> None:
    """bus.message names the addressee's tenant and agent (the realtime fan-out's agent:<id> of that tenant) and
    carries the envelope; a payload over 16 KiB is left out (the agent reads it from its inbox); an idempotent
    repeat sends nothing and announces nothing; a broadcast announces nothing (no one inbox)."""
    from crewhouse.realtime.logic import deliveries_for
    from crewhouse.realtime.models import Topic
    from tests.support.event_inbox import event_inbox, sent_events

    boto3.client("events", region_name="us-east-1").create_event_bus(Name="crewhouse")
    announced = event_inbox("crewhouse.bus")
    alice, bob = bus.add_agent(), bus.add_agent()
    as_alice = bus.agent(alice)
    key = {"Idempotency-Key": "k-live"}
    sent = as_alice("POST", "/messages", {"to": bob, "payload": {"n": 1}, "attributes": {"p": "hi"}}, headers=key)[1]
    assert as_alice("POST", "/messages", {"to": bob, "payload": {"n": 1}, "attributes": {"p": "hi"}},
                    headers=key)[1]["duplicate"] is True
    as_alice("POST", "/messages", {"to": bob, "payload": "x" * (17 * 1024)})
    assert as_alice("POST", "/messages/broadcast", {"payload": "all"})[0] == 202
    events = sent_events(announced)
    assert [e["detail-type"] for e in events] == ["bus.message", "bus.message"]
    small, large = sorted((e["detail"] for e in events), key=lambda d: "payload" not in d["message"])
    assert (small["tenant_id"], small["agent_id"]) == ("t1", bob)
    message = small["message"]
    assert (message["id"], message["kind"], message["from"], message["to"]) == (sent["id"], "direct",
                                                                                 f"agent:{alice}", bob)
    assert (message["payload"], message["attributes"]) == ({"n": 1}, {"p": "hi"})
    assert large["message"]["payload_omitted"] is True and "payload" not in large["message"]
    for event in events:
        (delivery,) = deliveries_for(event)
        assert (delivery.tenant_id, delivery.user_id, delivery.topic) == ("t1", None, Topic("agent", bob))
