"""Contexts in the bus table, their large payloads in the bus bucket, and their events on EventBridge.

- ``T#<t>#CTX#<id>`` / ``HEAD``: the current version's metadata (no payload: the long poll reads it every 0.25 s),
  in GSI1 as ``T#<t>#CONTEXTS`` / ``<name>#<id>`` for listing;
- ``T#<t>#CTX#<id>`` / ``V#<version:010d>``: each version's metadata with its payload inline (``payload``, bytes)
  or the S3 key that holds it (``s3_key``). A new version and the head are written in one transaction conditioned
  on the head's version, so two writers never both make version N.

Every item of a context with a TTL carries ``expires_epoch`` (the table's TTL attribute). S3 keys are
``contexts/<tenant>/<id>/v<version>-<nonce>``: the nonce keeps the object of a writer that loses the race for a
version from overwriting the winner's.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping
from typing import Any

from crewhouse.bus.contexts import EXPIRY_TAG
from crewhouse.core import table as t
from crewhouse.core.errors import Conflict, PreconditionFailed
from crewhouse.core.events import Announcer
from crewhouse.core.keys import tenant_prefix

Record = dict[str, Any]
HEAD = "HEAD"
_KEY_ATTRIBUTES = ("PK", "SK", "GSI1PK", "GSI1SK")
_STALE = "The context changed meanwhile; fetch it again and retry."
# A listing of versions leaves the payloads out (each may be 256 KiB).
_VERSION_LISTING = ("PK", "SK", "version", "sha256", "size", "content_type", "storage", "updated_at", "updated_by",
                    "expires_at", "expires_epoch")


def context_pk(tenant_id: str, context_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}CTX#{context_id}"


def version_sk(version: int) -> str:
    return f"V#{version:010d}"


def listing_pk(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}CONTEXTS"


def _record(item: Mapping[str, Any] | None) -> Record | None:
    return None if item is None else {k: v for k, v in item.items() if k not in _KEY_ATTRIBUTES}


def _conflicted(cancelled: t.Cancelled) -> bool:
    return "ConditionalCheckFailed" in cancelled.reasons


class DynamoContexts:
    def __init__(self, table: t.Table) -> None:
        self._table = table

    def head(self, tenant_id: str, context_id: str) -> Record | None:
        return _record(self._table.get((context_pk(tenant_id, context_id), HEAD)))

    def version(self, tenant_id: str, context_id: str, version: int) -> Record | None:
        return _record(self._table.get((context_pk(tenant_id, context_id), version_sk(version))))

    def create(self, record: Record, data: bytes | None, s3_key: str | None) -> None:
        try:
            self._table.transact([t.new(self._head_item(record)), t.new(self._version_item(record, data, s3_key))])
        except t.Cancelled as cancelled:
            if _conflicted(cancelled):
                raise Conflict("A context with this id exists already.") from cancelled
            raise

    def add_version(self, record: Record, expected_version: int, data: bytes | None, s3_key: str | None) -> None:
        try:
            self._table.transact([t.versioned(self._head_item(record), expected_version),
                                  t.new(self._version_item(record, data, s3_key))])
        except t.Cancelled as cancelled:
            if _conflicted(cancelled):
                raise PreconditionFailed(_STALE) from cancelled
            raise

    def remove(self, tenant_id: str, context_id: str, expected_version: int) -> list[str]:
        pk = context_pk(tenant_id, context_id)
        self._table.delete((pk, HEAD), expected_version=expected_version, stale=_STALE)
        versions = self._table.query_all(t.starting_with(pk, "V#"), projection=("PK", "SK", "s3_key"),
                                         consistent=True)
        self._table.delete_many(t.item_key(v) for v in versions)
        return [str(v["s3_key"]) for v in versions if v.get("s3_key")]

    def page(self, tenant_id: str, *, name: str | None, tag: str | None, limit: int,
             start: dict[str, Any] | None) -> tuple[list[Record], dict[str, Any] | None]:
        partition = listing_pk(tenant_id)
        where = t.starting_with(partition, f"{name}#", "GSI1") if name else t.whole(partition, "GSI1")
        filters: dict[str, Any] = {"name": name} if name else {}  # a name may hold '#': the prefix alone is loose
        if tag:
            filters["tags"] = t.Contains(tag)
        items, resume = self._table.query(where, limit=limit, start=start, filters=filters or None)
        return [r for r in map(_record, items) if r is not None], resume

    def versions(self, tenant_id: str, context_id: str, *, limit: int,
                 start: dict[str, Any] | None) -> tuple[list[Record], dict[str, Any] | None]:
        items, resume = self._table.query(t.starting_with(context_pk(tenant_id, context_id), "V#"), limit=limit,
                                          start=start, forward=False, consistent=True,
                                          projection=_VERSION_LISTING)
        return [r for r in map(_record, items) if r is not None], resume

    @staticmethod
    def _head_item(record: Record) -> Record:
        return {**record, "PK": context_pk(record["tenant_id"], record["id"]), "SK": HEAD,
                "GSI1PK": listing_pk(record["tenant_id"]), "GSI1SK": f"{record['name']}#{record['id']}"}

    @staticmethod
    def _version_item(record: Record, data: bytes | None, s3_key: str | None) -> Record:
        return {**record, "PK": context_pk(record["tenant_id"], record["id"]), "SK": version_sk(record["version"]),
                "payload": data, "s3_key": s3_key}


class PayloadBucket:
    """The bus bucket: context payloads over the inline limit and multipart uploads (streams)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def key_for(self, tenant_id: str, context_id: str, version: int) -> str:
        return f"contexts/{tenant_id}/{context_id}/v{version}-{secrets.token_hex(6)}"

    def put(self, key: str, data: bytes, content_type: str, expiry: str | None = None) -> None:
        tagging = {"Tagging": f"{EXPIRY_TAG}={expiry}"} if expiry else {}
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **tagging)

    def set_expiry(self, key: str, expiry: str) -> None:
        """Tag an object the bucket's lifecycle rules expire (an uploaded stream's, once its context has a TTL)."""
        self._s3.put_object_tagging(Bucket=self.bucket, Key=key,
                                    Tagging={"TagSet": [{"Key": EXPIRY_TAG, "Value": expiry}]})

    def remove(self, keys: list[str]) -> None:
        for begin in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 keys a request
            batch = [{"Key": key} for key in keys[begin:begin + 1000]]
            self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def download_url(self, key: str, content_type: str, expires_seconds: int) -> str:
        """A presigned GET; S3 honours ``Range`` on it, so a reader resumes where it stopped."""
        params = {"Bucket": self.bucket, "Key": key, "ResponseContentType": content_type}
        return str(self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_seconds))

    def chunks(self, key: str, chunk_bytes: int = 8 << 20) -> Iterator[bytes]:
        """The object's bytes a chunk at a time (a Lambda never holds a large payload whole)."""
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(chunk_bytes)
        finally:
            body.close()

    # --- multipart uploads (streams) ------------------------------------------------------------------------

    def start_upload(self, key: str, content_type: str) -> str:
        answer = self._s3.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type,
                                                  ChecksumAlgorithm="SHA256")
        return str(answer["UploadId"])

    def part_url(self, key: str, upload_id: str, number: int, checksum: str, expires_seconds: int) -> str:
        """A presigned UploadPart that signs the part's SHA-256, so S3 refuses bytes that do not match it."""
        params = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": number,
                  "ChecksumSHA256": checksum}
        return str(self._s3.generate_presigned_url("upload_part", Params=params, ExpiresIn=expires_seconds))

    def received_parts(self, key: str, upload_id: str) -> list[Record]:
        """``{number, size, etag}`` of each part S3 holds (every ListParts page)."""
        received: list[Record] = []
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id}
        while True:
            try:
                answer = self._s3.list_parts(**request)
            except self._s3.exceptions.NoSuchUpload as exc:
                raise Conflict("S3 no longer holds this upload (completed, aborted or expired).",
                               slug="stream-upload-gone") from exc
            received += [{"number": int(p["PartNumber"]), "size": int(p["Size"]), "etag": str(p["ETag"]).strip('"')}
                         for p in answer.get("Parts", [])]
            if not answer.get("IsTruncated"):
                return received
            request["PartNumberMarker"] = answer["NextPartNumberMarker"]

    def finish_upload(self, key: str, upload_id: str, parts: list[tuple[int, str, str]]) -> None:
        """Complete with ``(number, etag, checksum)`` of every part, in order."""
        listing = [{"PartNumber": number, "ETag": f'"{etag}"', "ChecksumSHA256": checksum}
                   for number, etag, checksum in parts]
        try:
            self._s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                               MultipartUpload={"Parts": listing})
        except self._s3.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "BadDigest"):
                raise
            raise Conflict(f"S3 refused to assemble the parts ({code}).", slug="stream-parts-refused") from exc

    def abort_upload(self, key: str, upload_id: str) -> None:
        # Aborted before, or by the bucket's lifecycle rule: nothing left to free.
        with contextlib.suppress(self._s3.exceptions.NoSuchUpload):
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)


BusEvents = Announcer  # announces changes; a failed announcement never undoes the change
