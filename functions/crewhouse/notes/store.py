"""DynamoDB and S3 access for notes: the only module that knows the table's key shapes (see keys.py)
and where bodies live in the bucket.

Every read is a GetItem, BatchGetItem or Query on an owner's partition (or one note's revision partition);
nothing scans.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crewhouse.core.dynamo import ItemCodec
from crewhouse.core.errors import Conflict, PreconditionFailed
from crewhouse.notes import keys

Item = dict[str, Any]
Page = tuple[list[Item], dict[str, Any] | None]
INDEX_SORT_KEYS = {"GSI1": "GSI1SK", "GSI2": "GSI2SK", "GSI3": "GSI3SK"}
TRASH_TAG = "crewhouse-trash"




def with_index_keys(item: Item) -> Item:
    """The stored item: the note or notebook plus the keys of the (sparse) indexes it belongs to."""
    stored = {k: v for k, v in item.items() if not k.startswith("GSI")}
    sk = str(item["SK"])
    owner = item["PK"]
    if sk.startswith("NOTEBOOK#"):
        stored["GSI1PK"] = keys.children_pk(owner, item.get("parent_id"))
        stored["GSI1SK"] = f"{str(item['name']).casefold()}#{item['id']}"
    elif sk.startswith("NOTE#"):
        if item.get("trashed_at"):
            stored["GSI3PK"] = owner
            stored["GSI3SK"] = f"{item['trashed_at']}#{item['id']}"
        else:
            stored["GSI1PK"] = keys.contents_pk(owner, item.get("notebook_id"))
            stored["GSI1SK"] = f"{1 if item.get('pinned') else 0}#{item['updated_at']}#{item['id']}"
            stored["GSI2PK"] = owner
            stored["GSI2SK"] = f"{item['updated_at']}#{item['id']}"
    return stored


def _condition_failed(exc: Exception) -> bool:
    response = getattr(exc, "response", {}) or {}
    return bool(response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class DynamoNoteStore:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table
        self._codec = ItemCodec()
        self.calls = 0  # DynamoDB requests made (benchmarks read it)

    # --- single items -------------------------------------------------------------------------------

    def get(self, pk: str, sk: str) -> Item | None:
        self.calls += 1
        found = self._db.get_item(TableName=self._table, Key=self._key(pk, sk), ConsistentRead=True).get("Item")
        return self._codec.load(found) if found else None

    def batch_get(self, pk: str, sks: Iterable[str]) -> dict[str, Item]:
        wanted = list(dict.fromkeys(sks))
        found: dict[str, Item] = {}
        for start in range(0, len(wanted), 100):
            request: dict[str, Any] = {self._table: {"Keys": [self._key(pk, sk) for sk in wanted[start:start + 100]],
                                                     "ConsistentRead": True}}
            while request:
                self.calls += 1
                response = self._db.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(self._table, []):
                    item = self._codec.load(raw)
                    found[item["SK"]] = item
                request = response.get("UnprocessedKeys") or {}
        return found

    def put_new(self, item: Item) -> None:
        from botocore.exceptions import ClientError

        self.calls += 1
        try:
            self._db.put_item(TableName=self._table, Item=self._codec.dump(with_index_keys(item)),
                              ConditionExpression="attribute_not_exists(PK)")
        except ClientError as exc:
            if _condition_failed(exc):
                raise Conflict("An item with this id already exists.") from exc
            raise

    def replace(self, item: Item, expected_version: int) -> None:
        """Write the whole item if it is still at ``expected_version`` (one write)."""
        from botocore.exceptions import ClientError

        self.calls += 1
        try:
            self._db.put_item(
                TableName=self._table, Item=self._codec.dump(with_index_keys(item)),
                ConditionExpression="attribute_exists(PK) AND version = :v",
                ExpressionAttributeValues={":v": {"N": str(expected_version)}},
            )
        except ClientError as exc:
            if _condition_failed(exc):
                raise PreconditionFailed("The item changed meanwhile; fetch it again and retry.") from exc
            raise

    def save_with_revision(self, item: Item, expected_version: int | None, revision: Item,
                           prune: tuple[str, str] | None) -> None:
        """One transaction: the note (new, or still at ``expected_version``), its new revision, and the
        deletion of the revision that falls out of the kept history."""
        from botocore.exceptions import ClientError

        note_put: dict[str, Any] = {"TableName": self._table, "Item": self._codec.dump(with_index_keys(item))}
        if expected_version is None:
            note_put["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            note_put["ConditionExpression"] = "attribute_exists(PK) AND version = :v"
            note_put["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        actions: list[dict[str, Any]] = [
            {"Put": note_put},
            {"Put": {"TableName": self._table, "Item": self._codec.dump(revision),
                     "ConditionExpression": "attribute_not_exists(PK)"}},
        ]
        if prune:
            actions.append({"Delete": {"TableName": self._table, "Key": self._key(*prune)}})
        self.calls += 1
        try:
            self._db.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                if expected_version is None:
                    raise Conflict("A note with this id already exists.") from exc
                raise PreconditionFailed("The note changed meanwhile; fetch it again and retry.") from exc
            raise

    def delete(self, pk: str, sk: str, expected_version: int | None = None) -> None:
        from botocore.exceptions import ClientError

        self.calls += 1
        kwargs: dict[str, Any] = {"ConditionExpression": "attribute_exists(PK)"}
        if expected_version is not None:
            kwargs = {"ConditionExpression": "attribute_exists(PK) AND version = :v",
                      "ExpressionAttributeValues": {":v": {"N": str(expected_version)}}}
        try:
            self._db.delete_item(TableName=self._table, Key=self._key(pk, sk), **kwargs)
        except ClientError as exc:
            if _condition_failed(exc):
                raise PreconditionFailed("The item changed meanwhile; fetch it again and retry.") from exc
            raise

    def delete_many(self, item_keys: Iterable[tuple[str, str]]) -> None:
        """Unconditional deletes, 25 per request (missing items are fine)."""
        wanted = list(dict.fromkeys(item_keys))
        for start in range(0, len(wanted), 25):
            pending: dict[str, Any] = {self._table: [{"DeleteRequest": {"Key": self._key(pk, sk)}}
                                                     for pk, sk in wanted[start:start + 25]]}
            while pending:
                self.calls += 1
                pending = self._db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    # --- queries ------------------------------------------------------------------------------------

    def query(self, *, index: str | None, partition: tuple[str, str], sort: tuple[str, ...] | None = None,
              limit: int = 50, start: dict[str, Any] | None = None, forward: bool = True,
              filters: Mapping[str, Any] | None = None, projection: Iterable[str] | None = None) -> Page:
        """One Query page. ``sort`` is ``("begins", prefix)``, ``("between", lo, hi)``, ``("<", v)`` or ``(">", v)``.

        ``filters``: ``tags`` -> contains; a bool or string -> equality; ``(">", value)`` -> comparison.
        """
        pk_name, pk_value = partition
        names = {"#pk": pk_name}
        values: dict[str, Any] = {":pk": {"S": pk_value}}
        condition = "#pk = :pk"
        if sort:
            names["#sk"] = INDEX_SORT_KEYS.get(index or "", "SK")
            op = sort[0]
            if op == "begins":
                condition += " AND begins_with(#sk, :s1)"
                values[":s1"] = {"S": sort[1]}
            elif op == "between":
                condition += " AND #sk BETWEEN :s1 AND :s2"
                values[":s1"], values[":s2"] = {"S": sort[1]}, {"S": sort[2]}
            else:
                condition += f" AND #sk {op} :s1"
                values[":s1"] = {"S": sort[1]}
        kwargs: dict[str, Any] = {"TableName": self._table, "KeyConditionExpression": condition,
                                  "ExpressionAttributeNames": names, "ScanIndexForward": forward, "Limit": limit}
        if index:
            kwargs["IndexName"] = index
        else:
            kwargs["ConsistentRead"] = True
        if start:
            kwargs["ExclusiveStartKey"] = start
        if filters:
            parts = []
            for i, (field, value) in enumerate(filters.items()):
                names[f"#f{i}"] = field
                if field == "tags":
                    parts.append(f"contains(#f{i}, :f{i})")
                    values[f":f{i}"] = {"S": value}
                elif isinstance(value, tuple):
                    parts.append(f"#f{i} {value[0]} :f{i}")
                    values[f":f{i}"] = self._codec.dump({"v": value[1]})["v"]
                else:
                    parts.append(f"#f{i} = :f{i}")
                    values[f":f{i}"] = self._codec.dump({"v": value})["v"]
            kwargs["FilterExpression"] = " AND ".join(parts)
        if projection:
            attributes = list(projection)
            for j, attribute in enumerate(attributes):
                names[f"#p{j}"] = attribute
            kwargs["ProjectionExpression"] = ", ".join(f"#p{j}" for j in range(len(attributes)))
        kwargs["ExpressionAttributeValues"] = values
        self.calls += 1
        response = self._db.query(**kwargs)
        return [self._codec.load(raw) for raw in response.get("Items", [])], response.get("LastEvaluatedKey")

    def query_all(self, *, index: str | None, partition: tuple[str, str], sort: tuple[str, ...] | None = None,
                  projection: Iterable[str] | None = None, page_size: int = 500) -> list[Item]:
        """Every item of a (small) partition range: a notebook's children, a note's revisions."""
        found: list[Item] = []
        start: dict[str, Any] | None = None
        while True:
            items, start = self.query(index=index, partition=partition, sort=sort, limit=page_size, start=start,
                                      projection=projection)
            found.extend(items)
            if not start:
                return found

    @staticmethod
    def _key(pk: str, sk: str) -> dict[str, Any]:
        return {"PK": {"S": pk}, "SK": {"S": sk}}


class S3Bodies:
    """Large note bodies, one object per revision under the note's prefix (``keys.body_prefix``).

    Trashing re-writes a note's objects in place with the ``crewhouse-trash`` tag: the bucket's lifecycle
    rule expires tagged objects 31 days after that write (S3 counts from an object's creation, so tagging
    alone would not restart the clock), after the 30-day restore window has closed.
    """

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self.calls = 0

    def put(self, key: str, text: str) -> None:
        self.calls += 1
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=text.encode(),
                            ContentType="text/markdown; charset=utf-8")

    def get(self, key: str) -> str:
        self.calls += 1
        return str(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read().decode())

    def copy(self, source: str, target: str) -> None:
        self.calls += 1
        self._s3.copy_object(Bucket=self._bucket, Key=target, CopySource={"Bucket": self._bucket, "Key": source})

    def keys_under(self, prefix: str) -> list[str]:
        found: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            self.calls += 1
            response = self._s3.list_objects_v2(**kwargs)
            found.extend(o["Key"] for o in response.get("Contents", []))
            token = response.get("NextContinuationToken")
            if not token:
                return found

    def delete(self, object_keys: Iterable[str]) -> None:
        wanted = list(dict.fromkeys(object_keys))
        for start in range(0, len(wanted), 1000):
            self.calls += 1
            self._s3.delete_objects(Bucket=self._bucket, Delete={
                "Objects": [{"Key": k} for k in wanted[start:start + 1000]], "Quiet": True})

    def delete_prefix(self, prefix: str) -> int:
        found = self.keys_under(prefix)
        self.delete(found)
        return len(found)

    def mark_trashed(self, prefix: str, trashed: bool) -> int:
        """Tag (re-writing in place, which restarts the lifecycle clock) or untag every object under ``prefix``."""
        found = self.keys_under(prefix)
        for key in found:
            self.calls += 1
            if trashed:
                self._s3.copy_object(Bucket=self._bucket, Key=key, CopySource={"Bucket": self._bucket, "Key": key},
                                     MetadataDirective="REPLACE", ContentType="text/markdown; charset=utf-8",
                                     TaggingDirective="REPLACE", Tagging=f"{TRASH_TAG}=true")
            else:
                self._s3.delete_object_tagging(Bucket=self._bucket, Key=key)
        return len(found)
