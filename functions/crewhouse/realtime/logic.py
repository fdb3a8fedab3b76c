"""Realtime rules: who may connect, who may subscribe to what, which events reach which connections, and replay.

No boto3 here: the service talks to ports (the realtime store, a reader of the resources topics name, and the
sender that posts to connections), so the rules run against fakes in unit tests.

Tenancy first: a subscription is filed under its owner scope, ``(tenant, user, topic)`` for a user's own
resources (a job, a chat session, their notifications) and ``(tenant, None, topic)`` for a tenant's (a flow
execution, an agent). An event is delivered only to the scope its detail names (the producer's tenant and
owner), so a connection of another tenant or user never shares a partition with it, even for the same id.
Subscribing also checks that the caller can read the resource (404 as for a missing one), so that a client
learns at once that a topic is not theirs.

Membership is checked at ``$connect`` and again at every subscribe and fan-out (:class:`MembershipCheck`): a person
removed from the tenant (or suspended) stops receiving its events within ``MEMBERSHIP_SECONDS`` (60 s, the cache of
one warm container), and their connection is told so and closed. Agents' connections are about the agent, not a
membership: the check does not apply to them.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from crewhouse.core.tenancy import MembershipReader
from crewhouse.realtime.models import USER_TOPICS, Caller, ClientMessage, Delivery, Subscriber, Topic

Message = dict[str, Any]
Scope = tuple[str, str | None, str]  # (tenant, user or None for tenant-wide topics, topic name)
MAX_DATA_BYTES = 32 * 1024  # PostToConnection takes 128 KB a frame; large results are fetched over the API
MEMBERSHIP_SECONDS = 60.0  # a membership read is trusted this long per container (the API authorizer's staleness)
MEMBERSHIP_CACHE_SIZE = 1000
# What a truncated event keeps: the fields that say what it is about (fetch the rest over the API).
IDENTIFYING = ("job", "tenant_id", "user_id", "agent_id", "session_id", "index", "flow_id", "execution_id")


class RealtimeStore(Protocol):
    def save_connection(self, connection_id: str, caller: Caller, expires_epoch: int) -> None: ...

    def connection(self, connection_id: str) -> Caller | None: ...

    def remove_connection(self, connection_id: str) -> None: ...

    def subscribe(self, connection_id: str, scope: Scope, expires_epoch: int, caller: Caller | None = None
                  ) -> None: ...

    def unsubscribe(self, connection_id: str, scope: Scope) -> None: ...

    def subscribers(self, scope: Scope) -> list[Subscriber]: ...

    def append(self, scope: Scope, message: Message, expires_epoch: int) -> int: ...

    def events_after(self, scope: Scope, last_event_id: int) -> list[Message]: ...

    def latest_id(self, scope: Scope) -> int: ...


class Resources(Protocol):
    """Whether a caller may read what a topic names, by the owning context's rules."""

    def can_read(self, caller: Caller, topic: Topic) -> bool: ...


class Sender(Protocol):
    def send(self, connection_id: str, message: Message) -> bool:
        """Post to the connection; False when it is gone (API Gateway's GoneException)."""
        ...

    def close(self, connection_id: str) -> None:
        """Close the connection (API Gateway's DeleteConnection); a gone one is no error."""
        ...


MembershipCache = dict[tuple[str, str], tuple[float, bool]]  # (tenant, user) -> (read at, still a member)


@dataclass
class MembershipCheck:
    """Whether a person is still an active member of a tenant: one GetItem on the platform table's membership item
    per (tenant, user) and ``seconds`` per warm container (``cache`` is the container's, kept between invocations,
    like the flows runner's role cache).

    DynamoDB reads this adds: at a fan-out, one GetItem per distinct subscriber (tenant, user) of the event's topic
    not read in the last 60 s by that container, so none for a topic without subscribers and at most one a minute
    for a user's own topic (job, chat, notifications) whatever the number of events; at a subscribe, the same
    (usually cached: the fan-out and the message function are separate containers, one read each a minute)."""

    reader: MembershipReader
    cache: MembershipCache = field(default_factory=dict)
    seconds: float = MEMBERSHIP_SECONDS
    clock: Callable[[], float] = time.monotonic

    def is_member(self, tenant_id: str, user_id: str) -> bool:
        key = (tenant_id, user_id)
        cached = self.cache.get(key)
        if cached is not None and self.clock() - cached[0] <= self.seconds:
            return cached[1]
        grant = self.reader.grant(tenant_id, user_id)
        member = grant is not None and grant.active
        self.cache[key] = (self.clock(), member)
        if len(self.cache) > MEMBERSHIP_CACHE_SIZE:
            self.cache.pop(next(iter(self.cache)))
        return member


def no_longer_member(tenant_id: str) -> Message:
    return {**error(403, "You are no longer a member of this workspace; this connection is closed."),
            "tenant_id": tenant_id}


def error(status: int, detail: str, topic: str | None = None) -> Message:
    titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
    return {"type": "error", "status": status, "title": titles.get(status, "Error"), "detail": detail,
            **({"topic": topic} if topic else {})}


def scope_for(caller: Caller, topic: Topic) -> Scope:
    return caller.tenant_id, caller.user_id if topic.kind in USER_TOPICS else None, topic.name


def may_subscribe(caller: Caller, topic: Topic, resources: Resources) -> Message | None:
    """None when ``caller`` may subscribe to ``topic``; otherwise the error to answer."""
    if caller.agent_id is not None:
        # An agent's token is about that agent: it follows its own inbox and nothing of people's.
        if topic != Topic("agent", caller.agent_id):
            return error(403, "An agent's connection may subscribe only to its own agent topic.", topic.name)
    elif topic.kind == "notifications":
        return None  # the scope is the caller's own
    if not resources.can_read(caller, topic):
        return error(404, f"No {topic.kind} {topic.resource_id} that you can read.", topic.name)
    return None


@dataclass
class RealtimeService:
    store: RealtimeStore
    resources: Resources
    sender: Sender
    connection_seconds: int = 7800
    replay_seconds: int = 900
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    members: MembershipCheck | None = None  # None: membership is checked at $connect only

    def _epoch(self, seconds: int) -> int:
        return int(self.clock().timestamp()) + seconds

    # --- connections ------------------------------------------------------------------------------------------

    def connect(self, connection_id: str, caller: Caller) -> None:
        self.store.save_connection(connection_id, caller, self._epoch(self.connection_seconds))

    def disconnect(self, connection_id: str) -> None:
        self.store.remove_connection(connection_id)

    # --- client messages --------------------------------------------------------------------------------------

    def handle(self, connection_id: str, body: str | None) -> list[Message]:
        """What to send back to the connection for one client message (events replayed first, in order)."""
        caller = self.store.connection(connection_id)
        if caller is None:
            return [error(401, "This connection is not registered; connect again.")]
        try:
            message = ClientMessage.model_validate(json.loads(body or ""))
        except (ValueError, ValidationError) as exc:
            return [error(400, f"Send JSON with an action of subscribe, unsubscribe or ping ({_short(exc)}).")]
        if message.action == "ping":
            return [{"type": "pong"}]
        topic = Topic.parse(message.topic or "")
        if topic is None:
            return [error(400, "topic must be job:<id>, chat:<session id>, execution:<id>, agent:<id> or "
                               "notifications.", message.topic)]
        if message.action == "unsubscribe":
            self.store.unsubscribe(connection_id, scope_for(caller, topic))
            return [{"type": "unsubscribed", "topic": topic.name}]
        if caller.agent_id is None and self.members is not None and \
                not self.members.is_member(caller.tenant_id, caller.user_id):
            return [error(403, "You are no longer a member of this workspace.", topic.name)]
        refused = may_subscribe(caller, topic, self.resources)
        if refused is not None:
            return [refused]
        scope = scope_for(caller, topic)
        # Subscribed before the log is read: an event appended meanwhile is sent live, replayed, or both
        # (clients drop ids they have seen), never neither.
        self.store.subscribe(connection_id, scope, self._epoch(self.connection_seconds), caller)
        replay = [] if message.last_event_id is None else self.store.events_after(scope, message.last_event_id)
        latest = max([int(m["id"]) for m in replay], default=self.store.latest_id(scope))
        ack: Message = {"type": "subscribed", "topic": topic.name, "replayed": len(replay), "last_event_id": latest}
        if message.last_event_id is not None:
            # False when events after last_event_id have already expired from the replay log.
            first = int(replay[0]["id"]) if replay else latest + 1
            ack["complete"] = first <= message.last_event_id + 1 or latest <= message.last_event_id
        return [*replay, ack]

    # --- fan-out ----------------------------------------------------------------------------------------------

    def publish(self, delivery: Delivery) -> tuple[int, int, int, int]:
        """Number the event in its topic, keep it for replay, post it to every subscribed connection whose holder is
        still a member of the tenant. Returns (delivered, gone, failed, dropped): a dropped connection's holder was
        removed from the tenant; it is told so, closed and forgotten.

        A post that fails otherwise than gone (throttled, 5xx) is counted, not raised: the event is in the replay
        log already, and a raise would have EventBridge retry the whole event, numbering it again for everyone."""
        scope: Scope = (delivery.tenant_id, delivery.user_id, delivery.topic.name)
        message: Message = {"type": "event", "topic": delivery.topic.name, "detail_type": delivery.detail_type,
                            "at": self.clock().isoformat(), "data": bounded(delivery.data)}
        message["id"] = self.store.append(scope, message, self._epoch(self.replay_seconds))
        delivered = gone = failed = dropped = 0
        for subscriber in self.store.subscribers(scope):
            connection_id = subscriber.connection_id
            if not self._still_member(delivery.tenant_id, subscriber):
                dropped += 1
                self._drop(delivery.tenant_id, connection_id)
                continue
            try:
                sent = self.sender.send(connection_id, message)
            except Exception:  # that client catches up with last_event_id when it reconnects
                failed += 1
                continue
            if sent:
                delivered += 1
            else:
                gone += 1
                self.store.remove_connection(connection_id)
        return delivered, gone, failed, dropped

    def _still_member(self, tenant_id: str, subscriber: Subscriber) -> bool:
        if self.members is None or subscriber.agent_id is not None:
            return True
        user_id = subscriber.user_id
        if user_id is None:  # a subscription filed before they named their holder
            caller = self.store.connection(subscriber.connection_id)
            if caller is None:
                return False
            if caller.agent_id is not None:
                return True
            user_id = caller.user_id
        return self.members.is_member(tenant_id, user_id)

    def _drop(self, tenant_id: str, connection_id: str) -> None:
        """Tell the client why, close the connection, forget it (its $disconnect would too, later)."""
        with contextlib.suppress(Exception):  # forgotten anyway: no event of this tenant reaches it again
            self.sender.send(connection_id, no_longer_member(tenant_id))
            self.sender.close(connection_id)
        self.store.remove_connection(connection_id)


def bounded(data: dict[str, Any]) -> dict[str, Any]:
    """The event's data, or a stub naming what was left out when it is too large for a frame."""
    if len(json.dumps(data, default=str)) <= MAX_DATA_BYTES:
        return data
    return {"truncated": True, **{k: v for k, v in data.items() if k in IDENTIFYING}}


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160]


# --- which events the fan-out takes, and whose they are ------------------------------------------------------

JOB_EVENTS = ("job.progress", "job.succeeded", "job.failed")
AGENT_EVENTS = ("agent.offline",)
CHAT_EVENTS = ("chat.tool_call", "chat.reply")  # crewhouse.chat.logic: each tool call of a turn, its reply
FLOW_EVENTS = ("flow.execution_event",)  # crewhouse.flows.logic.execution_event: the node runner's events
NOTIFICATION_EVENTS = ("notification.created",)  # crewhouse.notifications.logic: a new in-app notification
BUS_MESSAGE_EVENTS = ("bus.message",)  # crewhouse.bus.messaging.message_event: a message put in an agent's inbox


def deliveries_for(event: Mapping[str, Any]) -> list[Delivery]:
    """The topics an EventBridge event of the ``crewhouse`` bus is about (none for an unknown one). The owner
    comes from the event's detail, which only the producing context writes."""
    detail_type = str(event.get("detail-type") or "")
    detail = event.get("detail") or {}
    if not isinstance(detail, Mapping):
        return []
    if detail_type in JOB_EVENTS:
        job = detail.get("job") or {}
        if not all(job.get(k) for k in ("tenant_id", "user_id", "job_id")):
            return []
        return _delivery(job["tenant_id"], job["user_id"], "job", job["job_id"], detail_type, detail)
    if detail_type in CHAT_EVENTS:  # a user's own session
        if not detail.get("user_id"):
            return []
        return _delivery(detail.get("tenant_id"), detail["user_id"], "chat", detail.get("session_id"), detail_type,
                         detail)
    if detail_type in FLOW_EVENTS:  # a tenant's execution
        return _delivery(detail.get("tenant_id"), None, "execution", detail.get("execution_id"), detail_type, detail)
    if detail_type in NOTIFICATION_EVENTS:  # a user's own inbox: the one topic without a resource id
        if not (detail.get("tenant_id") and detail.get("user_id")):
            return []
        return [Delivery(str(detail["tenant_id"]), str(detail["user_id"]), Topic("notifications"), detail_type,
                         dict(detail))]
    if detail_type in AGENT_EVENTS or detail_type in BUS_MESSAGE_EVENTS:  # a tenant's agent
        return _delivery(detail.get("tenant_id"), None, "agent", detail.get("agent_id"), detail_type, detail)
    return []


def _delivery(tenant_id: Any, user_id: Any, kind: str, resource_id: Any, detail_type: str,
              detail: Mapping[str, Any]) -> list[Delivery]:
    """One delivery, or none when the detail names no tenant or no valid resource id."""
    topic = Topic.parse(f"{kind}:{resource_id}") if tenant_id and resource_id else None
    if topic is None:
        return []
    return [Delivery(str(tenant_id), str(user_id) if user_id is not None else None, topic, detail_type,
                     dict(detail))]
