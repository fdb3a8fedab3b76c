"""The bus's messaging rules: envelopes and their limits, who may send, receive and reply, where a message goes,
topic subscriptions, and request-reply. No boto3 here: the mailboxes (SQS/SNS), the agent directory and the store
of replies and subscriptions are passed in.

- point-to-point: an external agent's own queue; a hosted agent's messages go to the shared hosted inbox;
- broadcast: the tenant's broadcast topic, to which every external agent's queue is subscribed at registration;
- topics: one SNS topic per tenant and topic name, subscribed per agent with a filter policy on the attributes;
- request-reply: the request is a message carrying a correlation id; the reply is an item of the bus table that
  the requester reads (a long-poll on a strongly consistent read), so a person without an inbox can ask too.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from crewhouse.bus import ids
from crewhouse.bus.access import BusCaller, own_record, require, require_self_or_admin
from crewhouse.bus.ids import ULID_TEXT
from crewhouse.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    ValidationProblem,
)

Item = dict[str, Any]
Filter = Mapping[str, Sequence[str]]

MAX_MESSAGE_BYTES = 256 * 1024  # SQS's and SNS's limit; a larger payload travels as a context reference
MAX_ATTRIBUTES = 10  # SNS hands at most 10 message attributes on to an SQS subscription
MAX_FILTER_KEYS = 5  # SNS: attribute names per filter policy
MAX_FILTER_COMBINATIONS = 150  # SNS: the product of the value lists' lengths
MAX_REPLY_WAIT_SECONDS = 25  # below API Gateway's 30 s integration timeout
REPLY_POLL_SECONDS = 0.2
REPLY_TTL_SECONDS = 24 * 3600
TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# SQS/SNS attribute names: letters, digits, _ - and inner single dots; "AWS." and "Amazon." are reserved.
ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
MAX_ATTRIBUTE_NAME = 128
RESERVED_ATTRIBUTE_PREFIXES = ("aws.", "amazon.")


# --- ports ----------------------------------------------------------------------------------------------------

class AgentDirectory(Protocol):
    def get(self, tenant_id: str, agent_id: str) -> Item | None: ...


class MessageStore(Protocol):
    """Replies and subscription items in the bus table (:class:`crewhouse.bus.messages_store.DynamoMessages`)."""

    def open_request(self, tenant_id: str, correlation_id: str, request: Item, expires_epoch: int) -> None: ...
    def request(self, tenant_id: str, correlation_id: str) -> Item | None: ...
    def record_reply(self, tenant_id: str, correlation_id: str, reply: Item, replied_at: str) -> bool: ...
    def subscription(self, tenant_id: str, agent_id: str, topic: str) -> Item | None: ...
    def put_subscription(self, tenant_id: str, agent_id: str, topic: str, subscription: Item) -> None: ...
    def remove_subscription(self, tenant_id: str, agent_id: str, topic: str) -> None: ...
    def subscriptions(self, tenant_id: str, agent_id: str) -> list[Item]: ...


class Transport(Protocol):
    """SQS and SNS (:class:`crewhouse.bus.mailboxes.Mailboxes`)."""

    def send(self, queue_url: str, envelope: Item) -> str: ...
    def publish(self, topic_arn: str, envelope: Item) -> bool: ...
    def broadcast_topic_arn(self, tenant_id: str) -> str: ...
    def topic_arn(self, tenant_id: str, topic: str) -> str: ...
    def subscribe(self, tenant_id: str, topic: str, queue_url: str, filter: Filter) -> str: ...
    def set_filter(self, subscription_arn: str, filter: Filter) -> None: ...
    def unsubscribe(self, subscription_arn: str) -> None: ...
    def receive(self, queue_url: str, *, wait_seconds: int, max_messages: int,
                visibility_timeout: int | None = None) -> list[Item]: ...
    def ack(self, queue_url: str, receipts: Sequence[str]) -> list[Item]: ...
    def nack(self, queue_url: str, receipts: Sequence[str], delay_seconds: int) -> list[Item]: ...
    def dead_letters(self, dlq_url: str, max_messages: int) -> list[Item]: ...
    def redrive(self, dlq_url: str, queue_url: str, limit: int) -> int: ...
    def approximate_depth(self, queue_url: str) -> int: ...


# --- envelopes ------------------------------------------------------------------------------------------------

def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sender_of(caller: BusCaller) -> str:
    """How an envelope names its sender, as the contract has it: ``agent:<id>`` or ``user:<id>``."""
    return f"agent:{caller.actor_id}" if caller.actor_kind == "agent" else f"user:{caller.actor_id}"



def serialize(envelope: Mapping[str, Any]) -> str:
    """The SQS/SNS body; compact and unescaped, so the size checked is the size sent."""
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def attribute_bytes(attributes: Mapping[str, str]) -> int:
    """SNS counts each attribute's name, type ("String") and value toward the message's 256 KiB."""
    return sum(len(name.encode()) + len(b"String") + len(value.encode()) for name, value in attributes.items())


def check_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    """At most 10 string attributes with names SQS and SNS accept (they are what filter policies match)."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise ValidationProblem(f"A message carries at most {MAX_ATTRIBUTES} attributes.", slug="too-many-attributes")
    for name, value in attributes.items():
        check_attribute_name(name)
        if not isinstance(value, str) or not value:
            raise ValidationProblem(f"Attribute {name!r} must be a non-empty string.", slug="bad-attribute")
    return dict(attributes)


def check_attribute_name(name: str) -> None:
    if (len(name) > MAX_ATTRIBUTE_NAME or not ATTRIBUTE_NAME.fullmatch(name)
            or name.lower().startswith(RESERVED_ATTRIBUTE_PREFIXES)):
        raise ValidationProblem(f"{name!r} is not a valid attribute name (letters, digits, _ - and inner dots; "
                                "not starting with AWS. or Amazon.).", slug="bad-attribute")


def check_topic(topic: str) -> str:
    if not TOPIC_NAME.fullmatch(topic):
        raise ValidationProblem("A topic name is 1 to 64 letters, digits, _ or -.", slug="bad-topic")
    return topic


def check_filter(filter: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{attribute: [accepted values]}``: within SNS's limits, so a bad filter is a 422 rather than a 500."""
    if len(filter) > MAX_FILTER_KEYS:
        raise ValidationProblem(f"A filter names at most {MAX_FILTER_KEYS} attributes.", slug="bad-filter")
    combinations = 1
    for name, values in filter.items():
        check_attribute_name(name)
        if (not isinstance(values, list | tuple) or not values
                or not all(isinstance(v, str) and v for v in values)):
            raise ValidationProblem(f"The filter on {name!r} must list one or more non-empty strings.",
                                    slug="bad-filter")
        combinations *= len(values)
    if combinations > MAX_FILTER_COMBINATIONS:
        raise ValidationProblem(f"A filter allows at most {MAX_FILTER_COMBINATIONS} value combinations.",
                                slug="bad-filter")
    return {name: list(values) for name, values in filter.items()}


def envelope_size(envelope: Mapping[str, Any]) -> int:
    return len(serialize(envelope).encode()) + attribute_bytes(envelope.get("attributes") or {})


def build_envelope(kind: str, sender: str, *, payload: Any, sent_at: str, message_id: str, to: str | None = None,
                   topic: str | None = None, attributes: Mapping[str, Any] | None = None,
                   context_ref: str | None = None, correlation_id: str | None = None,
                   reply_to: str | None = None) -> Item:
    """The message as every inbox receives it; 413 above 256 KiB (send the payload as a context instead)."""
    envelope: Item = {"id": message_id, "kind": kind, "from": sender, "to": to, "topic": topic,
                      "attributes": check_attributes(attributes or {}), "payload": payload,
                      "context_ref": context_ref, "correlation_id": correlation_id, "reply_to": reply_to,
                      "sent_at": sent_at}
    size = envelope_size(envelope)
    if size > MAX_MESSAGE_BYTES:
        raise PayloadTooLarge(f"The message is {size} bytes, over the limit of {MAX_MESSAGE_BYTES}; store the payload "
                              "as a context and send its id as context_ref.", slug="message-too-large",
                              size=size, limit=MAX_MESSAGE_BYTES)
    return envelope


class Announcing(Protocol):
    """Puts an event on the ``crewhouse`` bus (``crewhouse.core.events.Announcer``); never raises."""

    def publish(self, detail_type: str, detail: dict[str, Any]) -> Any: ...


MESSAGE_EVENT = "bus.message"  # a message put in one agent's inbox, for live updates (topic agent:<id>)
EVENT_PAYLOAD_BYTES = 16 * 1024  # a larger payload is left out of the event: the agent receives it from its inbox


def message_event(tenant_id: str, agent_id: str, envelope: Mapping[str, Any]) -> Item:
    """The ``bus.message`` detail: the addressee's tenant and id (the fan-out's owner scope) and the envelope, its
    payload only when small (an EventBridge event holds 256 KiB, a message as much)."""
    message = {k: v for k, v in envelope.items() if k != "payload"}
    size = len(serialize({"payload": envelope.get("payload")}).encode())
    if size <= EVENT_PAYLOAD_BYTES:
        message["payload"] = envelope.get("payload")
    else:
        message["payload_omitted"] = True
    return {"tenant_id": tenant_id, "agent_id": agent_id, "message": message}


# --- the service ----------------------------------------------------------------------------------------------

class Messaging:
    def __init__(self, agents: AgentDirectory, store: MessageStore, mailboxes: Transport, *,
                 hosted_inbox_url: str | None, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 new_id: Callable[[], str] = ids.new_id, announcer: Announcing | None = None) -> None:
        self.agents = agents
        self.announcer = announcer
        self.store = store
        self.mailboxes = mailboxes
        self.hosted_inbox_url = hosted_inbox_url
        self.clock = clock
        self.monotonic = monotonic
        self.sleep = sleep
        self.new_id = new_id

    # --- lookups ------------------------------------------------------------------------------------------

    def agent(self, caller: BusCaller, agent_id: str) -> Item:
        """The agent in the caller's tenant; 404 for an unknown id and for another tenant's agent alike."""
        record = own_record(caller, agent_id)
        if record is None and ULID_TEXT.fullmatch(agent_id):
            record = self.agents.get(caller.tenant_id, agent_id)
        if record is None:
            raise NotFound(f"No agent {agent_id}.", slug="unknown-agent")
        return record

    def delivery_url(self, record: Item) -> str:
        """Where a message to this agent goes: its own queue, or the shared inbox of hosted agents."""
        if record["kind"] == "hosted":
            if not self.hosted_inbox_url:
                raise ServiceUnavailable("Hosted agents cannot receive messages here: no hosted inbox is set up.")
            return self.hosted_inbox_url
        if not record.get("queue_url"):
            raise ServiceUnavailable(f"Agent {record['agent_id']} has no inbox yet.", slug="no-inbox")
        return str(record["queue_url"])

    def inbox(self, record: Item) -> str:
        """An external agent's own queue (hosted agents have none to read, subscribe or redrive)."""
        if record["kind"] != "external":
            raise Conflict("A hosted agent has no inbox of its own: Crewhouse answers its messages.",
                           slug="hosted-agent")
        return self.delivery_url(record)

    def _deliver(self, caller: BusCaller, record: Item, envelope: Item) -> None:
        """Into the agent's queue; the hosted agents' inbox is shared by every tenant, so there the envelope
        names its tenant too."""
        if record["kind"] == "hosted":
            envelope = {**envelope, "tenant_id": caller.tenant_id}
        self.mailboxes.send(self.delivery_url(record), envelope)
        if self.announcer is not None:  # after the send: an event is never about a message that is not there
            self.announcer.publish(MESSAGE_EVENT, message_event(caller.tenant_id, str(record["agent_id"]), envelope))

    def _envelope(self, caller: BusCaller, kind: str, payload: Any, **fields: Any) -> Item:
        return build_envelope(kind, sender_of(caller), payload=payload, sent_at=iso(self.clock()),
                              message_id=self.new_id(), **fields)

    # --- sending ------------------------------------------------------------------------------------------

    def send(self, caller: BusCaller, to: str, payload: Any, *, attributes: Mapping[str, Any] | None = None,
             context_ref: str | None = None) -> Item:
        require(caller, "messages:send")
        record = self.agent(caller, to)
        envelope = self._envelope(caller, "direct", payload, to=record["agent_id"], attributes=attributes,
                                  context_ref=context_ref)
        self._deliver(caller, record, envelope)
        return envelope

    def broadcast(self, caller: BusCaller, payload: Any, *, attributes: Mapping[str, Any] | None = None,
                  context_ref: str | None = None) -> Item:
        """To every external agent of the tenant (their queues are subscribed to the tenant's broadcast topic)."""
        require(caller, "messages:send")
        envelope = self._envelope(caller, "broadcast", payload, attributes=attributes, context_ref=context_ref)
        self.mailboxes.publish(self.mailboxes.broadcast_topic_arn(caller.tenant_id), envelope)
        return envelope

    def publish(self, caller: BusCaller, topic: str, payload: Any, *, attributes: Mapping[str, Any] | None = None,
                context_ref: str | None = None) -> Item:
        """To the topic's subscribers whose filter the attributes match; a topic nobody subscribed to drops it."""
        require(caller, "messages:send")
        check_topic(topic)
        envelope = self._envelope(caller, "topic", payload, topic=topic, attributes=attributes,
                                  context_ref=context_ref)
        self.mailboxes.publish(self.mailboxes.topic_arn(caller.tenant_id, topic), envelope)
        return envelope

    # --- request-reply ------------------------------------------------------------------------------------

    def request(self, caller: BusCaller, to: str, payload: Any, *, attributes: Mapping[str, Any] | None = None,
                context_ref: str | None = None, wait: bool = True,
                timeout_seconds: float = MAX_REPLY_WAIT_SECONDS) -> Item:
        """Send a request; with ``wait``, hold on for the reply up to ``timeout_seconds`` (≤ 25)."""
        require(caller, "messages:send")
        record = self.agent(caller, to)
        correlation_id = self.new_id()
        envelope = self._envelope(caller, "request", payload, to=record["agent_id"], attributes=attributes,
                                  context_ref=context_ref, correlation_id=correlation_id,
                                  reply_to=caller.actor_id if caller.actor_kind == "agent" else None)
        self.delivery_url(record)  # 503 before anything is written when it cannot be delivered
        # The request item exists before the message does, so even the quickest reply finds it.
        self.store.open_request(caller.tenant_id, correlation_id, {
            "correlation_id": correlation_id, "message_id": envelope["id"], "requested_by": envelope["from"],
            "to": record["agent_id"], "reply_to": envelope["reply_to"], "requested_at": envelope["sent_at"],
        }, self._expiry())
        self._deliver(caller, record, envelope)
        outcome = self._await_reply(caller.tenant_id, correlation_id, timeout_seconds if wait else 0)
        return {**outcome, "id": envelope["id"]}

    def reply(self, caller: BusCaller, correlation_id: str, payload: Any, *,
              attributes: Mapping[str, Any] | None = None, context_ref: str | None = None) -> Item:
        """The one reply to a request: by the agent it was addressed to (or an admin); 409 for a second one."""
        request = self._live_request(caller.tenant_id, correlation_id)
        if not caller.is_admin:
            require(caller, "messages:reply")
            if not caller.is_agent(str(request["to"])):
                raise Forbidden("Only the agent the request was addressed to may reply.", slug="bus-not-addressee")
        envelope = self._envelope(caller, "reply", payload, to=request.get("reply_to"), attributes=attributes,
                                  context_ref=context_ref, correlation_id=correlation_id)
        if not self.store.record_reply(caller.tenant_id, correlation_id, envelope, envelope["sent_at"]):
            raise Conflict("This request already has its reply.", slug="already-replied")
        return envelope

    def reply_status(self, caller: BusCaller, correlation_id: str, wait_seconds: float = 0) -> Item:
        """The reply, or pending after ``wait_seconds``; only the requester (or an admin) sees it."""
        request = self._live_request(caller.tenant_id, correlation_id)
        if not caller.is_admin and request.get("requested_by") != sender_of(caller):
            raise NotFound(f"No request {correlation_id}.")
        return self._await_reply(caller.tenant_id, correlation_id, wait_seconds, first=request)

    def _expiry(self) -> int:
        return int(self.clock().timestamp()) + REPLY_TTL_SECONDS

    def _live_request(self, tenant_id: str, correlation_id: str) -> Item:
        """The request item, unless unknown or expired (DynamoDB's TTL deletes it only some time later)."""
        item = self.store.request(tenant_id, correlation_id) if ULID_TEXT.fullmatch(correlation_id) else None
        if item is None or int(item.get("expires_epoch") or 0) <= int(self.clock().timestamp()):
            raise NotFound(f"No request {correlation_id}.")
        return item

    def _await_reply(self, tenant_id: str, correlation_id: str, wait_seconds: float,
                     first: Item | None = None) -> Item:
        deadline = self.monotonic() + min(max(wait_seconds, 0.0), MAX_REPLY_WAIT_SECONDS)
        item = first if first is not None else (self.store.request(tenant_id, correlation_id) if wait_seconds else None)
        while item is None or not item.get("reply"):
            remaining = deadline - self.monotonic()
            if remaining <= 0:
                return {"correlation_id": correlation_id, "status": "pending", "reply": None}
            self.sleep(min(REPLY_POLL_SECONDS, remaining))
            item = self.store.request(tenant_id, correlation_id)
        return {"correlation_id": correlation_id, "status": "replied", "reply": item["reply"]}

    # --- subscriptions ------------------------------------------------------------------------------------

    def subscribe(self, caller: BusCaller, agent_id: str, topic: str, filter: Mapping[str, Any]) -> Item:
        """Subscribe the agent's inbox to a topic (again: replace the filter); an agent for itself, or an admin."""
        require_self_or_admin(caller, agent_id, "messages:receive")
        check_topic(topic)
        accepted = check_filter(filter)
        record = self.agent(caller, agent_id)
        queue_url = self.inbox(record)
        now = iso(self.clock())
        existing = self.store.subscription(caller.tenant_id, agent_id, topic)
        if existing:
            arn = str(existing["subscription_arn"])
            self.mailboxes.set_filter(arn, accepted)
            created_at = str(existing.get("created_at") or now)
        else:
            arn, created_at = self.mailboxes.subscribe(caller.tenant_id, topic, queue_url, accepted), now
        subscription = {"topic": topic, "filter": accepted, "subscription_arn": arn, "created_at": created_at,
                        "updated_at": now}
        self.store.put_subscription(caller.tenant_id, agent_id, topic, subscription)
        return subscription_view(subscription)

    def unsubscribe(self, caller: BusCaller, agent_id: str, topic: str) -> None:
        require_self_or_admin(caller, agent_id, "messages:receive")
        check_topic(topic)
        self.agent(caller, agent_id)
        existing = self.store.subscription(caller.tenant_id, agent_id, topic)
        if existing is None:
            raise NotFound(f"Agent {agent_id} is not subscribed to {topic}.")
        self.mailboxes.unsubscribe(str(existing["subscription_arn"]))
        self.store.remove_subscription(caller.tenant_id, agent_id, topic)

    def subscriptions(self, caller: BusCaller, agent_id: str) -> list[Item]:
        require_self_or_admin(caller, agent_id, "messages:receive")
        self.agent(caller, agent_id)
        return [subscription_view(s) for s in self.store.subscriptions(caller.tenant_id, agent_id)]

    # --- the inbox ----------------------------------------------------------------------------------------

    def _own_inbox(self, caller: BusCaller, agent_id: str) -> str:
        """Only the agent itself reads, acks and nacks its inbox: a message taken by anyone else is lost to it."""
        require(caller, "messages:receive")
        if not caller.is_agent(agent_id):
            raise Forbidden("An agent receives its own messages only.", slug="bus-not-self")
        return self.inbox(self.agent(caller, agent_id))

    def receive(self, caller: BusCaller, agent_id: str, *, wait_seconds: int, max_messages: int) -> list[Item]:
        return self.mailboxes.receive(self._own_inbox(caller, agent_id), wait_seconds=wait_seconds,
                                      max_messages=max_messages)

    def ack(self, caller: BusCaller, agent_id: str, receipts: Sequence[str]) -> Item:
        failed = self.mailboxes.ack(self._own_inbox(caller, agent_id), receipts)
        return {"acked": len(receipts) - len(failed), "failed": failed}

    def nack(self, caller: BusCaller, agent_id: str, receipts: Sequence[str], delay_seconds: int) -> Item:
        failed = self.mailboxes.nack(self._own_inbox(caller, agent_id), receipts, delay_seconds)
        return {"nacked": len(receipts) - len(failed), "failed": failed}

    # --- dead letters (admins) ----------------------------------------------------------------------------

    def _dead_letter_queue(self, caller: BusCaller, agent_id: str) -> tuple[str, str]:
        require(caller, "messages:manage")
        record = self.agent(caller, agent_id)
        queue_url = self.inbox(record)
        if not record.get("dead_letter_queue_url"):
            raise ServiceUnavailable(f"Agent {agent_id} has no dead-letter queue.", slug="no-inbox")
        return str(record["dead_letter_queue_url"]), queue_url

    def dead_letters(self, caller: BusCaller, agent_id: str, max_messages: int) -> Item:
        dlq_url, _ = self._dead_letter_queue(caller, agent_id)
        return {"messages": self.mailboxes.dead_letters(dlq_url, max_messages),
                "approximate_count": self.mailboxes.approximate_depth(dlq_url)}

    def redrive(self, caller: BusCaller, agent_id: str, limit: int) -> Item:
        dlq_url, queue_url = self._dead_letter_queue(caller, agent_id)
        return {"moved": self.mailboxes.redrive(dlq_url, queue_url, limit)}


def subscription_view(subscription: Mapping[str, Any]) -> Item:
    """What the API shows of a subscription (not the SNS ARN)."""
    return {"topic": subscription["topic"], "filter": dict(subscription.get("filter") or {}),
            "created_at": subscription.get("created_at"), "updated_at": subscription.get("updated_at")}


def release_agent(mailboxes: Any, store: MessageStore, record: Item) -> None:
    """At unregistration, before the agent's items go: every topic subscription and the inbox with its DLQ."""
    arns = [str(s["subscription_arn"]) for s in store.subscriptions(record["tenant_id"], record["agent_id"])]
    mailboxes.deprovision({**record, "subscription_arns": arns})
