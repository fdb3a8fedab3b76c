"""File rules: quota, uploads (presigned POST or multipart), checks of the stored bytes, malware scan results,
downloads and attachments. No boto3 here: the service talks to the ports below (store.py implements them).

Life of a file: ``pending`` (quota reserved, bytes on their way) → ``available`` once its bytes were checked
(and, where a malware scan is required, found clean), or ``rejected`` (bytes contradict what was declared) or
``infected``. Only ``available`` files are downloadable; rejected and infected bytes are moved to quarantine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from crewhouse.core.business_metrics import BusinessMetric, record
from crewhouse.core.errors import Conflict, Forbidden, NotFound, PayloadTooLarge, ValidationProblem
from crewhouse.core.identity import Identity
from crewhouse.files import keys, retention
from crewhouse.files.models.file import Attachment, File, MultipartInfo, Ocr, Scan
from crewhouse.files.settings import FilesSettings

if TYPE_CHECKING:
    # Built by the functions whose routes take and answer them (crewhouse.files.models).
    from crewhouse.files.models.parts import PartsRequest, PartUrls, UploadedParts
    from crewhouse.files.models.quota import Quota, QuotaPolicy
    from crewhouse.files.models.uploads import CompleteRequest, FileCreate, FileCreated

Item = dict[str, Any]
MAX_PARTS = 10_000
MIN_PART_BYTES = 5 << 20
RETRIES = 5


class FileStore(Protocol):
    def get(self, owner: str, file_id: str) -> Item | None: ...

    def batch_get(self, owner: str, file_ids: Iterable[str]) -> dict[str, Item]: ...

    def create_reserving(self, item: Item, limit: int) -> None: ...

    def change(self, owner: str, file_id: str, *, set_fields: Mapping[str, Any] | None = None,
               remove: Iterable[str] = (), expect: Mapping[str, Any] | None = None,
               quota: Mapping[str, int] | None = None, delete: bool = False) -> bool: ...

    def list_files(self, owner: str, *, status: str | None, content_type_prefix: str | None, limit: int,
                   start: dict[str, Any] | None) -> tuple[list[Item], dict[str, Any] | None]: ...

    def linked_file_ids(self, owner: str, kind: str, target_id: str, *, limit: int = 1000,
                        start: dict[str, Any] | None = None) -> tuple[list[str], dict[str, Any] | None]: ...

    def quota(self, owner: str) -> dict[str, int]: ...

    def user_limit(self, tenant_id: str) -> int | None: ...

    def put_user_limit(self, tenant_id: str, limit: int, updated_by: str, now: str) -> None: ...

    def has_target_kind(self, kind: str) -> bool: ...

    def target(self, owner: str, kind: str, target_id: str) -> Item | None: ...

    def attach(self, owner: str, file_id: str, kind: str, target_id: str, now: str) -> bool: ...

    def detach(self, owner: str, file_id: str, kind: str, target_id: str, now: str) -> None: ...

    def drop_link(self, owner: str, file_id: str, kind: str, target_id: str) -> None: ...

    def retention_policy(self, tenant_id: str) -> Item | None: ...

    def put_retention_policy(self, tenant_id: str, fields: Mapping[str, Any], *, expected_version: int) -> None: ...

    def retention_tenants(self, tenant_id: str | None = None) -> Iterator[Item]: ...

    def opened_before(self, tenant_id: str, day: str, *, owner: str | None = None, limit: int,
                      start: dict[str, Any] | None = None) -> tuple[list[Item], dict[str, Any] | None]: ...

    def opened_before_all(self, tenant_id: str, day: str, *, owner: str | None = None) -> Iterator[Item]: ...

    def opened_between_all(self, tenant_id: str, low: str, high: str) -> Iterator[Item]: ...

    def claim_for_retention(self, owner: str, file_id: str, last_opened_at: str, day: str) -> Item | None: ...

    def mark_warned(self, owner: str, file_id: str, last_opened_at: str, delete_after: str) -> bool: ...


class ObjectStore(Protocol):
    bucket: str

    def presigned_post(self, key: str, content_type: str, size: int, expires: int) -> tuple[str, dict[str, str]]: ...

    def create_multipart(self, key: str, content_type: str) -> str: ...

    def presign_part(self, key: str, upload_id: str, part_number: int, checksum_sha256: str,
                     expires: int) -> tuple[str, dict[str, str]]: ...

    def list_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]: ...

    def complete_multipart(self, key: str, upload_id: str, parts: list[dict[str, Any]]) -> None: ...

    def abort_multipart(self, key: str, upload_id: str) -> None: ...

    def presigned_get(self, key: str, expires: int, *, filename: str | None = None,
                      content_type: str | None = None) -> str: ...

    def stream(self, key: str, version_id: str | None = None, chunk_size: int = 1 << 20) -> Iterator[bytes]: ...

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def quarantine(self, source: str, target: str, version_id: str | None = None) -> bool: ...

    def delete(self, key: str, version_id: str | None = None) -> None: ...


class ListFilters(NamedTuple):
    # A NamedTuple, not a frozen dataclass: dataclasses compiles six methods when the class is defined
    # (~4 ms of every cold start). Its repr is the same, and the cursor scope is made from the repr.
    status: str | None = None
    content_type: str | None = None  # a prefix: "image/" or "application/pdf"
    attached_to: tuple[str, str] | None = None  # (kind, target id)


def part_layout(size: int, preferred: int) -> tuple[int, int]:
    """``(part size, part count)``: the preferred size, grown (in MiB steps) so that at most 10,000 parts are needed."""
    part = max(preferred, MIN_PART_BYTES)
    if math.ceil(size / part) > MAX_PARTS:
        part = math.ceil(size / MAX_PARTS / (1 << 20)) * (1 << 20)
    return part, math.ceil(size / part)


def new_ulid() -> str:
    """A new file id: a ULID (sortable by creation time)."""
    from ulid import ULID

    return str(ULID())


def to_file(item: Item) -> File:
    links = sorted(item.get("links") or [])
    attachments = [Attachment.model_validate({"kind": link.split(":", 1)[0], "id": link.split(":", 1)[1]})
                   for link in links]
    return File.model_validate({
        **item,
        "scan": Scan(status=item.get("scan_status", "pending"), threats=item.get("scan_threats") or []),
        "ocr": Ocr(status=item.get("ocr_status", "pending"), provider=item.get("ocr_provider"),
                   reason=item.get("ocr_reason"), text=item.get("ocr_text")),
        "has_thumbnail": bool(item.get("thumbnail_key")),
        "attachments": attachments,
        "multipart": MultipartInfo(part_size=item["part_size"], parts=item["parts"]) if item.get("part_size") else None,
    })


class FileService:
    def __init__(self, store: FileStore, objects: ObjectStore, settings: FilesSettings, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 new_id: Callable[[], str] = new_ulid) -> None:
        self.store = store
        self.objects = objects
        self.settings = settings
        self.clock = clock
        self.new_id = new_id

    # --- reading ------------------------------------------------------------------------------------

    def _load(self, identity: Identity, file_id: str) -> Item:
        item = self.store.get(keys.owner_pk(identity.tenant_id, identity.user_id), file_id)
        if item is None:
            raise NotFound(f"No file {file_id}.")  # also another user's or tenant's file
        return item

    def get(self, identity: Identity, file_id: str) -> File:
        return to_file(self._load(identity, file_id))

    def read(self, identity: Identity, file_id: str) -> File:
        """``GET /files/{id}``: the file with its OCR text, which opens it (retention)."""
        return to_file(self.opened(self._load(identity, file_id)))

    def opened(self, item: Item) -> Item:
        """Record that the owner opened the file (see crewhouse.files.retention): one conditional UpdateItem on
        the first open of a UTC day, none after. A file the retention sweep is deleting is gone (404)."""
        if item.get("retention_claim"):
            raise NotFound(f"No file {item['id']}.")
        now = self.clock()
        if item.get("last_opened_at") and retention.utc_day(str(item["last_opened_at"])) == now.astimezone(UTC).date():
            return item
        opened = {"last_opened_at": now.isoformat(), "warned_for": None}
        if not self.store.change(item["PK"], item["id"], set_fields=opened, expect={"retention_claim": None}):
            raise NotFound(f"No file {item['id']}.")  # deleted, or claimed by the sweep, meanwhile
        return {**item, **opened}

    def exists(self, identity: Identity, file_id: str) -> bool:
        return self.store.get(keys.owner_pk(identity.tenant_id, identity.user_id), file_id) is not None

    def stream_content(self, identity: Identity, file_id: str) -> Iterator[bytes]:
        """The stored bytes of one of the caller's files, in chunks (the caller checks its status first)."""
        return self.objects.stream(keys.object_key(identity.tenant_id, identity.user_id, file_id))

    def put_content(self, identity: Identity, file_id: str, data: bytes, content_type: str) -> None:
        """Write a created file's bytes from the server side (a job's result), where a presigned upload would:
        the files pipeline (scan, inspection, available) then runs on it like on any upload."""
        self.objects.put(keys.object_key(identity.tenant_id, identity.user_id, file_id), data, content_type)

    def list_files(self, identity: Identity, filters: ListFilters, limit: int, start: dict[str, Any] | None
                   ) -> tuple[list[File], dict[str, Any] | None]:
        owner = keys.owner_pk(identity.tenant_id, identity.user_id)
        if filters.attached_to:
            kind, target_id = filters.attached_to
            ids, last = self.store.linked_file_ids(owner, kind, target_id, limit=limit, start=start)
            found = self.store.batch_get(owner, ids)
            items = [found[i] for i in ids if i in found]
            items = [i for i in items if (not filters.status or i["status"] == filters.status)
                     and (not filters.content_type or str(i["content_type"]).startswith(filters.content_type))]
            return [to_file(i) for i in items], last
        items, last = self.store.list_files(owner, status=filters.status, content_type_prefix=filters.content_type,
                                            limit=limit, start=start)
        return [to_file(i) for i in items], last

    def quota(self, identity: Identity) -> Quota:
        from crewhouse.files.models.quota import Quota

        owner = keys.owner_pk(identity.tenant_id, identity.user_id)
        counters = self.store.quota(owner)
        limit = self._limit(identity.tenant_id)
        return Quota(used=counters["used"], reserved=counters["reserved"], limit=limit,
                     available=max(0, limit - counters["total"]))

    def _limit(self, tenant_id: str) -> int:
        configured = self.store.user_limit(tenant_id)
        return configured if configured is not None else self.settings.default_user_quota_bytes

    def set_quota_policy(self, identity: Identity, policy: QuotaPolicy) -> QuotaPolicy:
        if not identity.has_role("admin"):
            raise Forbidden("Only a tenant admin may change the storage quota.")
        self.store.put_user_limit(identity.tenant_id, policy.user_limit_bytes, identity.user_id,
                                  self.clock().isoformat())
        return policy

    # --- uploads ------------------------------------------------------------------------------------

    def create(self, identity: Identity, body: FileCreate) -> FileCreated:
        """Reserve the quota, then hand out where to send the bytes. Over quota: 413 before any byte is sent."""
        from crewhouse.files.models.uploads import FileCreated, MultipartUpload, PostUpload

        if body.size > self.settings.max_file_bytes:
            raise PayloadTooLarge(f"A file may have at most {self.settings.max_file_bytes} bytes.",
                                  slug="file-too-large")
        owner = keys.owner_pk(identity.tenant_id, identity.user_id)
        now = self.clock()
        file_id = self.new_id()
        multipart = body.size > self.settings.multipart_threshold_bytes
        item: Item = {
            "PK": owner, "SK": keys.file_sk(file_id), "id": file_id, "filename": body.filename,
            "content_type": body.content_type.lower(), "size": body.size,
            "declared_sha256": body.sha256.lower() if body.sha256 else None, "status": "pending",
            "quota_state": "reserved", "object_key": keys.object_key(identity.tenant_id, identity.user_id, file_id),
            "scan_status": "pending" if self.settings.malware_scan_required else "not_required",
            "ocr_status": "pending", "created_at": now.isoformat(), "updated_at": now.isoformat(),
            "last_opened_at": now.isoformat(),  # an upload opens the file (retention)
        }
        if multipart:
            item["part_size"], item["parts"] = part_layout(body.size, self.settings.multipart_part_bytes)
            item["upload_state"] = "opening"
        self.store.create_reserving(item, self._limit(identity.tenant_id))
        upload: PostUpload | MultipartUpload
        if multipart:
            try:
                upload_id = self.objects.create_multipart(item["object_key"], item["content_type"])
            except Exception:
                self._forget_pending(item)
                raise
            self.store.change(owner, file_id, set_fields={"upload_id": upload_id, "upload_state": "open"})
            item.update(upload_id=upload_id, upload_state="open")
            upload = MultipartUpload(part_size=item["part_size"], parts=item["parts"])
        else:
            expires = self.settings.upload_url_seconds
            url, fields = self.objects.presigned_post(item["object_key"], item["content_type"], body.size, expires)
            upload = PostUpload(url=url, fields=fields, expires_at=now + timedelta(seconds=expires))
        return FileCreated.model_validate({**to_file(item).model_dump(), "upload": upload})

    def _forget_pending(self, item: Item) -> None:
        size = int(item["size"])
        self.store.change(item["PK"], item["id"], delete=True, expect={"quota_state": "reserved"},
                          quota={"reserved": -size, "total": -size})

    def _open_multipart(self, identity: Identity, file_id: str) -> Item:
        item = self._load(identity, file_id)
        if not item.get("part_size"):
            raise Conflict("This file is not a multipart upload.", slug="not-multipart")
        if item["status"] != "pending" or item.get("upload_state") != "open":
            raise Conflict("This upload is already complete.", slug="upload-complete")
        return item

    def part_urls(self, identity: Identity, file_id: str, request: PartsRequest) -> PartUrls:
        from crewhouse.files.models.parts import PartUrl, PartUrls

        item = self._open_multipart(identity, file_id)
        wanted = list(dict.fromkeys(request.part_numbers))
        beyond = [n for n in wanted if n > item["parts"]]
        if beyond:
            raise ValidationProblem(f"This upload has {item['parts']} parts; no part {beyond[0]}.", errors=[
                {"path": "body.part_numbers", "message": "beyond the last part", "type": "range"}])
        missing = [n for n in wanted if n not in request.checksums_sha256]
        if missing:
            raise ValidationProblem(f"No SHA-256 for part {missing[0]}.", errors=[
                {"path": "body.checksums_sha256", "message": f"missing part {missing[0]}", "type": "missing"}])
        expires = self.settings.part_url_seconds
        parts = []
        for number in wanted:
            url, headers = self.objects.presign_part(item["object_key"], item["upload_id"], number,
                                                     request.checksums_sha256[number], expires)
            parts.append(PartUrl(part_number=number, url=url, headers=headers))
        return PartUrls(parts=parts, expires_at=self.clock() + timedelta(seconds=expires))

    def uploaded_parts(self, identity: Identity, file_id: str) -> UploadedParts:
        from crewhouse.files.models.parts import UploadedPart, UploadedParts

        item = self._open_multipart(identity, file_id)
        listed = self.objects.list_parts(item["object_key"], item["upload_id"])
        present = {p["part_number"] for p in listed}
        return UploadedParts(parts=[UploadedPart(**p) for p in listed], part_size=item["part_size"],
                             parts_expected=item["parts"],
                             missing=[n for n in range(1, item["parts"] + 1) if n not in present])

    def complete(self, identity: Identity, file_id: str, request: CompleteRequest) -> File:
        """Check every part against what S3 holds (number, size, ETag, SHA-256 checksum), then assemble."""
        item = self._open_multipart(identity, file_id)
        listed = {p["part_number"]: p for p in self.objects.list_parts(item["object_key"], item["upload_id"])}
        expected = range(1, item["parts"] + 1)
        problems: list[dict[str, Any]] = []
        missing = [n for n in expected if n not in listed]
        if missing:
            problems.append({"path": "parts", "message": f"S3 holds no part {missing[0]} ({len(missing)} missing)",
                             "type": "missing-part"})
        claimed = {p.part_number: p.etag.strip('"') for p in request.parts}
        for number in expected:
            part = listed.get(number)
            if part is None:
                continue
            size = item["part_size"] if number < item["parts"] else item["size"] - item["part_size"] * (number - 1)
            if part["size"] != size:
                problems.append({"path": f"parts.{number}", "message": f"{part['size']} bytes, expected {size}",
                                 "type": "part-size"})
            if claimed.get(number) != part["etag"]:
                problems.append({"path": f"parts.{number}", "message": "the ETag differs from the part S3 holds",
                                 "type": "etag"})
            if not part.get("checksum_sha256"):
                problems.append({"path": f"parts.{number}", "message": "S3 holds no SHA-256 checksum for this part",
                                 "type": "checksum"})
        extra = sorted(set(claimed) - set(expected))
        if extra:
            problems.append({"path": "parts", "message": f"no part {extra[0]} belongs to this upload", "type": "extra"})
        if problems:
            raise Conflict("The uploaded parts do not match this file; upload the parts again and retry.",
                           slug="parts-mismatch", errors=problems)
        if not self.store.change(item["PK"], file_id, set_fields={"upload_state": "completing"},
                                 expect={"status": "pending", "upload_state": "open"}):
            raise Conflict("This upload changed meanwhile.", slug="upload-complete")
        try:
            self.objects.complete_multipart(item["object_key"], item["upload_id"], [listed[n] for n in expected])
        except Exception:
            self.store.change(item["PK"], file_id, set_fields={"upload_state": "open"},
                              expect={"upload_state": "completing"})
            raise
        self.store.change(item["PK"], file_id, set_fields={"upload_state": "completed",
                                                           "updated_at": self.clock().isoformat()})
        return to_file({**item, "upload_state": "completed"})

    def abort(self, identity: Identity, file_id: str) -> None:
        """Abandon a multipart upload: S3 drops the parts and the reserved quota is released."""
        item = self._open_multipart(identity, file_id)
        self.objects.abort_multipart(item["object_key"], item["upload_id"])
        self._delete_item(item)

    # --- downloads ----------------------------------------------------------------------------------

    def download_url(self, identity: Identity, file_id: str) -> str:
        item = self._load(identity, file_id)
        if item["status"] != "available":
            raise NotFound(f"File {file_id} is not available for download ({item['status']}).")
        item = self.opened(item)
        return self.objects.presigned_get(item["object_key"], self.settings.download_url_seconds,
                                          filename=item["filename"], content_type=item["content_type"])

    def thumbnail_url(self, identity: Identity, file_id: str) -> str:
        item = self._load(identity, file_id)
        if item["status"] != "available" or not item.get("thumbnail_key"):
            raise NotFound(f"File {file_id} has no thumbnail.")
        item = self.opened(item)
        return self.objects.presigned_get(item["thumbnail_key"], self.settings.download_url_seconds,
                                          content_type="image/png")

    # --- deleting -----------------------------------------------------------------------------------

    def delete(self, identity: Identity, file_id: str) -> None:
        self.remove(self._load(identity, file_id))

    def remove(self, item: Item) -> None:
        """Delete a file as ``DELETE /files/{id}`` does (and the retention sweep): abort an open multipart
        upload, detach it from its tasks and notes, delete its bytes and thumbnail, then the item (quota once)."""
        file_id = item["id"]
        if item.get("upload_id") and item.get("upload_state") in ("opening", "open"):
            self.objects.abort_multipart(item["object_key"], item["upload_id"])
        now = self.clock().isoformat()
        for link in sorted(item.get("links") or []):
            kind, target_id = link.split(":", 1)
            if self.store.has_target_kind(kind):
                self.store.detach(item["PK"], file_id, kind, target_id, now)
            else:
                self.store.drop_link(item["PK"], file_id, kind, target_id)
        self._delete_item(item)

    def _delete_item(self, item: Item) -> None:
        """Remove the bytes and the item, giving its bytes back to the quota exactly once."""
        for key in (item.get("object_key"), item.get("thumbnail_key")):
            if key and item["status"] in ("pending", "available"):
                self.objects.delete(key)
        for _ in range(RETRIES):
            state = item.get("quota_state")
            size = int(item["size"])
            quota = ({"reserved": -size, "total": -size} if state == "reserved"
                     else {"used": -size, "total": -size} if state == "used" else None)
            if self.store.change(item["PK"], item["id"], delete=True, expect={"quota_state": state}, quota=quota):
                return
            fresh = self.store.get(item["PK"], item["id"])
            if fresh is None:
                return  # deleted meanwhile
            item = fresh
        raise Conflict("The file changed meanwhile; try again.")

    # --- attachments --------------------------------------------------------------------------------

    def attach(self, identity: Identity, file_id: str, kind: str, target_id: str) -> File:
        item = self._load(identity, file_id)
        if item["status"] not in ("pending", "available"):
            raise Conflict(f"A {item['status']} file cannot be attached.", slug="file-not-attachable")
        if not self.store.has_target_kind(kind):
            raise NotFound(f"No {kind} {target_id}.")
        owner = item["PK"]
        if not self.store.attach(owner, file_id, kind, target_id, self.clock().isoformat()):
            raise NotFound(f"No {kind} {target_id}.")  # also another user's task or note
        return self.get(identity, file_id)

    def detach(self, identity: Identity, file_id: str, kind: str, target_id: str) -> File:
        item = self._load(identity, file_id)
        if f"{kind}:{target_id}" not in (item.get("links") or []):
            raise NotFound(f"File {file_id} is not attached to {kind} {target_id}.")
        if self.store.has_target_kind(kind):
            self.store.detach(item["PK"], file_id, kind, target_id, self.clock().isoformat())
        else:
            self.store.drop_link(item["PK"], file_id, kind, target_id)
        return self.get(identity, file_id)

    def target_deleted(self, tenant_id: str, user_id: str, kind: str, target_id: str) -> list[str]:
        """A task or note is gone: unlink its files, and delete those left attached to nothing. Returns them."""
        owner = keys.owner_pk(tenant_id, user_id)
        file_ids: list[str] = []
        start: dict[str, Any] | None = None
        while True:
            ids, start = self.store.linked_file_ids(owner, kind, target_id, start=start)
            file_ids.extend(ids)
            if not start:
                break
        deleted = []
        for file_id in file_ids:
            self.store.drop_link(owner, file_id, kind, target_id)
            item = self.store.get(owner, file_id)
            if item is not None and not item.get("links"):
                if item.get("upload_id") and item.get("upload_state") in ("opening", "open"):
                    self.objects.abort_multipart(item["object_key"], item["upload_id"])
                self._delete_item(item)
                deleted.append(file_id)
        return deleted

    # --- checks of the stored bytes (workers) ---------------------------------------------------------

    def _file_of_object(self, key: str) -> tuple[str, str, str, Item] | str:
        """Tenant, user, file id and item of the file an uploaded object belongs to; else ``ignored`` (not an
        upload's key) or ``orphan`` (the file is gone)."""
        parsed = keys.parse_object_key(key)
        if parsed is None:
            return "ignored"
        tenant_id, user_id, file_id = parsed
        item = self.store.get(keys.owner_pk(tenant_id, user_id), file_id)
        return (tenant_id, user_id, file_id, item) if item is not None else "orphan"

    def process_upload(self, key: str, version_id: str | None, ocr: Any) -> str:
        """S3 reported the object created: check it, settle the quota, thumbnail and OCR it. Returns what
        happened (``ignored``, ``orphan``, ``duplicate``, ``rejected``, ``accepted``). Safe to repeat."""
        from crewhouse.files import inspection
        from crewhouse.files.ocr import Document

        located = self._file_of_object(key)
        if isinstance(located, str):
            if located == "orphan":
                self.objects.delete(key, version_id)  # the file was deleted before its bytes arrived
            return located
        tenant_id, user_id, file_id, item = located
        owner = keys.owner_pk(tenant_id, user_id)
        if item["status"] != "pending" or item.get("quota_state") != "reserved":
            return "duplicate"
        declared = inspection.normalise(item["content_type"])
        wants_bytes = declared in inspection.THUMBNAIL_TYPES | inspection.OCR_TYPES
        found = inspection.digest(self.objects.stream(key, version_id),
                                  keep_up_to=self.settings.ocr_max_bytes if wants_bytes else 0)
        detected = inspection.sniff(found.head)
        size = int(item["size"])
        reason = None
        if found.size != size:
            reason = f"{found.size} bytes arrived, {size} were declared"
        elif item.get("declared_sha256") and item["declared_sha256"] != found.sha256:
            reason = "the SHA-256 of the bytes differs from the declared one"
        else:
            reason = inspection.contradiction(declared, detected)
        now = self.clock().isoformat()
        facts = {"sha256": found.sha256, "detected_type": detected, "inspected": True, "updated_at": now,
                 "version_id": version_id}
        if reason:
            self.objects.quarantine(key, keys.quarantine_key(tenant_id, user_id, file_id), version_id)
            self.store.change(owner, file_id, set_fields={**facts, "status": "rejected", "rejection_reason": reason,
                                                          "quota_state": "released", "ocr_status": "not_applicable"},
                              expect={"status": "pending", "quota_state": "reserved"},
                              quota={"reserved": -size, "total": -size})
            return "rejected"
        readable = (detected or declared) in inspection.OCR_TYPES
        ready = item.get("scan_status") in ("clean", "not_required")
        if not self.store.change(owner, file_id, set_fields={
                **facts, "status": "available" if ready else "pending", "quota_state": "used", "last_opened_at": now,
                "ocr_status": "pending" if readable else "not_applicable"},
                expect={"status": "pending", "quota_state": "reserved"}, quota={"reserved": -size, "used": size}):
            return "duplicate"
        record(BusinessMetric.FILES_UPLOADED, tenant_id)  # the bytes arrived and passed the checks
        if not ready:
            self._promote(owner, file_id)
        live = {"status": ["pending", "available"]}
        if found.data is not None and (detected or declared) in inspection.THUMBNAIL_TYPES:
            picture = inspection.thumbnail(found.data, self.settings.thumbnail_pixels)
            if picture is not None:
                thumbnail_key = keys.thumbnail_key(tenant_id, user_id, file_id)
                self.objects.put(thumbnail_key, picture, "image/png")
                self.store.change(owner, file_id, set_fields={"thumbnail_key": thumbnail_key}, expect=live)
        if readable:
            result = ocr.extract(Document(bucket=self.objects.bucket, key=key, version_id=version_id,
                                          content_type=detected or declared, size=found.size, data=found.data))
            self.store.change(owner, file_id, expect=live, set_fields={
                "ocr_status": result.status, "ocr_provider": result.provider, "ocr_text": result.text or None,
                "ocr_reason": result.reason, "updated_at": self.clock().isoformat()})
        return "accepted"

    def _promote(self, owner: str, file_id: str) -> bool:
        """Available once both the byte checks and the malware scan passed (whichever finished last)."""
        return self.store.change(owner, file_id, set_fields={"status": "available",
                                                             "updated_at": self.clock().isoformat()},
                                 expect={"status": "pending", "inspected": True, "quota_state": "used",
                                         "scan_status": "clean"})

    def apply_scan_result(self, key: str, version_id: str | None, result: str, threats: list[str]) -> str:
        """GuardDuty scanned an upload: clean files may become available; anything else is quarantined."""
        located = self._file_of_object(key)
        if isinstance(located, str):
            return located
        tenant_id, user_id, file_id, item = located
        owner = keys.owner_pk(tenant_id, user_id)
        if item.get("version_id") and version_id and item["version_id"] != version_id:
            return "stale"  # a scan of bytes this file no longer has
        if result == "NO_THREATS_FOUND":
            self.store.change(owner, file_id, set_fields={"scan_status": "clean"},
                              expect={"scan_status": ["pending", "clean"]})
            self._promote(owner, file_id)
            return "clean"
        infected = result == "THREATS_FOUND"
        if not infected and item["status"] in ("rejected", "infected"):
            return "ignored"
        self.objects.quarantine(item["object_key"], keys.quarantine_key(tenant_id, user_id, file_id), version_id)
        if item.get("thumbnail_key"):
            self.objects.delete(item["thumbnail_key"])
        for _ in range(RETRIES):
            size = int(item["size"])
            state = item.get("quota_state")
            quota = ({"reserved": -size, "total": -size} if state == "reserved"
                     else {"used": -size, "total": -size} if state == "used" else None)
            fields: dict[str, Any] = {"scan_status": "infected" if infected else "failed", "scan_threats": threats,
                                      "quota_state": "released", "thumbnail_key": None,
                                      "updated_at": self.clock().isoformat()}
            if infected:
                fields["status"] = "infected"
            elif item["status"] in ("pending", "available"):
                fields.update(status="rejected",
                              rejection_reason=f"the malware scan could not check these bytes ({result})")
            if self.store.change(owner, file_id, set_fields=fields, expect={"quota_state": state}, quota=quota):
                return "infected" if infected else "unscannable"
            fresh = self.store.get(owner, file_id)
            if fresh is None:
                return "orphan"
            item = fresh
        raise Conflict("The file kept changing while its scan result was recorded.")
