"""DynamoDB and S3 access for files: the only module that knows the table's and the bucket's key shapes
(see keys.py), and the only one that writes another context's item (a task's or note's ``attachments``).

Quota and file status change together in one transaction, each step conditional on the file's
``quota_state`` (``reserved`` → ``used`` → ``released``), so a retried event can never count twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from crewhouse.core import table as t
from crewhouse.core.errors import Conflict, PayloadTooLarge, PreconditionFailed
from crewhouse.files import keys
from crewhouse.files.retention import utc_day

Item = dict[str, Any]
Page = tuple[list[Item], dict[str, Any] | None]
BY_STATUS = "GSI1"  # also lists the tenants whose retention policy is enabled
BY_OPENED = "GSI2"
OPENED_PAGE = 1000  # index items are small (the GSI projects a few attributes): ~1 MB a Query
MAX_ATTACHMENTS = 100  # the tasks model accepts at most 100 attachments
_REVISION = {":zero": 0, ":one": 1}  # a target's version moves on with its attachments


@dataclass(frozen=True)
class TargetTable:
    """Another context's table whose items carry an ``attachments`` list of file ids."""

    table: str
    sort_key_prefix: str  # TASK# / NOTE#

    def key(self, owner: str, target_id: str) -> t.ItemKey:
        return owner, f"{self.sort_key_prefix}{target_id}"


def target_tables(tasks_table: str, notes_table: str | None) -> dict[str, TargetTable]:
    # The owning contexts' key shapes, named here rather than imported: importing their wiring would make
    # every files function load (and ship) the notes and tasks dependencies (crewhouse_cdk.layer).
    from crewhouse.tasks import keys as task_keys

    tables = {"task": TargetTable(tasks_table, task_keys.task_sk(""))}
    if notes_table:
        tables["note"] = TargetTable(notes_table, "NOTE#")  # crewhouse.notes.keys.note_sk
    return tables


def _expectations(expect: Mapping[str, Any]) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """``expect`` as condition parts: a value must match, a collection lists the allowed values, None is absent."""
    conditions, names, values = [], {}, {}
    for i, (field, wanted) in enumerate(expect.items()):
        names[f"#e{i}"] = field
        if wanted is None:
            conditions.append(f"attribute_not_exists(#e{i})")
        elif isinstance(wanted, list | tuple | set | frozenset):
            options = []
            for j, option in enumerate(wanted):
                values[f":e{i}_{j}"] = option
                options.append(f":e{i}_{j}")
            conditions.append(f"#e{i} IN ({', '.join(options)})")
        else:
            values[f":e{i}"] = wanted
            conditions.append(f"#e{i} = :e{i}")
    return conditions, names, values


class DynamoFileStore:
    def __init__(self, table: t.Table, targets: Mapping[str, TargetTable] | None = None) -> None:
        self._table = table
        self._targets = dict(targets or {})

    # --- files ----------------------------------------------------------------------------------------

    def get(self, owner: str, file_id: str) -> Item | None:
        return self._table.get((owner, keys.file_sk(file_id)))

    def batch_get(self, owner: str, file_ids: Iterable[str]) -> dict[str, Item]:
        found = self._table.get_many((owner, keys.file_sk(i)) for i in file_ids)
        return {str(item["id"]): item for item in found.values()}

    def create_reserving(self, item: Item, limit: int) -> None:
        """Put a new pending file and reserve its size in the owner's quota, atomically: two uploads racing
        for the last bytes cannot both pass, because the quota item's ``total`` is checked and raised in
        one conditional write."""
        size = int(item["size"])
        room = limit - size
        if room < 0:
            raise PayloadTooLarge(f"The file ({size} bytes) exceeds your storage quota of {limit} bytes.",
                                  slug="quota-exceeded")
        stored = {**item, "GSI1PK": keys.status_pk(item["PK"], item["status"]),
                  "GSI1SK": f"{item['created_at']}#{item['id']}", **_opened_keys(item["PK"], item)}
        try:
            self._table.transact([
                t.new(stored),
                t.change((item["PK"], keys.QUOTA_SK), "ADD #total :s, #reserved :s",
                         condition="attribute_not_exists(#total) OR #total <= :room",
                         names={"#total": "total", "#reserved": "reserved"}, values={":s": size, ":room": room}),
            ])
        except t.Cancelled as cancelled:
            if "ConditionalCheckFailed" not in cancelled.reasons:
                raise
            if cancelled.failed(0):
                raise Conflict("A file with this id already exists.") from cancelled
            raise PayloadTooLarge(f"The file ({size} bytes) does not fit in your storage quota of {limit} bytes.",
                                  slug="quota-exceeded") from cancelled

    def change(self, owner: str, file_id: str, *, set_fields: Mapping[str, Any] | None = None,
               remove: Iterable[str] = (), expect: Mapping[str, Any] | None = None,
               quota: Mapping[str, int] | None = None, delete: bool = False) -> bool:
        """One conditional change of a file (and, in the same transaction, of the owner's quota counters).

        ``expect`` maps attributes to the values they must have (``None``: must be absent); ``quota`` adds
        to ``used``/``reserved``/``total``. False when the file is gone or not as expected.
        """
        conditions, names, values = _expectations(expect or {})
        condition = " AND ".join(["attribute_exists(PK)", *conditions])
        key = (owner, keys.file_sk(file_id))
        expression = ""
        if delete:
            write = t.removal(key, condition=condition, names=names, values=values)
        else:
            fields = dict(set_fields or {})
            if "status" in fields:
                fields["GSI1PK"] = keys.status_pk(owner, fields["status"])  # GSI1SK (created_at#id) stays
            if fields.get("last_opened_at"):
                fields.update(_opened_keys(owner, {"id": file_id, "last_opened_at": fields["last_opened_at"]}))
            sets, removes = [], []
            for i, (field, value) in enumerate(fields.items()):
                names[f"#s{i}"] = field
                if value is None:
                    removes.append(f"#s{i}")
                else:
                    values[f":s{i}"] = value
                    sets.append(f"#s{i} = :s{i}")
            for i, field in enumerate(remove):
                names[f"#r{i}"] = field
                removes.append(f"#r{i}")
            expression = ((f"SET {', '.join(sets)}" if sets else "")
                          + (f" REMOVE {', '.join(removes)}" if removes else "")).strip()
            write = t.change(key, expression, condition=condition, names=names, values=values)
        if quota:
            try:
                self._table.transact([write, self._quota_change(owner, quota)])
            except t.Cancelled as cancelled:
                if "ConditionalCheckFailed" in cancelled.reasons:
                    return False
                raise
            return True
        if delete:
            return self._table.delete_where(key, condition, names=names, values=values)
        return self._table.update(key, expression, condition=condition, names=names, values=values) is not None

    @staticmethod
    def _quota_change(owner: str, quota: Mapping[str, int]) -> t.Write:
        return t.change((owner, keys.QUOTA_SK), "ADD " + ", ".join(f"#q{i} :q{i}" for i in range(len(quota))),
                        names={f"#q{i}": field for i, field in enumerate(quota)},
                        values={f":q{i}": int(delta) for i, delta in enumerate(quota.values())})

    def list_files(self, owner: str, *, status: str | None, content_type_prefix: str | None, limit: int,
                   start: dict[str, Any] | None) -> Page:
        """Newest first; by status through GSI1, else the owner's ``FILE#`` items."""
        where = (t.whole(keys.status_pk(owner, status), BY_STATUS) if status
                 else t.starting_with(owner, keys.file_sk("")))
        filters = {"content_type": t.BeginsWith(content_type_prefix)} if content_type_prefix else None
        return self._table.query(where, limit=limit, start=start, forward=False, filters=filters)

    def linked_file_ids(self, owner: str, kind: str, target_id: str, *, limit: int = 1000,
                        start: dict[str, Any] | None = None) -> tuple[list[str], dict[str, Any] | None]:
        items, last = self._table.query(t.starting_with(owner, keys.link_prefix(kind, target_id)), limit=limit,
                                        start=start, projection=["file_id"])
        return [str(i["file_id"]) for i in items], last

    # --- quota ----------------------------------------------------------------------------------------

    def quota(self, owner: str) -> dict[str, int]:
        found = self._table.get((owner, keys.QUOTA_SK)) or {}
        return {name: int(found.get(name, 0)) for name in ("used", "reserved", "total")}

    def user_limit(self, tenant_id: str) -> int | None:
        found = self._table.get((keys.tenant_pk(tenant_id), keys.QUOTA_POLICY_SK), consistent=False)
        return int(found["user_limit_bytes"]) if found else None

    def put_user_limit(self, tenant_id: str, limit: int, updated_by: str, now: str) -> None:
        self._table.put({"PK": keys.tenant_pk(tenant_id), "SK": keys.QUOTA_POLICY_SK, "user_limit_bytes": limit,
                         "updated_by": updated_by, "updated_at": now})

    # --- retention ------------------------------------------------------------------------------------

    def retention_policy(self, tenant_id: str) -> Item | None:
        return self._table.get((keys.tenant_pk(tenant_id), keys.RETENTION_POLICY_SK))

    def put_retention_policy(self, tenant_id: str, fields: Mapping[str, Any], *, expected_version: int) -> None:
        """Write the policy if it is still at ``expected_version`` (0: none yet); PreconditionFailed otherwise.
        While enabled, the item is listed in GSI1 under ``RETENTION#ENABLED`` for the sweep."""
        item = {**fields, "PK": keys.tenant_pk(tenant_id), "SK": keys.RETENTION_POLICY_SK, "tenant_id": tenant_id}
        if fields.get("enabled"):
            item.update(GSI1PK=keys.RETENTION_ENABLED, GSI1SK=tenant_id)
        stale = "The retention policy changed meanwhile; fetch it again and retry."
        if expected_version:
            self._table.replace(item, expected_version, stale=stale)
            return
        try:
            self._table.put_new(item)
        except Conflict as exc:
            raise PreconditionFailed(stale) from exc

    def retention_tenants(self, tenant_id: str | None = None) -> Iterator[Item]:
        """The enabled policies (GSI1, one Query per 1 MB), or only ``tenant_id``'s when it is enabled."""
        if tenant_id is not None:
            found = self.retention_policy(tenant_id)
            if found and found.get("enabled"):
                yield found
            return
        start: dict[str, Any] | None = None
        while True:
            items, start = self._table.query(t.whole(keys.RETENTION_ENABLED, BY_STATUS), limit=OPENED_PAGE,
                                             start=start)
            yield from items
            if not start:
                return

    def opened_before(self, tenant_id: str, day: str, *, owner: str | None = None, limit: int,
                      start: dict[str, Any] | None = None) -> Page:
        """The tenant's files last opened before ``day`` (``YYYY-MM-DD``), longest unopened first; ``owner``
        keeps one user's (a filter: the Query reads the tenant's range)."""
        return self._table.query(t.beyond(keys.opened_pk(tenant_id), day, forward=False, index=BY_OPENED),
                                 limit=limit, start=start, filters={"PK": owner} if owner else None)

    def opened_before_all(self, tenant_id: str, day: str, *, owner: str | None = None) -> Iterator[Item]:
        start: dict[str, Any] | None = None
        while True:
            items, start = self.opened_before(tenant_id, day, owner=owner, limit=OPENED_PAGE, start=start)
            yield from items
            if not start:
                return

    def opened_between_all(self, tenant_id: str, low: str, high: str) -> Iterator[Item]:
        """The tenant's files last opened on ``low`` .. the day before ``high`` (``YYYY-MM-DD``)."""
        start: dict[str, Any] | None = None
        while True:
            items, start = self._table.query(t.between(keys.opened_pk(tenant_id), low, high, BY_OPENED),
                                             limit=OPENED_PAGE, start=start)
            yield from items
            if not start:
                return

    def claim_for_retention(self, owner: str, file_id: str, last_opened_at: str, day: str) -> Item | None:
        """Mark a due file as being deleted, if nobody opened it since the sweep read ``last_opened_at``; the
        claimed item (one UpdateItem, ALL_NEW), or None."""
        return self._table.update((owner, keys.file_sk(file_id)), "SET retention_claim = :day",
                                  condition="attribute_exists(PK) AND last_opened_at = :seen",
                                  values={":day": day, ":seen": last_opened_at}, return_new=True)

    def mark_warned(self, owner: str, file_id: str, last_opened_at: str, delete_after: str) -> bool:
        return self.change(owner, file_id, set_fields={"warned_for": delete_after},
                           expect={"last_opened_at": last_opened_at, "retention_claim": None})

    # --- attachments ----------------------------------------------------------------------------------

    def has_target_kind(self, kind: str) -> bool:
        return kind in self._targets

    def target(self, owner: str, kind: str, target_id: str) -> Item | None:
        target = self._targets[kind]
        return self._table.sibling(target.table).get(target.key(owner, target_id), projection=["PK", "attachments"])

    def attach(self, owner: str, file_id: str, kind: str, target_id: str, now: str) -> bool:
        """Link the file and list it on the target, in one transaction. False if either is gone."""
        target_table = self._targets[kind]
        target = self.target(owner, kind, target_id)
        if target is None:
            return False
        writes = [
            t.change((owner, keys.file_sk(file_id)), "ADD links :link", condition="attribute_exists(PK)",
                     values={":link": {f"{kind}:{target_id}"}}),
            t.overwrite({"PK": owner, "SK": keys.link_sk(kind, target_id, file_id), "file_id": file_id, "kind": kind,
                         "target_id": target_id, "created_at": now}),
        ]
        listed = list(target.get("attachments") or [])
        if file_id not in listed:
            if len(listed) >= MAX_ATTACHMENTS:
                raise Conflict(f"The {kind} already has {MAX_ATTACHMENTS} attachments.", slug="too-many-attachments")
            writes.append(t.change(
                target_table.key(owner, target_id),
                "SET attachments = list_append(if_not_exists(attachments, :empty), :file), "
                "version = if_not_exists(version, :zero) + :one, updated_at = :now",
                condition="attribute_exists(PK) AND (attribute_not_exists(attachments) OR "
                          "(NOT contains(attachments, :id) AND size(attachments) < :max))",
                values={":empty": [], ":file": [file_id], ":id": file_id, ":now": now, ":max": MAX_ATTACHMENTS,
                        **_REVISION})._replace(table=target_table.table))
        try:
            self._table.transact(writes)
        except t.Cancelled as cancelled:
            if "ConditionalCheckFailed" in cancelled.reasons:
                return False
            raise
        return True

    def detach(self, owner: str, file_id: str, kind: str, target_id: str, now: str) -> None:
        """Unlink the file, and take it off the target's list if the target still exists."""
        unlink = self._unlink(owner, file_id, kind, target_id, condition="attribute_exists(PK)")
        target_table = self._targets.get(kind)
        listed = list(((self.target(owner, kind, target_id) if target_table else None) or {}).get("attachments")
                      or [])
        for _ in range(3):  # the target's list may shift under us: read it again and retry
            writes = list(unlink)
            if target_table and file_id in listed:
                index = listed.index(file_id)
                writes.append(t.change(
                    target_table.key(owner, target_id),
                    f"REMOVE attachments[{index}] SET version = if_not_exists(version, :zero) + :one, "
                    "updated_at = :now",
                    condition=f"attachments[{index}] = :id", values={":id": file_id, ":now": now, **_REVISION},
                )._replace(table=target_table.table))
            try:
                self._table.transact(writes)
                return
            except t.Cancelled as cancelled:
                if "ConditionalCheckFailed" not in cancelled.reasons or not target_table:
                    raise
                listed = list((self.target(owner, kind, target_id) or {}).get("attachments") or [])
        raise Conflict("The attachment changed meanwhile; try again.")

    def drop_link(self, owner: str, file_id: str, kind: str, target_id: str) -> None:
        """Forget a link whose target is gone (no write to the target)."""
        self._table.transact(self._unlink(owner, file_id, kind, target_id))

    @staticmethod
    def _unlink(owner: str, file_id: str, kind: str, target_id: str, condition: str | None = None) -> list[t.Write]:
        """Take the link off the file and delete the link item."""
        return [t.change((owner, keys.file_sk(file_id)), "DELETE links :link", condition=condition,
                         values={":link": {f"{kind}:{target_id}"}}),
                t.removal((owner, keys.link_sk(kind, target_id, file_id)))]


def _opened_keys(owner: str, item: Mapping[str, Any]) -> Item:
    """GSI2's keys for a file opened at ``item["last_opened_at"]`` (none without it)."""
    if not item.get("last_opened_at"):
        return {}
    tenant_id, user_id = keys.owner_parts(owner)
    day = utc_day(str(item["last_opened_at"])).isoformat()
    return {"GSI2PK": keys.opened_pk(tenant_id), "GSI2SK": keys.opened_sk(day, user_id, str(item["id"]))}


class S3Objects:
    """The files bucket. Bytes never pass through Lambda on upload or download: clients get presigned URLs."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def presigned_post(self, key: str, content_type: str, size: int, expires: int) -> tuple[str, dict[str, str]]:
        """A POST policy that pins the key, the Content-Type and the exact length."""
        post = self._s3.generate_presigned_post(
            Bucket=self.bucket, Key=key, Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", size, size]], ExpiresIn=expires)
        return str(post["url"]), {k: str(v) for k, v in post["fields"].items()}

    def create_multipart(self, key: str, content_type: str) -> str:
        response = self._s3.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type,
                                                    ChecksumAlgorithm="SHA256")
        return str(response["UploadId"])

    def presign_part(self, key: str, upload_id: str, part_number: int, checksum_sha256: str,
                     expires: int) -> tuple[str, dict[str, str]]:
        url = self._s3.generate_presigned_url("upload_part", Params={
            "Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number,
            "ChecksumSHA256": checksum_sha256}, ExpiresIn=expires)
        return str(url), {"x-amz-checksum-sha256": checksum_sha256}

    def list_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        marker = 0
        while True:
            response = self._s3.list_parts(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker)
            for part in response.get("Parts", []):
                parts.append({"part_number": int(part["PartNumber"]), "etag": str(part["ETag"]).strip('"'),
                              "size": int(part["Size"]), "checksum_sha256": part.get("ChecksumSHA256")})
            if not response.get("IsTruncated"):
                return parts
            marker = int(response["NextPartNumberMarker"])

    def complete_multipart(self, key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
        listed = []
        for part in parts:
            entry = {"PartNumber": part["part_number"], "ETag": f'"{part["etag"]}"'}
            if part.get("checksum_sha256"):
                entry["ChecksumSHA256"] = part["checksum_sha256"]
            listed.append(entry)
        self._s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                           MultipartUpload={"Parts": listed})

    def abort_multipart(self, key: str, upload_id: str) -> None:
        import contextlib

        with contextlib.suppress(self._s3.exceptions.NoSuchUpload):  # already aborted, or expired by the lifecycle
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def presigned_get(self, key: str, expires: int, *, filename: str | None = None,
                      content_type: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if filename:
            from urllib.parse import quote

            params["ResponseContentDisposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
        if content_type:
            params["ResponseContentType"] = content_type
        return str(self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires))

    def stream(self, key: str, version_id: str | None = None, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        body = self._s3.get_object(**params)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def quarantine(self, source: str, target: str, version_id: str | None = None) -> bool:
        """Move the bytes out of ``uploads/`` (tagged) so no presigned GET of the upload's key finds them."""
        copy_source: dict[str, str] = {"Bucket": self.bucket, "Key": source}
        if version_id:
            copy_source["VersionId"] = version_id
        try:
            self._s3.copy_object(Bucket=self.bucket, Key=target, CopySource=copy_source,
                                 TaggingDirective="REPLACE", Tagging="crewhouse-quarantine=true")
        except self._s3.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404", "NoSuchVersion"):
                return False
            raise
        self.delete(source, version_id)
        return True

    def delete(self, key: str, version_id: str | None = None) -> None:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        self._s3.delete_object(**params)
