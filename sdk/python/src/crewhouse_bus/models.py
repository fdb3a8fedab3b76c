"""The bus's JSON shapes as TypedDicts: answers are handed over as parsed, typed for the editor and mypy.

TypedDicts rather than dataclasses so that fields a newer server adds pass through untouched.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

AgentKind = Literal["external", "hosted"]
AgentStatus = Literal["online", "offline"]
AgentRole = Literal["admin", "agent-producer", "agent-consumer", "agent-full", "observer"]
ContextScope = Literal["private", "group", "tenant", "public"]
MessageKind = Literal["direct", "broadcast", "topic", "request", "reply"]


class AgentCredentials(TypedDict):
    client_id: str
    client_secret: str
    token_url: str


class Agent(TypedDict):
    id: str
    name: str
    kind: AgentKind
    role: NotRequired[str]
    capabilities: NotRequired[list[str]]
    description: NotRequired[str]
    metadata: NotRequired[dict[str, Any]]
    heartbeat_interval_seconds: NotRequired[int]
    rate_limit_per_minute: NotRequired[int]
    max_deliveries: NotRequired[int]
    visibility_timeout_seconds: NotRequired[int]
    message_retention_seconds: NotRequired[int]
    status: NotRequired[AgentStatus]
    last_heartbeat_at: NotRequired[str | None]
    created_at: NotRequired[str]
    has_credentials: NotRequired[bool]
    version: NotRequired[int]
    credentials: NotRequired[AgentCredentials | None]  # only in the answer to registration (external agents)


class Heartbeat(TypedDict):
    status: str
    next_heartbeat_before: str
    offline_after: str


class Context(TypedDict):
    id: str
    name: NotRequired[str]
    scope: NotRequired[ContextScope]
    members: NotRequired[list[str]]
    tags: NotRequired[list[str]]
    content_type: NotRequired[str]
    sha256: NotRequired[str]
    size: NotRequired[int]
    version: NotRequired[int]
    owner: NotRequired[str]
    storage: NotRequired[str]
    payload: NotRequired[Any]
    payload_base64: NotRequired[str | None]
    download_url: NotRequired[str | None]
    expires_at: NotRequired[str | None]
    created_at: NotRequired[str]
    updated_at: NotRequired[str]


# The functional form because the sender's field is called "from", a keyword.
Message = TypedDict("Message", {
    "id": str,
    "kind": MessageKind,
    "from": str,
    "to": str | None,
    "topic": str | None,
    "attributes": dict[str, str],
    "payload": Any,
    "context_ref": str | None,
    "correlation_id": str | None,
    "reply_to": str | None,
    "sent_at": str,
    "receipt": NotRequired[str],
    "delivery_count": NotRequired[int],
    "first_received_at": NotRequired[str],
})


class SendResult(TypedDict):
    id: str
    duplicate: NotRequired[bool]
    correlation_id: NotRequired[str]


Reply = Message
"""A reply is a message envelope of kind ``reply`` carrying the request's ``correlation_id``."""


class Settled(TypedDict):
    """What an ack or nack did: receipts the queue refused (an expired receipt) are listed in ``failed``."""

    failed: list[dict[str, Any]]
    acked: NotRequired[int]
    nacked: NotRequired[int]


class StreamPart(TypedDict):
    number: int
    url: NotRequired[str]
    checksum_sha256: NotRequired[str]
    headers: NotRequired[dict[str, str]]
    etag: NotRequired[str | None]
    size: NotRequired[int]


class Stream(TypedDict):
    stream_id: str
    size: NotRequired[int]
    sha256: NotRequired[str]
    part_size: NotRequired[int]
    status: NotRequired[str]
    parts: NotRequired[list[StreamPart]]  # the parts still to send, each with its presigned URL
    parts_received: NotRequired[list[StreamPart]]  # the parts the storage holds (number, etag, size)
    part_urls_expire_in: NotRequired[int]
    context_id: NotRequired[str]
    expires_at: NotRequired[str]
    version: NotRequired[int | None]
    failure: NotRequired[str | None]


class DownloadLink(TypedDict):
    url: str
    expires_in: NotRequired[int]
    version: NotRequired[int]
    size: NotRequired[int]
    sha256: NotRequired[str]
    content_type: NotRequired[str]


class Page(TypedDict):
    items: list[dict[str, Any]]
    next_cursor: str | None
