"""The messaging rules with small fakes: envelopes and limits, permissions, routing, request-reply, subscriptions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crewhouse.bus.access import BusCaller
from crewhouse.bus.messaging import (
    MAX_MESSAGE_BYTES,
    REPLY_POLL_SECONDS,
    REPLY_TTL_SECONDS,
    Messaging,
    build_envelope,
    check_filter,
    check_topic,
    envelope_size,
    release_agent,
)
from crewhouse.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    ValidationProblem,
)

Item = dict[str, Any]
NOW = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
ALICE, BOB, HOSTED, ELSEWHERE = "01jalice000000000000000000", "01jbob00000000000000000000", \
    "01jhosted00000000000000000", "01jelsewhere00000000000000"
HOSTED_INBOX = "https://sqs/hosted"


class FakeAgents:
    def __init__(self) -> None:
        self.records = {
            ("t1", ALICE): {"agent_id": ALICE, "tenant_id": "t1", "kind": "external", "queue_url": "q-alice",
                            "dead_letter_queue_url": "dlq-alice"},
            ("t1", BOB): {"agent_id": BOB, "tenant_id": "t1", "kind": "external", "queue_url": "q-bob",
                          "dead_letter_queue_url": "dlq-bob"},
            ("t1", HOSTED): {"agent_id": HOSTED, "tenant_id": "t1", "kind": "hosted"},
            ("t2", ELSEWHERE): {"agent_id": ELSEWHERE, "tenant_id": "t2", "kind": "external", "queue_url": "q-else"},
        }

    def get(self, tenant_id: str, agent_id: str) -> Item | None:
        return self.records.get((tenant_id, agent_id))


class FakeStore:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str], Item] = {}
        self.subs: dict[tuple[str, str, str], Item] = {}
        self.reads = 0

    def open_request(self, tenant_id: str, correlation_id: str, request: Item, expires_epoch: int) -> None:
        self.requests[(tenant_id, correlation_id)] = {**request, "expires_epoch": expires_epoch}

    def request(self, tenant_id: str, correlation_id: str) -> Item | None:
        self.reads += 1
        found = self.requests.get((tenant_id, correlation_id))
        return dict(found) if found else None

    def record_reply(self, tenant_id: str, correlation_id: str, reply: Item, replied_at: str) -> bool:
        item = self.requests.get((tenant_id, correlation_id))
        if item is None or "reply" in item:
            return False
        item.update(reply=reply, replied_at=replied_at)
        return True

    def subscription(self, tenant_id: str, agent_id: str, topic: str) -> Item | None:
        return self.subs.get((tenant_id, agent_id, topic))

    def put_subscription(self, tenant_id: str, agent_id: str, topic: str, subscription: Item) -> None:
        self.subs[(tenant_id, agent_id, topic)] = dict(subscription)

    def remove_subscription(self, tenant_id: str, agent_id: str, topic: str) -> None:
        self.subs.pop((tenant_id, agent_id, topic), None)

    def subscriptions(self, tenant_id: str, agent_id: str) -> list[Item]:
        return [s for (t, a, _), s in sorted(self.subs.items()) if (t, a) == (tenant_id, agent_id)]


class FakeMailboxes:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Item]] = []
        self.published: list[tuple[str, Item]] = []
        self.calls: list[tuple[str, Any]] = []
        self.deprovisioned: list[Item] = []

    def send(self, queue_url: str, envelope: Item) -> str:
        self.sent.append((queue_url, envelope))
        return "m"

    def publish(self, topic_arn: str, envelope: Item) -> bool:
        self.published.append((topic_arn, envelope))
        return True

    def broadcast_topic_arn(self, tenant_id: str) -> str:
        return f"arn:{tenant_id}-broadcast"

    def topic_arn(self, tenant_id: str, topic: str) -> str:
        return f"arn:{tenant_id}-t-{topic}"

    def subscribe(self, tenant_id: str, topic: str, queue_url: str, filter: Mapping[str, Sequence[str]]) -> str:
        self.calls.append(("subscribe", (tenant_id, topic, queue_url, dict(filter))))
        return f"arn:{tenant_id}-t-{topic}:{queue_url}"

    def set_filter(self, subscription_arn: str, filter: Mapping[str, Sequence[str]]) -> None:
        self.calls.append(("set_filter", (subscription_arn, dict(filter))))

    def unsubscribe(self, subscription_arn: str) -> None:
        self.calls.append(("unsubscribe", subscription_arn))

    def receive(self, queue_url: str, *, wait_seconds: int, max_messages: int,
                visibility_timeout: int | None = None) -> list[Item]:
        self.calls.append(("receive", queue_url))
        return [{"id": "m1", "receipt": "r1"}]

    def ack(self, queue_url: str, receipts: Sequence[str]) -> list[Item]:
        self.calls.append(("ack", (queue_url, list(receipts))))
        return [{"receipt": r, "code": "ReceiptHandleIsInvalid"} for r in receipts if r == "bad"]

    def nack(self, queue_url: str, receipts: Sequence[str], delay_seconds: int) -> list[Item]:
        self.calls.append(("nack", (queue_url, list(receipts), delay_seconds)))
        return []

    def dead_letters(self, dlq_url: str, max_messages: int) -> list[Item]:
        self.calls.append(("dead_letters", dlq_url))
        return []

    def redrive(self, dlq_url: str, queue_url: str, limit: int) -> int:
        self.calls.append(("redrive", (dlq_url, queue_url, limit)))
        return 3

    def approximate_depth(self, queue_url: str) -> int:
        return 0

    def deprovision(self, record: Item) -> None:
        self.deprovisioned.append(record)


class Clock:
    """Wall clock and monotonic clock that move only when the service sleeps."""

    def __init__(self) -> None:
        self.now = NOW
        self.elapsed = 0.0
        self.sleeps: list[float] = []
        self.on_sleep: Any = None

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds
        self.now += timedelta(seconds=seconds)
        if self.on_sleep:
            self.on_sleep(len(self.sleeps))


def agent(agent_id: str, role: str = "agent-full", tenant: str = "t1") -> BusCaller:
    return BusCaller(tenant_id=tenant, actor_id=agent_id, actor_kind="agent", role=role, credential="agent-token")


def person(role: str = "admin", tenant: str = "t1") -> BusCaller:
    return BusCaller(tenant_id=tenant, actor_id="u1", actor_kind="person", role=role, credential="cognito")


@pytest.fixture
def parts() -> tuple[Messaging, FakeStore, FakeMailboxes, Clock]:
    store, mailboxes, clock = FakeStore(), FakeMailboxes(), Clock()
    ids = iter(f"01jid{n:021d}" for n in range(1000))
    service = Messaging(FakeAgents(), store, mailboxes, hosted_inbox_url=HOSTED_INBOX, clock=lambda: clock.now,
                        monotonic=lambda: clock.elapsed, sleep=clock.sleep, new_id=lambda: next(ids))
    return service, store, mailboxes, clock


# --- envelopes ------------------------------------------------------------------------------------------------

def envelope(payload: Any = None, **fields: Any) -> Item:
    return build_envelope("direct", "agent:a", payload=payload, sent_at="t", message_id="m", **fields)


def test_an_envelope_has_every_field_of_the_contract() -> None:
    built = envelope({"x": 1}, to=BOB, attributes={"color": "red"}, context_ref="ctx")
    assert built == {"id": "m", "kind": "direct", "from": "agent:a", "to": BOB, "topic": None,
                     "attributes": {"color": "red"}, "payload": {"x": 1}, "context_ref": "ctx",
                     "correlation_id": None, "reply_to": None, "sent_at": "t"}


def test_the_size_limit_is_256_kib_serialized_attributes_included() -> None:
    empty = envelope_size(envelope(""))
    fits = envelope("x" * (MAX_MESSAGE_BYTES - empty))
    assert envelope_size(fits) == MAX_MESSAGE_BYTES
    with pytest.raises(PayloadTooLarge) as raised:
        envelope("x" * (MAX_MESSAGE_BYTES - empty + 1))
    assert raised.value.status == 413 and raised.value.slug == "message-too-large"
    with pytest.raises(PayloadTooLarge):  # the attributes count too: SNS sends them beside the body
        envelope("x" * (MAX_MESSAGE_BYTES - empty - 20), attributes={"k": "v" * 20})
    with pytest.raises(PayloadTooLarge):  # non-ASCII counts in bytes, as sent
        envelope("é" * (MAX_MESSAGE_BYTES // 2))


@pytest.mark.parametrize("attributes", [
    {f"a{n}": "v" for n in range(11)}, {"AWS.trace": "v"}, {"amazon.x": "v"}, {"a..b": "v"}, {"": "v"},
    {"ok": ""}, {"ok": 3}, {"sp ace": "v"}])
def test_bad_attributes_are_422(attributes: dict[str, Any]) -> None:
    with pytest.raises(ValidationProblem):
        envelope(attributes=attributes)


def test_ten_attributes_with_dotted_names_are_fine() -> None:
    attributes = {f"app.attr-{n}": "v" for n in range(10)}
    assert envelope(attributes=attributes)["attributes"] == attributes


@pytest.mark.parametrize(("topic", "valid"), [("orders", True), ("A_b-9", True), ("x" * 64, True),
                                              ("x" * 65, False), ("", False), ("a.b", False), ("a/b", False)])
def test_topic_names(topic: str, valid: bool) -> None:
    if valid:
        assert check_topic(topic) == topic
    else:
        with pytest.raises(ValidationProblem):
            check_topic(topic)


@pytest.mark.parametrize("bad", [{f"k{n}": ["v"] for n in range(6)}, {"k": []}, {"k": "v"}, {"k": [1]},
                                 {"a": ["1"] * 13, "b": ["2"] * 12}, {"AWS.k": ["v"]}])
def test_bad_filters_are_422(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationProblem):
        check_filter(bad)
    assert check_filter({"a": ["1", "2"], "b": ["3"]}) == {"a": ["1", "2"], "b": ["3"]}


# --- sending and routing --------------------------------------------------------------------------------------

def test_a_direct_message_goes_to_the_agents_own_queue(parts: Any) -> None:
    service, _, mailboxes, _ = parts
    sent = service.send(agent(ALICE), BOB, {"hi": 1}, attributes={"p": "1"})
    assert mailboxes.sent == [("q-bob", sent)]
    assert sent["kind"] == "direct" and sent["from"] == f"agent:{ALICE}" and sent["to"] == BOB
    assert sent["sent_at"] == "2026-12-04T06:00:00.000Z"


def test_a_hosted_agents_messages_go_to_the_hosted_inbox(parts: Any) -> None:
    service, _, mailboxes, _ = parts
    service.send(person(), HOSTED, "do it")
    assert [url for url, _ in mailboxes.sent] == [HOSTED_INBOX]
    service.hosted_inbox_url = None
    with pytest.raises(ServiceUnavailable):
        service.send(person(), HOSTED, "do it")


@pytest.mark.parametrize("to", [ELSEWHERE, "01jnobody00000000000000000", "not-an-id", "../x"])
def test_unknown_and_other_tenants_agents_are_404(parts: Any, to: str) -> None:
    service, _, mailboxes, _ = parts
    with pytest.raises(NotFound):
        service.send(agent(ALICE), to, "x")
    with pytest.raises(NotFound):
        service.request(agent(ALICE), to, "x")
    assert mailboxes.sent == []


@pytest.mark.parametrize("caller", [agent(ALICE, "agent-consumer"), person("observer")])
def test_who_may_not_send_gets_403_and_nothing_is_sent(parts: Any, caller: BusCaller) -> None:
    service, store, mailboxes, _ = parts
    for attempt in (lambda: service.send(caller, BOB, "x"), lambda: service.broadcast(caller, "x"),
                    lambda: service.publish(caller, "orders", "x"), lambda: service.request(caller, BOB, "x")):
        with pytest.raises(Forbidden):
            attempt()
    assert mailboxes.sent == [] and mailboxes.published == [] and store.requests == {}


def test_broadcast_and_topic_publish_use_the_tenants_topics(parts: Any) -> None:
    service, _, mailboxes, _ = parts
    everyone = service.broadcast(agent(ALICE, "agent-producer"), "all", attributes={"a": "b"})
    on_topic = service.publish(agent(ALICE), "orders", "new", attributes={"color": "red"})
    assert mailboxes.published == [("arn:t1-broadcast", everyone), ("arn:t1-t-orders", on_topic)]
    assert everyone["kind"] == "broadcast" and everyone["to"] is None
    assert on_topic["kind"] == "topic" and on_topic["topic"] == "orders"
    with pytest.raises(ValidationProblem):
        service.publish(agent(ALICE), "no/such", "x")


# --- request-reply --------------------------------------------------------------------------------------------

def test_a_synchronous_request_answers_with_the_reply_as_soon_as_it_is_stored(parts: Any) -> None:
    service, store, mailboxes, clock = parts

    def reply_on_third_poll(polls: int) -> None:
        if polls == 3:
            correlation_id = mailboxes.sent[0][1]["correlation_id"]
            service.reply(agent(BOB), correlation_id, {"answer": 42})

    clock.on_sleep = reply_on_third_poll
    outcome = service.request(agent(ALICE), BOB, {"question": "?"}, timeout_seconds=5)
    [(url, request)] = mailboxes.sent
    assert url == "q-bob" and request["kind"] == "request" and request["reply_to"] == ALICE
    assert outcome["status"] == "replied" and outcome["reply"]["payload"] == {"answer": 42}
    assert outcome["reply"]["kind"] == "reply" and outcome["reply"]["to"] == ALICE
    assert outcome["reply"]["correlation_id"] == request["correlation_id"] == outcome["correlation_id"]
    assert clock.sleeps == [REPLY_POLL_SECONDS] * 3  # polled every 0.2 s, answered at the next read
    item = store.requests[("t1", outcome["correlation_id"])]
    assert item["expires_epoch"] == int(NOW.timestamp()) + REPLY_TTL_SECONDS


def test_a_synchronous_request_gives_up_after_its_timeout(parts: Any) -> None:
    service, _, _, clock = parts
    outcome = service.request(agent(ALICE), BOB, "?", timeout_seconds=1)
    assert outcome["status"] == "pending" and outcome["reply"] is None
    assert sum(clock.sleeps) == pytest.approx(1.0) and len(clock.sleeps) == 5


def test_an_asynchronous_request_answers_at_once_and_the_reply_is_fetched_later(parts: Any) -> None:
    service, _, _, clock = parts
    outcome = service.request(person(), BOB, "?", wait=False)
    assert outcome["status"] == "pending" and clock.sleeps == []
    assert service.reply_status(person(), outcome["correlation_id"])["status"] == "pending"
    service.reply(agent(BOB, "agent-consumer"), outcome["correlation_id"], "done")
    fetched = service.reply_status(person(), outcome["correlation_id"])
    assert fetched["status"] == "replied" and fetched["reply"]["payload"] == "done"
    assert fetched["reply"]["to"] is None  # a person asked: no agent to reply to


def test_only_the_addressee_or_an_admin_replies_and_only_once(parts: Any) -> None:
    service, _, _, _ = parts
    correlation_id = service.request(agent(ALICE), BOB, "?", wait=False)["correlation_id"]
    with pytest.raises(Forbidden):
        service.reply(agent(ALICE), correlation_id, "me?")
    with pytest.raises(Forbidden):
        service.reply(person("observer"), correlation_id, "me?")
    with pytest.raises(NotFound):
        service.reply(agent(ELSEWHERE, tenant="t2"), correlation_id, "me?")
    service.reply(person("admin"), correlation_id, "admin answers")
    with pytest.raises(Conflict):
        service.reply(agent(BOB), correlation_id, "late")


def test_only_the_requester_or_an_admin_reads_the_reply(parts: Any) -> None:
    service, _, _, _ = parts
    correlation_id = service.request(agent(ALICE), BOB, "?", wait=False)["correlation_id"]
    service.reply(agent(BOB), correlation_id, "secret")
    assert service.reply_status(agent(ALICE), correlation_id)["status"] == "replied"
    assert service.reply_status(person("admin"), correlation_id)["status"] == "replied"
    for outsider in (agent(BOB), person("observer"), agent(ELSEWHERE, tenant="t2")):
        with pytest.raises(NotFound):
            service.reply_status(outsider, correlation_id)
    with pytest.raises(NotFound):
        service.reply_status(agent(ALICE), "01junknown0000000000000000")


def test_an_expired_request_is_gone_before_dynamodb_deletes_it(parts: Any) -> None:
    service, _, _, clock = parts
    correlation_id = service.request(agent(ALICE), BOB, "?", wait=False)["correlation_id"]
    clock.now += timedelta(seconds=REPLY_TTL_SECONDS)
    with pytest.raises(NotFound):
        service.reply(agent(BOB), correlation_id, "too late")
    with pytest.raises(NotFound):
        service.reply_status(agent(ALICE), correlation_id)


def test_waiting_for_a_reply_polls_until_it_arrives(parts: Any) -> None:
    service, _, _, clock = parts
    correlation_id = service.request(agent(ALICE), BOB, "?", wait=False)["correlation_id"]
    clock.on_sleep = lambda polls: polls == 2 and service.reply(agent(BOB), correlation_id, "there")
    fetched = service.reply_status(agent(ALICE), correlation_id, wait_seconds=10)
    assert fetched["status"] == "replied" and len(clock.sleeps) == 2


# --- subscriptions, the inbox, dead letters -------------------------------------------------------------------

def test_subscribing_again_replaces_the_filter_of_the_same_subscription(parts: Any) -> None:
    service, store, mailboxes, _ = parts
    first = service.subscribe(agent(ALICE), ALICE, "orders", {"color": ["red"]})
    again = service.subscribe(agent(ALICE), ALICE, "orders", {"color": ["blue"]})
    assert [name for name, _ in mailboxes.calls] == ["subscribe", "set_filter"]
    assert mailboxes.calls[1][1] == ("arn:t1-t-orders:q-alice", {"color": ["blue"]})
    assert again["filter"] == {"color": ["blue"]} and again["created_at"] == first["created_at"]
    assert "subscription_arn" not in again
    assert service.subscriptions(person(), ALICE) == [again]
    service.unsubscribe(agent(ALICE), ALICE, "orders")
    assert mailboxes.calls[-1] == ("unsubscribe", "arn:t1-t-orders:q-alice")
    assert store.subs == {}
    with pytest.raises(NotFound):
        service.unsubscribe(agent(ALICE), ALICE, "orders")


def test_subscriptions_are_an_agents_own_or_an_admins(parts: Any) -> None:
    service, _, mailboxes, _ = parts
    with pytest.raises(Forbidden):
        service.subscribe(agent(BOB), ALICE, "orders", {})
    with pytest.raises(Forbidden):
        service.subscriptions(agent(BOB), ALICE)
    with pytest.raises(Forbidden):  # a producer receives nothing, so subscribes to nothing
        service.subscribe(agent(ALICE, "agent-producer"), ALICE, "orders", {})
    with pytest.raises(Conflict):
        service.subscribe(person(), HOSTED, "orders", {})
    with pytest.raises(NotFound):
        service.subscribe(person(), ELSEWHERE, "orders", {})
    assert mailboxes.calls == []


def test_only_the_agent_itself_uses_its_inbox(parts: Any) -> None:
    service, _, mailboxes, _ = parts
    assert service.receive(agent(ALICE), ALICE, wait_seconds=0, max_messages=1)[0]["receipt"] == "r1"
    assert service.ack(agent(ALICE), ALICE, ["r1", "bad"]) == {
        "acked": 1, "failed": [{"receipt": "bad", "code": "ReceiptHandleIsInvalid"}]}
    assert service.nack(agent(ALICE), ALICE, ["r1"], 5) == {"nacked": 1, "failed": []}
    assert mailboxes.calls == [("receive", "q-alice"), ("ack", ("q-alice", ["r1", "bad"])),
                               ("nack", ("q-alice", ["r1"], 5))]
    for caller in (agent(BOB), person("admin"), agent(ALICE, "agent-producer")):
        with pytest.raises(Forbidden):
            service.receive(caller, ALICE, wait_seconds=0, max_messages=1)
        with pytest.raises(Forbidden):
            service.ack(caller, ALICE, ["r1"])
    with pytest.raises(Conflict):
        service.receive(agent(HOSTED), HOSTED, wait_seconds=0, max_messages=1)
    assert len(mailboxes.calls) == 3


def test_dead_letters_are_for_admins(parts: Any) -> None:
    service, _, mailboxes, _ = parts
    assert service.dead_letters(person("admin"), ALICE, 10) == {"messages": [], "approximate_count": 0}
    assert service.redrive(person("admin"), ALICE, 50) == {"moved": 3}
    assert mailboxes.calls == [("dead_letters", "dlq-alice"), ("redrive", ("dlq-alice", "q-alice", 50))]
    for caller in (agent(ALICE), person("observer")):
        with pytest.raises(Forbidden):
            service.dead_letters(caller, ALICE, 10)
        with pytest.raises(Forbidden):
            service.redrive(caller, ALICE, 10)
    with pytest.raises(NotFound):
        service.redrive(person("admin"), ELSEWHERE, 10)


def test_releasing_an_agent_hands_every_subscription_to_the_mailboxes(parts: Any) -> None:
    service, store, mailboxes, _ = parts
    service.subscribe(agent(ALICE), ALICE, "a", {})
    service.subscribe(agent(ALICE), ALICE, "b", {})
    release_agent(mailboxes, store, {"tenant_id": "t1", "agent_id": ALICE, "queue_url": "q-alice"})
    assert mailboxes.deprovisioned == [{"tenant_id": "t1", "agent_id": ALICE, "queue_url": "q-alice",
                                        "subscription_arns": ["arn:t1-t-a:q-alice", "arn:t1-t-b:q-alice"]}]
