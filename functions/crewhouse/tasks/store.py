"""DynamoDB access for tasks: the only module that knows the table's key shapes (see keys.py).

Every read is a GetItem, BatchGetItem or Query on the owner's partition; nothing scans.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crewhouse.core.dynamo import ItemCodec
from crewhouse.core.errors import Conflict, PreconditionFailed
from crewhouse.tasks import keys

Item = dict[str, Any]
Page = tuple[list[Item], dict[str, Any] | None]
INDEX_PLAN = "GSI1"
INDEX_DUE = "GSI2"
INDEX_PARENT = "GSI3"




def with_index_keys(item: Item) -> Item:
    """The stored item: the task plus the keys of the indexes it belongs to."""
    if not str(item["SK"]).startswith("TASK#"):
        return dict(item)  # templates are in no index
    owner = item["PK"]
    stored = dict(item)
    stored["GSI1PK"] = owner
    stored["GSI1SK"] = keys.plan_sort_key(item.get("planned_date"), item["priority"], item["rank"])
    stored.pop("GSI2PK", None)
    stored.pop("GSI2SK", None)
    stored.pop("GSI3PK", None)
    stored.pop("GSI3SK", None)
    if item.get("due_utc"):
        stored["GSI2PK"] = owner
        stored["GSI2SK"] = f"{item['due_utc']}#{item['id']}"
    if item.get("parent_id"):
        stored["GSI3PK"] = keys.parent_pk(owner, item["parent_id"])
        stored["GSI3SK"] = f"{item['priority']}#{item['rank']}"
    return stored


class DynamoTaskStore:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table
        self._codec = ItemCodec()
        self.calls = 0  # DynamoDB requests made (benchmarks read it)

    # --- single items -------------------------------------------------------------------------------

    def get(self, owner: str, sk: str) -> Item | None:
        self.calls += 1
        found = self._db.get_item(TableName=self._table, Key=self._key(owner, sk), ConsistentRead=True).get("Item")
        return self._codec.load(found) if found else None

    def batch_get(self, owner: str, sks: Iterable[str]) -> dict[str, Item]:
        wanted = list(dict.fromkeys(sks))
        found: dict[str, Item] = {}
        for start in range(0, len(wanted), 100):
            request: dict[str, Any] = {self._table: {"Keys": [self._key(owner, sk) for sk in wanted[start:start + 100]],
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
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
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
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise PreconditionFailed("The task changed meanwhile; fetch it again and retry.") from exc
            raise

    def replace_and_create(self, item: Item, expected_version: int, new_item: Item) -> bool:
        """Update ``item`` and create ``new_item`` atomically; False when ``new_item`` already existed."""
        from botocore.exceptions import ClientError

        self.calls += 1
        try:
            self._db.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._table, "Item": self._codec.dump(with_index_keys(item)),
                         "ConditionExpression": "attribute_exists(PK) AND version = :v",
                         "ExpressionAttributeValues": {":v": {"N": str(expected_version)}}}},
                {"Put": {"TableName": self._table, "Item": self._codec.dump(with_index_keys(new_item)),
                         "ConditionExpression": "attribute_not_exists(PK)"}},
            ])
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise PreconditionFailed("The task changed meanwhile; fetch it again and retry.") from exc
            self.replace(item, expected_version)  # the next occurrence exists already: a retry
            return False

    def delete(self, owner: str, sk: str, expected_version: int | None = None) -> None:
        from botocore.exceptions import ClientError

        self.calls += 1
        kwargs: dict[str, Any] = {"ConditionExpression": "attribute_exists(PK)"}
        if expected_version is not None:
            kwargs = {"ConditionExpression": "attribute_exists(PK) AND version = :v",
                      "ExpressionAttributeValues": {":v": {"N": str(expected_version)}}}
        try:
            self._db.delete_item(TableName=self._table, Key=self._key(owner, sk), **kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise PreconditionFailed("The task changed meanwhile; fetch it again and retry.") from exc
            raise

    # --- queries ------------------------------------------------------------------------------------

    def query(self, *, index: str | None, partition: tuple[str, str], sort: tuple[str, ...] | None = None,
              limit: int = 50, start: dict[str, Any] | None = None, forward: bool = True,
              filters: Mapping[str, Any] | None = None, count_only: bool = False) -> Page:
        """One Query page. ``sort`` is ``("begins", prefix)``, ``("between", lo, hi)``, ``("<", v)`` or ``(">", v)``."""
        pk_name, pk_value = partition
        names = {"#pk": pk_name}
        values: dict[str, Any] = {":pk": {"S": pk_value}}
        condition = "#pk = :pk"
        if sort:
            sk_name = {"GSI1": "GSI1SK", "GSI2": "GSI2SK", "GSI3": "GSI3SK"}.get(index or "", "SK")
            names["#sk"] = sk_name
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
        if start:
            kwargs["ExclusiveStartKey"] = start
        if filters:
            parts = []
            for i, (field, value) in enumerate(filters.items()):
                names[f"#f{i}"] = field
                if field == "tags":
                    parts.append(f"contains(#f{i}, :f{i})")
                    values[f":f{i}"] = {"S": value}
                elif isinstance(value, list | tuple):
                    placeholders = []
                    for j, v in enumerate(value):
                        values[f":f{i}_{j}"] = {"S": v}
                        placeholders.append(f":f{i}_{j}")
                    parts.append(f"#f{i} IN ({', '.join(placeholders)})")
                else:
                    parts.append(f"#f{i} = :f{i}")
                    values[f":f{i}"] = {"S": value}
            kwargs["FilterExpression"] = " AND ".join(parts)
        kwargs["ExpressionAttributeValues"] = values
        if count_only:
            kwargs["Select"] = "COUNT"
        self.calls += 1
        response = self._db.query(**kwargs)
        self.scanned = getattr(self, "scanned", 0) + int(response.get("ScannedCount", 0))
        if count_only:
            return [{"count": response.get("Count", 0)}], response.get("LastEvaluatedKey")
        return [self._codec.load(raw) for raw in response.get("Items", [])], response.get("LastEvaluatedKey")

    def count(self, *, index: str, partition: tuple[str, str], sort: tuple[str, ...]) -> int:
        total, start = 0, None
        while True:
            page, start = self.query(index=index, partition=partition, sort=sort, limit=1000, start=start,
                                     count_only=True)
            total += int(page[0]["count"])
            if not start:
                return total

    @staticmethod
    def _key(owner: str, sk: str) -> dict[str, Any]:
        return {"PK": {"S": owner}, "SK": {"S": sk}}
