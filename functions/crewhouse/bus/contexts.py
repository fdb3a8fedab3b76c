"""Shared contexts: named, versioned payloads that agents and people of one tenant share, and who sees what.

Pure rules (no AWS): the shapes a client sends, the bytes a payload stands for and their SHA-256, the visibility
of a context to a caller, who may write it, expiry, the version records every write makes, the long poll on a
context's version and the events a change announces. :mod:`crewhouse.bus.contexts_store` keeps the records.

Visibility is checked before anything else reveals a context: a context the caller may not see answers 404,
exactly as one that does not exist, and so does an expired one (DynamoDB's TTL deletes items late).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crewhouse.bus import ids
from crewhouse.bus.access import BusCaller, require
from crewhouse.core.errors import Conflict, Forbidden, NotFound, ValidationProblem
from crewhouse.core.etag import require_version

Record = dict[str, Any]

INLINE_LIMIT_BYTES = 256 * 1024  # larger payloads live in S3 (a DynamoDB item holds 400 KB at most)
SCOPES = ("private", "group", "tenant", "public")
MAX_TAGS = 20
MAX_MEMBERS = 100
MIN_TTL_SECONDS, MAX_TTL_SECONDS = 60, 31_536_000
# S3 holds payloads over the inline limit; DynamoDB's TTL drops the items, and the bucket's lifecycle rules drop
# the objects by this tag: each object is tagged with the smallest class (days) that outlives its context's TTL
# (cdk/crewhouse_cdk/constructs/bus.py makes one rule a class). An object goes at most a class step late.
EXPIRY_TAG = "bus-expiry-days"
EXPIRY_CLASSES_DAYS = (1, 7, 30, 90, 366)


def expiry_class(ttl_seconds: int | None) -> str | None:
    """The expiry tag's value for a payload whose context lives ``ttl_seconds`` (None: kept until deleted)."""
    if ttl_seconds is None:
        return None
    days = -(-int(ttl_seconds) // 86_400)
    return str(next(limit for limit in EXPIRY_CLASSES_DAYS if limit >= days))
LONG_POLL_SECONDS = 25.0  # API Gateway answers 504 after 30 s
LONG_POLL_INTERVAL = 0.25
DOWNLOAD_URL_SECONDS = 900
EVENT_SOURCE = "crewhouse.bus"
JSON_CONTENT_TYPE, BINARY_CONTENT_TYPE = "application/json", "application/octet-stream"
AGENT_ID_PATTERN = r"^[0-9a-z]{26}$"
CONTENT_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(;.*)?$"


class ContextFields(BaseModel):
    """What a context says about itself, besides its payload (every field optional: an update keeps the rest)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    scope: str | None = Field(default=None, description="private | group | tenant | public")
    members: list[str] | None = Field(default=None, max_length=MAX_MEMBERS,
                                      description="Agent ids that share a group context")
    tags: list[str] | None = Field(default=None, max_length=MAX_TAGS)
    content_type: str | None = Field(default=None, max_length=255, pattern=CONTENT_TYPE_PATTERN)
    ttl_seconds: int | None = Field(default=None, ge=MIN_TTL_SECONDS, le=MAX_TTL_SECONDS)

    @field_validator("scope")
    @classmethod
    def _known_scope(cls, scope: str | None) -> str | None:
        if scope is not None and scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
        return scope

    @field_validator("members")
    @classmethod
    def _agent_ids(cls, members: list[str] | None) -> list[str] | None:
        if members is None:
            return None
        for member in members:
            if not re.match(AGENT_ID_PATTERN, member):
                raise ValueError(f"{member!r} is not an agent id")
        return list(dict.fromkeys(members))

    @field_validator("tags")
    @classmethod
    def _plain_tags(cls, tags: list[str] | None) -> list[str] | None:
        if tags is None:
            return None
        for tag in tags:
            if not 1 <= len(tag) <= 64 or not tag.isprintable():
                raise ValueError("a tag is 1 to 64 printable characters")
        return list(dict.fromkeys(tags))


class PayloadFields(BaseModel):
    """Exactly one of ``payload`` (any JSON, ``null`` included) and ``payload_base64`` (bytes)."""

    payload: Any = None
    payload_base64: str | None = None

    @model_validator(mode="after")
    def _one_payload(self) -> Self:
        if ("payload" in self.model_fields_set) == (self.payload_base64 is not None):
            raise ValueError("give exactly one of payload and payload_base64")
        if self.payload_base64 is not None:
            try:
                base64.b64decode(self.payload_base64, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError("payload_base64 is not valid base64") from exc
        return self


class ContextCreate(ContextFields, PayloadFields):
    name: str = Field(min_length=1, max_length=200)
    scope: str = "private"

    @model_validator(mode="after")
    def _members_with_group(self) -> Self:
        members_only_with_group(self.scope, self.members)
        return self


class ContextUpdate(ContextFields, PayloadFields):
    """A new version: a payload, and any metadata to change (the owner's or an admin's only for scope/members)."""


def members_only_with_group(scope: str, members: list[str] | None) -> None:
    if members and scope != "group":
        raise ValueError("members go with scope 'group' only")


def _require_group_for_members(scope: str, members: list[str] | None) -> None:
    try:
        members_only_with_group(scope, members)
    except ValueError as exc:
        raise ValidationProblem(str(exc), slug="context-members") from exc


@dataclass(frozen=True)
class Content:
    """A payload's bytes (None when they are already in S3, as after a stream), their digest and how to show them."""

    data: bytes | None
    encoding: str  # "json" (answered as ``payload``) or "binary" (``payload_base64`` / a download)
    sha256: str
    size: int

    @property
    def inline(self) -> bool:
        return self.data is not None and self.size <= INLINE_LIMIT_BYTES


def content_of(body: PayloadFields) -> Content:
    """The bytes a payload stands for: compact UTF-8 JSON, or the decoded base64."""
    if body.payload_base64 is not None:
        data, encoding = base64.b64decode(body.payload_base64, validate=True), "binary"
    else:
        data = json.dumps(body.payload, separators=(",", ":"), ensure_ascii=False).encode()
        encoding = "json"
    return Content(data, encoding, hashlib.sha256(data).hexdigest(), len(data))


def uploaded_content(sha256: str, size: int, content_type: str) -> Content:
    """A payload a stream put in S3 (JSON when its content type says so)."""
    encoding = "json" if content_type.split(";")[0].strip() == JSON_CONTENT_TYPE else "binary"
    return Content(None, encoding, sha256, size)


# --- visibility and permissions ---------------------------------------------------------------------------------

def is_owner(caller: BusCaller, record: Mapping[str, Any]) -> bool:
    return caller.actor == record.get("owner")


def in_group(caller: BusCaller, record: Mapping[str, Any]) -> bool:
    return (record.get("scope") == "group" and caller.actor_kind == "agent"
            and caller.actor_id in (record.get("members") or []))


def may_see(caller: BusCaller, record: Mapping[str, Any]) -> bool:
    if record.get("tenant_id") != caller.tenant_id or not caller.may("contexts:read"):
        return False
    if caller.is_admin:
        return True
    scope = record.get("scope")
    if caller.actor_kind != "agent":  # an observer
        return scope == "public"
    if scope == "private":
        return is_owner(caller, record)
    if scope == "group":
        return is_owner(caller, record) or in_group(caller, record)
    return scope in ("tenant", "public")


def is_expired(record: Mapping[str, Any], now: datetime) -> bool:
    expires = record.get("expires_epoch")
    return expires is not None and int(expires) <= int(now.timestamp())


def visible(caller: BusCaller, record: Mapping[str, Any] | None, context_id: str, now: datetime) -> Record:
    """The context if the caller may see it and it has not expired; 404 alike for missing, hidden or expired."""
    if record is None or is_expired(record, now) or not may_see(caller, record):
        raise NotFound(f"No context {context_id}.", slug="context-not-found")
    return dict(record)


def listed(caller: BusCaller, records: Iterable[Mapping[str, Any]], now: datetime) -> list[Record]:
    return [dict(r) for r in records if not is_expired(r, now) and may_see(caller, r)]


def require_update(caller: BusCaller, record: Mapping[str, Any], changes_access: bool) -> None:
    """The owner or an admin; a group member may write new versions but not change who sees the context."""
    require(caller, "contexts:write")
    if caller.is_admin or is_owner(caller, record):
        return
    if not in_group(caller, record):
        raise Forbidden("Only the context's owner or a member of its group may update it.",
                        slug="context-not-writer")
    if changes_access:
        raise Forbidden("Only the context's owner or an admin may change its scope or members.",
                        slug="context-not-owner")


def require_delete(caller: BusCaller, record: Mapping[str, Any]) -> None:
    require(caller, "contexts:write")
    if not (caller.is_admin or is_owner(caller, record)):
        raise Forbidden("Only the context's owner or an admin may delete it.", slug="context-not-owner")


# --- records ------------------------------------------------------------------------------------------------------

def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _expiry(ttl_seconds: int | None, now: datetime) -> dict[str, Any]:
    if ttl_seconds is None:
        return {"ttl_seconds": None, "expires_epoch": None, "expires_at": None}
    until = now + timedelta(seconds=ttl_seconds)
    return {"ttl_seconds": ttl_seconds, "expires_epoch": int(until.timestamp()), "expires_at": _iso(until)}


def _stored(content: Content) -> dict[str, Any]:
    return {"sha256": content.sha256, "size": content.size, "encoding": content.encoding,
            "storage": "inline" if content.inline else "s3"}


def new_record(caller: BusCaller, context_id: str, body: ContextFields, content: Content, now: datetime) -> Record:
    """Version 1 of a new context, owned by the caller."""
    scope = body.scope or "private"
    _require_group_for_members(scope, body.members)
    default_type = JSON_CONTENT_TYPE if content.encoding == "json" else BINARY_CONTENT_TYPE
    return {"id": context_id, "tenant_id": caller.tenant_id, "name": body.name, "scope": scope,
            "members": body.members or [], "tags": body.tags or [], "content_type": body.content_type or default_type,
            "version": 1, "owner": caller.actor, "updated_by": caller.actor, "created_at": _iso(now),
            "updated_at": _iso(now), **_stored(content), **_expiry(body.ttl_seconds, now)}


def changes_access(record: Mapping[str, Any], body: ContextFields) -> bool:
    return ((body.scope is not None and body.scope != record["scope"])
            or (body.members is not None and body.members != record.get("members")))


def next_record(caller: BusCaller, current: Mapping[str, Any], body: ContextFields, content: Content,
                now: datetime) -> Record:
    """The next version: the given metadata over the current one; the TTL counts again from this write."""
    changed = body.model_dump(exclude_none=True, include={"name", "scope", "members", "tags", "content_type"})
    merged = {**current, **changed}
    if "scope" in changed and changed["scope"] != "group" and body.members is None:
        merged["members"] = []  # a context leaving group scope drops its group
    _require_group_for_members(merged["scope"], merged.get("members"))
    ttl = body.ttl_seconds if body.ttl_seconds is not None else current.get("ttl_seconds")
    return {**merged, "version": int(current["version"]) + 1, "updated_by": caller.actor, "updated_at": _iso(now),
            **_stored(content), **_expiry(ttl, now)}


METADATA = ("id", "name", "scope", "members", "tags", "content_type", "sha256", "size", "version", "owner",
            "created_at", "updated_at", "expires_at", "storage")


def context_view(record: Mapping[str, Any], *, data: bytes | None = None,
                 download_url: str | None = None) -> Record:
    """The answer for one version: its metadata and its payload inline, or where to download it."""
    view = {name: record.get(name) for name in METADATA}
    if data is not None:
        if record.get("encoding") == "json":
            view["payload"] = json.loads(data)
        else:
            view["payload_base64"] = base64.b64encode(data).decode()
    if download_url is not None:
        view["download_url"] = download_url
    return view


VERSION_METADATA = ("version", "sha256", "size", "content_type", "storage", "updated_at", "updated_by", "expires_at")


def version_view(record: Mapping[str, Any]) -> Record:
    return {name: record.get(name) for name in VERSION_METADATA}


# --- change notification ------------------------------------------------------------------------------------------

def wait_for_version(read: Callable[[], Mapping[str, Any] | None], wanted: int, *, limit_seconds: float,
                     now: Callable[[], datetime] = lambda: datetime.now(UTC),
                     clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                     interval: float = LONG_POLL_INTERVAL) -> tuple[Mapping[str, Any] | None, bool]:
    """Poll ``read`` (a strongly consistent read of the head) until the version reaches ``wanted``.

    Returns the last head read and whether the wait ended on its own: the version arrived, or the context is gone
    or expired (the caller answers 404 then); False when ``limit_seconds`` passed first.
    """
    deadline = clock() + min(limit_seconds, LONG_POLL_SECONDS)
    while True:
        head = read()
        if head is None or is_expired(head, now()) or int(head["version"]) >= wanted:
            return head, True
        if clock() + interval > deadline:
            return head, False
        sleep(interval)


def context_event(action: str, record: Mapping[str, Any]) -> tuple[str, Record]:
    """``context.created|updated|deleted`` and its detail: never the payload, only what names the change."""
    return f"context.{action}", {"tenant_id": record["tenant_id"], "context_id": record["id"],
                                 "version": int(record["version"]), "name": record["name"], "scope": record["scope"]}


# --- the service ------------------------------------------------------------------------------------------------

Resume = dict[str, Any]


class ContextStore(Protocol):
    def head(self, tenant_id: str, context_id: str) -> Record | None: ...

    def version(self, tenant_id: str, context_id: str, version: int) -> Record | None: ...

    def create(self, record: Record, data: bytes | None, s3_key: str | None) -> None: ...

    def add_version(self, record: Record, expected_version: int, data: bytes | None, s3_key: str | None) -> None:
        """412 when the head is no longer at ``expected_version``."""
        ...

    def remove(self, tenant_id: str, context_id: str, expected_version: int) -> list[str]:
        """Delete the head (412 when not at ``expected_version``) and every version; the S3 keys they held."""
        ...

    def page(self, tenant_id: str, *, name: str | None, tag: str | None, limit: int,
             start: Resume | None) -> tuple[list[Record], Resume | None]: ...

    def versions(self, tenant_id: str, context_id: str, *, limit: int,
                 start: Resume | None) -> tuple[list[Record], Resume | None]: ...


class PayloadStore(Protocol):
    def key_for(self, tenant_id: str, context_id: str, version: int) -> str: ...

    def put(self, key: str, data: bytes, content_type: str, expiry: str | None = None) -> None: ...

    def set_expiry(self, key: str, expiry: str) -> None: ...

    def remove(self, keys: list[str]) -> None: ...

    def download_url(self, key: str, content_type: str, expires_seconds: int) -> str: ...


class EventPublisher(Protocol):
    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> object: ...



@dataclass
class ContextService:
    store: ContextStore
    payloads: PayloadStore
    events: EventPublisher
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    new_id: Callable[[], str] = ids.new_id

    def find(self, caller: BusCaller, context_id: str) -> Record:
        """The head of a context the caller may see (404 otherwise)."""
        require(caller, "contexts:read")
        return visible(caller, self.store.head(caller.tenant_id, context_id), context_id, self.clock())

    def create(self, caller: BusCaller, body: ContextFields, content: Content, s3_key: str | None = None,
               context_id: str | None = None) -> Record:
        """A new context at version 1 (``s3_key`` when a stream already put the payload there); its view."""
        require(caller, "contexts:write")
        if not body.name:
            raise ValidationProblem("A new context needs a name.", slug="context-name")
        record = new_record(caller, context_id or self.new_id(), body, content, self.clock())
        view = self._commit(record, content, s3_key, lambda data, key: self.store.create(record, data, key))
        self.events.publish(*context_event("created", record))
        return view

    def update(self, caller: BusCaller, context_id: str, body: ContextFields, content: Content,
               if_match: str | None, s3_key: str | None = None) -> Record:
        """A new version on top of the current one (412 when ``If-Match`` names another, or one is written first)."""
        require(caller, "contexts:write")
        head = self.find(caller, context_id)
        require_update(caller, head, changes_access(head, body))
        require_version(if_match, int(head["version"]))
        record = next_record(caller, head, body, content, self.clock())
        expected = int(head["version"])
        view = self._commit(record, content, s3_key,
                            lambda data, key: self.store.add_version(record, expected, data, key))
        self.events.publish(*context_event("updated", record))
        return view

    def delete(self, caller: BusCaller, context_id: str, if_match: str | None) -> Record:
        require(caller, "contexts:write")  # the role first, as for an update: a reader learns nothing either way
        head = self.find(caller, context_id)
        require_delete(caller, head)
        require_version(if_match, int(head["version"]))
        self.payloads.remove(self.store.remove(caller.tenant_id, context_id, int(head["version"])))
        self.events.publish(*context_event("deleted", head))
        return head

    def read(self, caller: BusCaller, context_id: str, version: int | None = None) -> Record:
        """The view of the current version, or of ``version`` while it lives."""
        head = self.find(caller, context_id)
        wanted = int(head["version"]) if version is None else version
        record = self.store.version(caller.tenant_id, context_id, wanted) if wanted <= int(head["version"]) else None
        if record is None or is_expired(record, self.clock()):
            raise NotFound(f"Context {context_id} has no version {wanted}.", slug="context-version-not-found")
        return self._view(record)

    def wait(self, caller: BusCaller, context_id: str, wanted: int, limit_seconds: float,
             sleep: Callable[[float], None] = time.sleep) -> tuple[Record, bool]:
        """The view once version ``wanted`` exists, or the current one when the wait runs out (False)."""
        self.find(caller, context_id)
        head, arrived = wait_for_version(lambda: self.store.head(caller.tenant_id, context_id), wanted,
                                         limit_seconds=limit_seconds, now=self.clock, sleep=sleep)
        current = visible(caller, head, context_id, self.clock())
        return self.read(caller, context_id, int(current["version"])), arrived

    def download(self, caller: BusCaller, context_id: str, version: int | None = None) -> Record:
        view = self.read(caller, context_id, version)
        if "download_url" not in view:
            raise Conflict("This version's payload is held inline; read it with GET /contexts/{id}.",
                           slug="context-payload-inline")
        return {"url": view["download_url"], "expires_in": DOWNLOAD_URL_SECONDS, "version": view["version"],
                "size": view["size"], "sha256": view["sha256"], "content_type": view["content_type"]}

    def page(self, caller: BusCaller, *, name: str | None, tag: str | None, limit: int,
             start: Resume | None) -> tuple[list[Record], Resume | None]:
        require(caller, "contexts:read")
        records, resume = self.store.page(caller.tenant_id, name=name, tag=tag, limit=limit, start=start)
        return [context_view(r) for r in listed(caller, records, self.clock())], resume

    def versions(self, caller: BusCaller, context_id: str, *, limit: int,
                 start: Resume | None) -> tuple[list[Record], Resume | None]:
        self.find(caller, context_id)
        records, resume = self.store.versions(caller.tenant_id, context_id, limit=limit, start=start)
        now = self.clock()
        return [version_view(r) for r in records if not is_expired(r, now)], resume

    def _view(self, record: Mapping[str, Any]) -> Record:
        if record.get("storage") == "inline":
            return context_view(record, data=bytes(record["payload"]))
        url = self.payloads.download_url(str(record["s3_key"]), str(record["content_type"]), DOWNLOAD_URL_SECONDS)
        return context_view(record, download_url=url)

    def _commit(self, record: Record, content: Content, s3_key: str | None,
                write: Callable[[bytes | None, str | None], None]) -> Record:
        """Write the records, the payload inline or in S3 first (an object of a failed write is removed); the view."""
        expiry = expiry_class(record.get("ttl_seconds"))
        if s3_key is None and content.data is not None and not content.inline:
            s3_key = self.payloads.key_for(record["tenant_id"], record["id"], int(record["version"]))
            self.payloads.put(s3_key, content.data, str(record["content_type"]), expiry)
            try:
                write(None, s3_key)
            except BaseException:
                self.payloads.remove([s3_key])
                raise
        else:
            write(content.data if s3_key is None else None, s3_key)
            if s3_key is not None and expiry is not None:  # a stream's object, whose context has a TTL
                self.payloads.set_expiry(s3_key, expiry)
        return self._view({**record, "payload": content.data, "s3_key": s3_key})
