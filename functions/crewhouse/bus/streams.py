"""Large transfers (streams): a context's payload uploaded straight to S3 in parts, resumable, verified whole.

A stream is an S3 multipart upload with ``ChecksumAlgorithm=SHA256``. The client declares the payload's size,
SHA-256 and part size, and each part's SHA-256; every presigned part URL signs that part's checksum, so S3 refuses
bytes that do not match it, and the bytes never pass through a Lambda. ``GET /streams/{id}`` lists the parts S3
holds (ListParts is the truth, not our records) with fresh URLs for the missing ones. Completion assembles the
parts, reads the object back a chunk at a time to check the whole payload's SHA-256 (S3 has no whole-object
SHA-256 for multipart uploads), and only then creates the context or its new version.

``T#<t>#STREAM#<id>`` / ``STREAM``: the stream, removed by the table's TTL a day after it started; the bucket's
lifecycle rule aborts uploads left incomplete after a day.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, Self

from pydantic import BaseModel, Field, model_validator

from crewhouse.bus import ids
from crewhouse.bus.access import BusCaller, require
from crewhouse.bus.contexts import (
    BINARY_CONTENT_TYPE,
    ContextFields,
    ContextService,
    Record,
    changes_access,
    require_update,
    uploaded_content,
)
from crewhouse.core import table as t
from crewhouse.core.errors import Conflict, NotFound, Problem
from crewhouse.core.etag import require_version
from crewhouse.core.keys import tenant_prefix

MIB = 1024 * 1024
MIN_PART_BYTES, MAX_PART_BYTES = 5 * MIB, 512 * MIB  # S3's minimum for every part but the last
MAX_PARTS = 1000  # the declared checksums live on the stream's item (400 KB at most)
MAX_STREAM_BYTES = 2 * 1024 * MIB  # completion reads the object back within the API's 30 s
STREAM_SECONDS = 86_400
PART_URL_SECONDS = 3600
CHECKSUM_PATTERN = r"^[A-Za-z0-9+/]{43}=$"  # base64 of 32 bytes
STREAM = "STREAM"


class StreamStart(ContextFields):
    """A payload to upload, and the context it makes: a new one (``name``…) or a new version (``context_id``)."""

    size: int = Field(ge=1, le=MAX_STREAM_BYTES)
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="Hex SHA-256 of the whole payload")
    part_size: int = Field(ge=MIN_PART_BYTES, le=MAX_PART_BYTES)
    part_checksums: list[str] = Field(min_length=1, max_length=MAX_PARTS,
                                      description="Base64 SHA-256 of each part, in order")
    context_id: str | None = Field(default=None, min_length=1, max_length=64)
    if_match: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _parts_cover_size(self) -> Self:
        expected = math.ceil(self.size / self.part_size)
        if len(self.part_checksums) != expected:
            raise ValueError(f"{self.size} bytes in parts of {self.part_size} make {expected} parts, "
                             f"not {len(self.part_checksums)}")
        if any(not re.match(CHECKSUM_PATTERN, c) for c in self.part_checksums):
            raise ValueError("each part checksum is the base64 of a SHA-256 digest")
        if self.context_id is None and not self.name:
            raise ValueError("a new context needs a name (or give context_id for a new version)")
        if self.context_id is None and self.members and (self.scope or "private") != "group":
            raise ValueError("members go with scope 'group' only")
        return self


class ClaimedPart(BaseModel):
    number: int = Field(ge=1, le=MAX_PARTS)
    etag: str = Field(min_length=1, max_length=128)
    checksum_sha256: str | None = None


class StreamComplete(BaseModel):
    """What the client uploaded (optional: S3's own list of parts is what completes the upload)."""

    parts: list[ClaimedPart] | None = None


class StreamStore(Protocol):
    def get(self, tenant_id: str, stream_id: str) -> Record | None: ...

    def add(self, record: Record) -> None: ...

    def move(self, record: Record, from_status: str, to_status: str, **changes: Any) -> bool:
        """Set ``status`` (and ``changes``) if the stream is still ``from_status``; False otherwise."""
        ...


class UploadBucket(Protocol):
    def start_upload(self, key: str, content_type: str) -> str: ...

    def part_url(self, key: str, upload_id: str, number: int, checksum: str, expires_seconds: int) -> str: ...

    def received_parts(self, key: str, upload_id: str) -> list[Record]: ...

    def finish_upload(self, key: str, upload_id: str, parts: list[tuple[int, str, str]]) -> None: ...

    def abort_upload(self, key: str, upload_id: str) -> None: ...

    def chunks(self, key: str) -> Iterator[bytes]: ...

    def remove(self, keys: list[str]) -> None: ...


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stream_key(tenant_id: str, context_id: str, stream_id: str) -> str:
    return f"contexts/{tenant_id}/{context_id}/stream-{stream_id}"


def expected_size(record: Mapping[str, Any], number: int) -> int:
    """The size part ``number`` must have: ``part_size``, and the rest for the last part."""
    count = len(record["part_checksums"])
    return int(record["part_size"]) if number < count else int(record["size"]) - (count - 1) * int(record["part_size"])


def missing_parts(record: Mapping[str, Any], received: list[Record]) -> list[int]:
    """Numbers of the parts still to upload: absent, or held at a size other than the declared one."""
    held = {p["number"]: p["size"] for p in received}
    return [n for n in range(1, len(record["part_checksums"]) + 1) if held.get(n) != expected_size(record, n)]


def whole_sha256(chunks: Iterator[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


@dataclass
class StreamService:
    streams: StreamStore
    bucket: UploadBucket
    contexts: ContextService
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    new_id: Callable[[], str] = ids.new_id

    def start(self, caller: BusCaller, body: StreamStart) -> Record:
        require(caller, "contexts:write")
        content_type = body.content_type
        if body.context_id is not None:
            head = self.contexts.find(caller, body.context_id)
            require_update(caller, head, changes_access(head, body))
            require_version(body.if_match, int(head["version"]))  # fail early, again at completion
            content_type = content_type or str(head["content_type"])
        content_type = content_type or BINARY_CONTENT_TYPE
        now = self.clock()
        stream_id = self.new_id()
        context_id = body.context_id or self.new_id()
        key = stream_key(caller.tenant_id, context_id, stream_id)
        until = now + timedelta(seconds=STREAM_SECONDS)
        fields = body.model_dump(exclude_none=True, include=set(ContextFields.model_fields))
        record: Record = {
            "stream_id": stream_id, "tenant_id": caller.tenant_id, "owner": caller.actor, "status": "open",
            "upload_id": self.bucket.start_upload(key, content_type), "s3_key": key, "size": body.size,
            "sha256": body.sha256.lower(), "part_size": body.part_size, "part_checksums": body.part_checksums,
            "content_type": content_type, "context_id": context_id, "new_context": body.context_id is None,
            "if_match": body.if_match, "fields": {**fields, "content_type": content_type},
            "created_at": _iso(now), "expires_at": _iso(until), "expires_epoch": int(until.timestamp()),
        }
        self.streams.add(record)
        return self._view(record, received=[])

    def status(self, caller: BusCaller, stream_id: str) -> Record:
        record = self._find(caller, stream_id)
        received = self.bucket.received_parts(record["s3_key"], record["upload_id"]) if record["status"] == "open" \
            else []
        return self._view(record, received)

    def complete(self, caller: BusCaller, stream_id: str, claimed: list[ClaimedPart] | None) -> tuple[Record, bool]:
        """The context's view once the payload is whole and verified, and whether the context is new."""
        require(caller, "contexts:write")
        record = self._find(caller, stream_id)
        self._require_open(record)
        received = self.bucket.received_parts(record["s3_key"], record["upload_id"])
        missing = missing_parts(record, received)
        if missing:
            raise Conflict(f"{len(missing)} parts are missing or incomplete; upload them and complete again.",
                           slug="stream-incomplete", missing=missing)
        etags = {p["number"]: p["etag"] for p in received}
        if claimed is not None and any(etags.get(p.number) != p.etag.strip('"') for p in claimed):
            raise Conflict("The parts named are not the parts S3 holds; list the stream again.",
                           slug="stream-parts-mismatch")
        if not self.streams.move(record, "open", "completing"):
            raise Conflict("The stream is being completed or was closed meanwhile.", slug="stream-closed")
        try:
            self.bucket.finish_upload(record["s3_key"], record["upload_id"], [
                (n, etags[n], checksum) for n, checksum in enumerate(record["part_checksums"], start=1)])
        except Exception:
            self.streams.move(record, "completing", "open")  # the parts are still there: fix them and retry
            raise
        try:
            view = self._verify_and_write(caller, record)
        except Exception as exc:
            self._fail(record, (exc.slug or f"http-{exc.status}") if isinstance(exc, Problem) else "internal-error")
            raise
        self.streams.move(record, "completing", "completed", version=int(view["version"]))
        return view, bool(record["new_context"])

    def _verify_and_write(self, caller: BusCaller, record: Record) -> Record:
        """The whole payload's SHA-256 read back a chunk at a time, then the context or its new version."""
        key = record["s3_key"]
        sha256, size = whole_sha256(self.bucket.chunks(key))
        if sha256 != record["sha256"] or size != int(record["size"]):
            raise Conflict("The uploaded payload's SHA-256 is not the one declared; nothing was created.",
                           slug="checksum-mismatch", expected=record["sha256"], actual=sha256, size=size)
        fields = ContextFields.model_validate(record["fields"])
        content = uploaded_content(sha256, size, str(record["content_type"]))
        if record["new_context"]:
            return self.contexts.create(caller, fields, content, s3_key=key, context_id=record["context_id"])
        return self.contexts.update(caller, record["context_id"], fields, content, record.get("if_match"),
                                    s3_key=key)

    def abort(self, caller: BusCaller, stream_id: str) -> Record:
        record = self._find(caller, stream_id)
        if not self.streams.move(record, "open", "aborted"):
            raise Conflict(f"The stream is {record['status']}; only an open stream is aborted.",
                           slug="stream-closed")
        self.bucket.abort_upload(record["s3_key"], record["upload_id"])
        return record

    def _find(self, caller: BusCaller, stream_id: str) -> Record:
        """The caller's own stream (an admin's: any of the tenant); 404 alike for others, missing or expired."""
        require(caller, "contexts:write")
        record = self.streams.get(caller.tenant_id, stream_id)
        if (record is None or int(record["expires_epoch"]) <= int(self.clock().timestamp())
                or not (caller.is_admin or record["owner"] == caller.actor)):
            raise NotFound(f"No stream {stream_id}.", slug="stream-not-found")
        return record

    @staticmethod
    def _require_open(record: Mapping[str, Any]) -> None:
        if record["status"] != "open":
            raise Conflict(f"The stream is {record['status']}.", slug="stream-closed",
                           stream_status=record["status"])

    def _fail(self, record: Record, reason: str) -> None:
        """Nothing of a refused payload stays: the object goes, and the stream says why."""
        self.bucket.remove([record["s3_key"]])
        self.streams.move(record, "completing", "failed", failure=reason)

    def _view(self, record: Mapping[str, Any], received: list[Record]) -> Record:
        view = {name: record.get(name) for name in ("stream_id", "upload_id", "status", "size", "sha256", "part_size",
                                                    "context_id", "expires_at", "version", "failure")}
        view["parts_received"] = received
        if record["status"] != "open":
            view["parts"] = []
            return view
        checksums = record["part_checksums"]
        view["parts"] = [self._part(record, n, checksums[n - 1]) for n in missing_parts(record, received)]
        view["part_urls_expire_in"] = PART_URL_SECONDS
        return view

    def _part(self, record: Mapping[str, Any], number: int, checksum: str) -> Record:
        url = self.bucket.part_url(record["s3_key"], record["upload_id"], number, checksum, PART_URL_SECONDS)
        return {"number": number, "url": url, "size": expected_size(record, number), "checksum_sha256": checksum,
                "headers": {"x-amz-checksum-sha256": checksum}}


def stream_pk(tenant_id: str, stream_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}STREAM#{stream_id}"


class DynamoStreams:
    def __init__(self, table: t.Table) -> None:
        self._table = table

    def get(self, tenant_id: str, stream_id: str) -> Record | None:
        item = self._table.get((stream_pk(tenant_id, stream_id), STREAM))
        return None if item is None else {k: v for k, v in item.items() if k not in ("PK", "SK")}

    def add(self, record: Record) -> None:
        self._table.put_new({**record, "PK": stream_pk(record["tenant_id"], record["stream_id"]), "SK": STREAM})

    def move(self, record: Record, from_status: str, to_status: str, **changes: Any) -> bool:
        names = {"#status": "status", **{f"#c{i}": name for i, name in enumerate(changes)}}
        values = {":from": from_status, ":to": to_status,
                  **{f":c{i}": value for i, value in enumerate(changes.values())}}
        expression = "SET #status = :to" + "".join(f", #c{i} = :c{i}" for i in range(len(changes)))
        done = self._table.update((stream_pk(record["tenant_id"], record["stream_id"]), STREAM), expression,
                                  names=names, values=values, condition="#status = :from")
        if done is not None:
            record.update(status=to_status, **changes)
        return done is not None

