"""The WebSocket protocol: what clients send, what they receive, and the topics they may name.

In (JSON text frames, routed by ``action``)::

    {"action": "subscribe", "topic": "job:<id>", "last_event_id": 41}   # last_event_id optional
    {"action": "unsubscribe", "topic": "job:<id>"}
    {"action": "ping"}

Out::

    {"type": "event", "topic": "job:<id>", "id": 42, "detail_type": "job.progress", "at": "...", "data": {...}}
    {"type": "subscribed", "topic": "job:<id>", "replayed": 3, "last_event_id": 42}
    {"type": "unsubscribed", "topic": "job:<id>"}
    {"type": "pong"}
    {"type": "error", "status": 404, "title": "Not Found", "detail": "...", "topic": "job:<id>"}

Event ids increase by one per topic; replayed events come before ``subscribed``, in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TopicKind = Literal["job", "chat", "execution", "notifications", "agent"]
# Topics about one user's own resources; the others are about a tenant's resources.
USER_TOPICS = frozenset({"job", "chat", "notifications"})
_TOPIC = re.compile(r"^(job|chat|execution|agent):([A-Za-z0-9_.-]{1,128})$|^(notifications)$")


@dataclass(frozen=True)
class Topic:
    kind: TopicKind
    resource_id: str = ""

    @classmethod
    def parse(cls, text: str) -> Topic | None:
        match = _TOPIC.match(text or "")
        if match is None:
            return None
        if match.group(3):
            return cls("notifications")
        return cls(match.group(1), match.group(2))  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        return self.kind if self.kind == "notifications" else f"{self.kind}:{self.resource_id}"


class ClientMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: Literal["subscribe", "unsubscribe", "ping"]
    topic: str | None = Field(default=None, max_length=160)
    last_event_id: int | None = Field(default=None, ge=0)


@dataclass(frozen=True)
class Caller:
    """Who holds a connection: a member of a tenant (with the membership's role), or a bus agent."""

    tenant_id: str
    user_id: str
    role: str
    agent_id: str | None = None

    def as_item(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "user_id": self.user_id, "role": self.role,
                **({"agent_id": self.agent_id} if self.agent_id else {})}

    @classmethod
    def of(cls, item: dict[str, Any]) -> Caller:
        return cls(str(item["tenant_id"]), str(item["user_id"]), str(item["role"]), item.get("agent_id"))


@dataclass(frozen=True)
class Delivery:
    """One event of one topic, for one owner scope (a user's own topic, or a tenant's)."""

    tenant_id: str
    user_id: str | None  # None: a tenant-wide topic (a flow execution, an agent)
    topic: Topic
    detail_type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Subscriber:
    """A connection subscribed to a topic, with the holder its subscription was filed for."""

    connection_id: str
    user_id: str | None = None  # None: filed before subscriptions named their holder (read from the connection)
    agent_id: str | None = None  # an agent's connection (not a membership: the re-check does not apply)

