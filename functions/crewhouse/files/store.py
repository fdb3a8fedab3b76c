"""DynamoDB and S3 access for files: the only module that knows the table's and the bucket's key shapes
(see keys.py), and the only one that writes another context's item (a task's or note's ``attachments``).

Quota and file status change together in one transaction, each step conditional on the file's
``quota_state`` (``reserved`` → ``used`` → ``released``), so a retried event can never count twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from crewhouse.core.dynamo import ItemCodec
from crewhouse.core.errors import Conflict, PayloadTooLarge
from crewhouse.files import keys

Item = dict[str, Any]
Page = tuple[list[Item], dict[str, Any] | None]
INDEX_STATUS = "GSI1"
MAX_ATTACHMENTS = 100  # the tasks model accepts at most 100 attachments




def _cancelled_by_condition(exc: Exception) -> bool:
    response = getattr(exc, "response", {}) or {}
    code = response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = [r.get("Code") for r in response.get("CancellationReasons", [])]
        return "ConditionalCheckFailed" in reasons
    return False


@dataclass(frozen=True)
class TargetTable:
    """Another context's table whose items carry an ``attachments`` list of file ids."""

    table: str
    sort_key_prefix: str  # TASK# / NOTE#

    def key(self, owner: str, target_id: str) -> dict[str, Any]:
        return {"PK": {"S": owner}, "SK": {"S": f"{self.sort_key_prefix}{target_id}"}}


def target_tables(tasks_table: str, notes_table: str | None) -> dict[str, TargetTable]:
    from crewhouse.tasks import keys as task_keys

    tables = {"task": TargetTable(tasks_table, task_keys.task_sk(""))}
    if notes_table:
        tables["note"] = TargetTable(notes_table, "NOTE#")  # crewhouse.notes.keys.note_sk
    return tables


class DynamoFileStore:
    def __init__(self, dynamodb: Any, table: str, targets: Mapping[str, TargetTable] | None = None) -> None:
        self._db = dynamodb
        self._table = table
        self._targets = dict(targets or {})
        self._codec = ItemCodec()

    # --- files ----------------------------------------------------------------------------------------

    def get(self, owner: str, file_id: str) -> Item | None:
        found = self._db.get_item(TableName=self._table, Key=self._key(owner, keys.file_sk(file_id)),
                                  ConsistentRead=True).get("Item")
        return self._codec.load(found) if found else None

    def batch_get(self, owner: str, file_ids: Iterable[str]) -> dict[str, Item]:
        wanted = list(dict.fromkeys(file_ids))
        found: dict[str, Item] = {}
        for start in range(0, len(wanted), 100):
            request: dict[str, Any] = {self._table: {
                "Keys": [self._key(owner, keys.file_sk(i)) for i in wanted[start:start + 100]], "ConsistentRead": True}}
            while request:
                response = self._db.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(self._table, []):
                    item = self._codec.load(raw)
                    found[item["id"]] = item
                request = response.get("UnprocessedKeys") or {}
        return found

    def create_reserving(self, item: Item, limit: int) -> None:
        """Put a new pending file and reserve its size in the owner's quota, atomically: two uploads racing
        for the last bytes cannot both pass, because the quota item's ``total`` is checked and raised in
        one conditional write."""
        from botocore.exceptions import ClientError

        size = int(item["size"])
        room = limit - size
        if room < 0:
            raise PayloadTooLarge(f"The file ({size} bytes) exceeds your storage quota of {limit} bytes.",
                                  slug="quota-exceeded")
        stored = {**item, "GSI1PK": keys.status_pk(item["PK"], item["status"]),
                  "GSI1SK": f"{item['created_at']}#{item['id']}"}
        try:
            self._db.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._table, "Item": self._codec.dump(stored),
                         "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Update": {"TableName": self._table, "Key": self._key(item["PK"], keys.QUOTA_SK),
                            "UpdateExpression": "ADD #total :s, #reserved :s",
                            "ConditionExpression": "attribute_not_exists(#total) OR #total <= :room",
                            "ExpressionAttributeNames": {"#total": "total", "#reserved": "reserved"},
                            "ExpressionAttributeValues": {":s": {"N": str(size)}, ":room": {"N": str(room)}}}},
            ])
        except ClientError as exc:
            if not _cancelled_by_condition(exc):
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise Conflict("A file with this id already exists.") from exc
            raise PayloadTooLarge(f"The file ({size} bytes) does not fit in your storage quota of {limit} bytes.",
                                  slug="quota-exceeded") from exc

    def change(self, owner: str, file_id: str, *, set_fields: Mapping[str, Any] | None = None,
               remove: Iterable[str] = (), expect: Mapping[str, Any] | None = None,
               quota: Mapping[str, int] | None = None, delete: bool = False) -> bool:
        """One conditional change of a file (and, in the same transaction, of the owner's quota counters).

        ``expect`` maps attributes to the values they must have (``None``: must be absent); ``quota`` adds
        to ``used``/``reserved``/``total``. False when the file is gone or not as expected.
        """
        from botocore.exceptions import ClientError

        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        conditions = ["attribute_exists(PK)"]
        for i, (field, wanted) in enumerate((expect or {}).items()):
            names[f"#e{i}"] = field
            if wanted is None:
                conditions.append(f"attribute_not_exists(#e{i})")
            elif isinstance(wanted, list | tuple | set | frozenset):
                options = []
                for j, option in enumerate(wanted):
                    values[f":e{i}_{j}"] = self._codec.value(option)
                    options.append(f":e{i}_{j}")
                conditions.append(f"#e{i} IN ({', '.join(options)})")
            else:
                values[f":e{i}"] = self._codec.value(wanted)
                conditions.append(f"#e{i} = :e{i}")
        fields = dict(set_fields or {})
        if "status" in fields and not delete:
            fields["GSI1PK"] = keys.status_pk(owner, fields["status"])  # GSI1SK (created_at#id) stays
        file_op: dict[str, Any] = {"TableName": self._table, "Key": self._key(owner, keys.file_sk(file_id)),
                                   "ConditionExpression": " AND ".join(conditions)}
        if delete:
            operation = "Delete"
        else:
            operation = "Update"
            sets, removes = [], []
            for i, (field, value) in enumerate(fields.items()):
                names[f"#s{i}"] = field
                if value is None:
                    removes.append(f"#s{i}")
                else:
                    values[f":s{i}"] = self._codec.value(value)
                    sets.append(f"#s{i} = :s{i}")
            for i, field in enumerate(remove):
                names[f"#r{i}"] = field
                removes.append(f"#r{i}")
            expression = (f"SET {', '.join(sets)}" if sets else "") + (
                f" REMOVE {', '.join(removes)}" if removes else "")
            file_op["UpdateExpression"] = expression.strip()
        file_op["ExpressionAttributeNames"] = names
        if values:
            file_op["ExpressionAttributeValues"] = values
        try:
            if quota:
                self._db.transact_write_items(TransactItems=[{operation: file_op}, {"Update": self._quota_op(owner,
                                                                                                             quota)}])
            elif delete:
                self._db.delete_item(**file_op)
            else:
                self._db.update_item(**file_op)
        except ClientError as exc:
            if _cancelled_by_condition(exc):
                return False
            raise
        return True

    def _quota_op(self, owner: str, quota: Mapping[str, int]) -> dict[str, Any]:
        names = {f"#q{i}": field for i, field in enumerate(quota)}
        values = {f":q{i}": {"N": str(int(delta))} for i, delta in enumerate(quota.values())}
        return {"TableName": self._table, "Key": self._key(owner, keys.QUOTA_SK),
                "UpdateExpression": "ADD " + ", ".join(f"#q{i} :q{i}" for i in range(len(quota))),
                "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}

    def list_files(self, owner: str, *, status: str | None, content_type_prefix: str | None, limit: int,
                   start: dict[str, Any] | None) -> Page:
        """Newest first; by status through GSI1, else the owner's ``FILE#`` items."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        kwargs: dict[str, Any] = {"TableName": self._table, "ScanIndexForward": False, "Limit": limit}
        if status:
            kwargs["IndexName"] = INDEX_STATUS
            kwargs["KeyConditionExpression"] = "GSI1PK = :pk"
            values[":pk"] = {"S": keys.status_pk(owner, status)}
        else:
            kwargs["KeyConditionExpression"] = "PK = :pk AND begins_with(SK, :sk)"
            values[":pk"] = {"S": owner}
            values[":sk"] = {"S": keys.file_sk("")}
        if content_type_prefix:
            names["#ct"] = "content_type"
            values[":ct"] = {"S": content_type_prefix}
            kwargs["FilterExpression"] = "begins_with(#ct, :ct)"
            kwargs["ExpressionAttributeNames"] = names
        kwargs["ExpressionAttributeValues"] = values
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self._db.query(**kwargs)
        return [self._codec.load(raw) for raw in response.get("Items", [])], response.get("LastEvaluatedKey")

    def linked_file_ids(self, owner: str, kind: str, target_id: str, *, limit: int = 1000,
                        start: dict[str, Any] | None = None) -> tuple[list[str], dict[str, Any] | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
            "ExpressionAttributeValues": {":pk": {"S": owner}, ":sk": {"S": keys.link_prefix(kind, target_id)}},
            "ProjectionExpression": "file_id", "Limit": limit}
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self._db.query(**kwargs)
        return [raw["file_id"]["S"] for raw in response.get("Items", [])], response.get("LastEvaluatedKey")

    # --- quota ----------------------------------------------------------------------------------------

    def quota(self, owner: str) -> dict[str, int]:
        found = self._db.get_item(TableName=self._table, Key=self._key(owner, keys.QUOTA_SK),
                                  ConsistentRead=True).get("Item") or {}
        return {name: int(found[name]["N"]) if name in found else 0 for name in ("used", "reserved", "total")}

    def user_limit(self, tenant_id: str) -> int | None:
        found = self._db.get_item(TableName=self._table, Key=self._key(keys.tenant_pk(tenant_id),
                                                                       keys.QUOTA_POLICY_SK)).get("Item")
        return int(found["user_limit_bytes"]["N"]) if found else None

    def put_user_limit(self, tenant_id: str, limit: int, updated_by: str, now: str) -> None:
        self._db.put_item(TableName=self._table, Item={
            **self._key(keys.tenant_pk(tenant_id), keys.QUOTA_POLICY_SK),
            "user_limit_bytes": {"N": str(limit)}, "updated_by": {"S": updated_by}, "updated_at": {"S": now}})

    # --- attachments ----------------------------------------------------------------------------------

    def has_target_kind(self, kind: str) -> bool:
        return kind in self._targets

    def target(self, owner: str, kind: str, target_id: str) -> Item | None:
        table = self._targets[kind]
        found = self._db.get_item(TableName=table.table, Key=table.key(owner, target_id), ConsistentRead=True,
                                  ProjectionExpression="PK, attachments").get("Item")
        return self._codec.load(found) if found else None

    def attach(self, owner: str, file_id: str, kind: str, target_id: str, now: str) -> bool:
        """Link the file and list it on the target, in one transaction. False if either is gone."""
        from botocore.exceptions import ClientError

        table = self._targets[kind]
        target = self.target(owner, kind, target_id)
        if target is None:
            return False
        link = f"{kind}:{target_id}"
        items: list[dict[str, Any]] = [
            {"Update": {"TableName": self._table, "Key": self._key(owner, keys.file_sk(file_id)),
                        "UpdateExpression": "ADD links :link",
                        "ConditionExpression": "attribute_exists(PK)",
                        "ExpressionAttributeValues": {":link": {"SS": [link]}}}},
            {"Put": {"TableName": self._table, "Item": {
                **self._key(owner, keys.link_sk(kind, target_id, file_id)),
                "file_id": {"S": file_id}, "kind": {"S": kind}, "target_id": {"S": target_id},
                "created_at": {"S": now}}}},
        ]
        listed = list(target.get("attachments") or [])
        if file_id not in listed:
            if len(listed) >= MAX_ATTACHMENTS:
                raise Conflict(f"The {kind} already has {MAX_ATTACHMENTS} attachments.", slug="too-many-attachments")
            items.append({"Update": {
                "TableName": table.table, "Key": table.key(owner, target_id),
                "UpdateExpression": "SET attachments = list_append(if_not_exists(attachments, :empty), :file), "
                                    "version = if_not_exists(version, :zero) + :one, updated_at = :now",
                "ConditionExpression": "attribute_exists(PK) AND (attribute_not_exists(attachments) OR "
                                       "(NOT contains(attachments, :id) AND size(attachments) < :max))",
                "ExpressionAttributeValues": {":empty": {"L": []}, ":file": {"L": [{"S": file_id}]},
                                              ":id": {"S": file_id}, ":zero": {"N": "0"}, ":one": {"N": "1"},
                                              ":now": {"S": now}, ":max": {"N": str(MAX_ATTACHMENTS)}}}})
        try:
            self._db.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if _cancelled_by_condition(exc):
                return False
            raise
        return True

    def detach(self, owner: str, file_id: str, kind: str, target_id: str, now: str) -> None:
        """Unlink the file, and take it off the target's list if the target still exists."""
        from botocore.exceptions import ClientError

        link = f"{kind}:{target_id}"
        items: list[dict[str, Any]] = [
            {"Update": {"TableName": self._table, "Key": self._key(owner, keys.file_sk(file_id)),
                        "UpdateExpression": "DELETE links :link", "ConditionExpression": "attribute_exists(PK)",
                        "ExpressionAttributeValues": {":link": {"SS": [link]}}}},
            {"Delete": {"TableName": self._table, "Key": self._key(owner, keys.link_sk(kind, target_id, file_id))}},
        ]
        table = self._targets.get(kind)
        target = self.target(owner, kind, target_id) if table else None
        listed = list((target or {}).get("attachments") or [])
        if table and file_id in listed:
            index = listed.index(file_id)
            items.append({"Update": {
                "TableName": table.table, "Key": table.key(owner, target_id),
                "UpdateExpression": f"REMOVE attachments[{index}] SET version = if_not_exists(version, :zero) + :one, "
                                    "updated_at = :now",
                "ConditionExpression": f"attachments[{index}] = :id",
                "ExpressionAttributeValues": {":id": {"S": file_id}, ":zero": {"N": "0"}, ":one": {"N": "1"},
                                              ":now": {"S": now}}}})
        for _ in range(3):  # the target's list may shift under us: read it again and retry
            try:
                self._db.transact_write_items(TransactItems=items)
                return
            except ClientError as exc:
                if not _cancelled_by_condition(exc) or not table:
                    raise
                target = self.target(owner, kind, target_id)
                listed = list((target or {}).get("attachments") or [])
                items = items[:2]
                if file_id in listed:
                    index = listed.index(file_id)
                    items.append({"Update": {
                        "TableName": table.table, "Key": table.key(owner, target_id),
                        "UpdateExpression": f"REMOVE attachments[{index}] SET version = "
                                            "if_not_exists(version, :zero) + :one, updated_at = :now",
                        "ConditionExpression": f"attachments[{index}] = :id",
                        "ExpressionAttributeValues": {":id": {"S": file_id}, ":zero": {"N": "0"},
                                                      ":one": {"N": "1"}, ":now": {"S": now}}}})
        raise Conflict("The attachment changed meanwhile; try again.")

    def drop_link(self, owner: str, file_id: str, kind: str, target_id: str) -> None:
        """Forget a link whose target is gone (no write to the target)."""
        self._db.transact_write_items(TransactItems=[
            {"Update": {"TableName": self._table, "Key": self._key(owner, keys.file_sk(file_id)),
                        "UpdateExpression": "DELETE links :link",
                        "ExpressionAttributeValues": {":link": {"SS": [f"{kind}:{target_id}"]}}}},
            {"Delete": {"TableName": self._table, "Key": self._key(owner, keys.link_sk(kind, target_id, file_id))}},
        ])

    @staticmethod
    def _key(pk: str, sk: str) -> dict[str, Any]:
        return {"PK": {"S": pk}, "SK": {"S": sk}}


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
