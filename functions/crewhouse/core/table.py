"""One DynamoDB table, as every context's store uses it: key ranges, pages, conditional writes, transactions.

Stores speak their domain (``tasks_in_group``, ``revisions_of``) and describe what they read as a
:class:`KeyRange` on the table or one of its indexes; this module turns that into DynamoDB requests. Every
table of Crewhouse keys items by ``PK``/``SK`` and its global secondary indexes ``GSIn`` by
``GSInPK``/``GSInSK``, so an index is named by its number alone.

A page's resume point (DynamoDB's last evaluated key) is opaque to everything above the store; the HTTP layer
seals it into a cursor. boto3's exceptions and serializer are imported on first use (cold start).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from crewhouse.core.dynamo import Item, ItemCodec
from crewhouse.core.errors import Conflict, PreconditionFailed

Resume = dict[str, Any]  # where the next page starts; only a store passes it back
Page = tuple[list[Item], Resume | None]
ItemKey = tuple[str, str]  # (PK, SK)

PARTITION_KEY, SORT_KEY = "PK", "SK"
_BATCH_GET, _BATCH_WRITE = 100, 25


class KeyRange(NamedTuple):
    """The items of one partition of the table (``index_name=None``) or of an index, narrowed by the sort key.

    ``op`` is ``""`` (the whole partition), ``"begins"``, ``"between"`` (``low``..``high`` inclusive),
    ``"<"``, ``"<="``, ``">"``, ``">="`` or ``"="`` (against ``low``).
    """

    partition: str
    index_name: str | None = None
    op: str = ""
    low: str = ""
    high: str = ""

    def key_names(self) -> tuple[str, str]:
        name = self.index_name
        return (f"{name}PK", f"{name}SK") if name else (PARTITION_KEY, SORT_KEY)


def whole(partition: str, index: str | None = None) -> KeyRange:
    return KeyRange(partition, index)


def starting_with(partition: str, prefix: str, index: str | None = None) -> KeyRange:
    return KeyRange(partition, index, "begins", prefix)


def between(partition: str, low: str, high: str, index: str | None = None) -> KeyRange:
    return KeyRange(partition, index, "between", low, high)


def beyond(partition: str, bound: str, *, forward: bool, index: str | None = None) -> KeyRange:
    """The items after ``bound`` in reading order (after it going forward, before it going backward)."""
    return KeyRange(partition, index, ">" if forward else "<", bound)


class Contains(NamedTuple):
    """A filter: a list or set attribute contains ``value``."""

    value: Any


class AnyOf(NamedTuple):
    """A filter: the attribute equals one of ``values``."""

    values: tuple[Any, ...]


class BeginsWith(NamedTuple):
    """A filter: a string attribute starts with ``prefix``."""

    prefix: str


class Compare(NamedTuple):
    """A filter: ``attribute <op> value`` (``op`` one of ``< <= > >= <>``)."""

    op: str
    value: Any


class Write(NamedTuple):
    """One write of a transaction (see :meth:`Table.transact`); made by :func:`new`, :func:`versioned` and co."""

    kind: str  # "new" | "versioned" | "put" | "guarded" | "delete" | "update"
    item: Item  # the whole item for puts, the key for deletes and updates
    version: int | None = None
    update: Mapping[str, Any] | None = None  # an update's expression, condition, names and values
    table: str | None = None  # another table of the same account (a transaction may span tables)


def new(item: Item) -> Write:
    """Put ``item`` if no item has its key."""
    return Write("new", item)


def versioned(item: Item, expected_version: int) -> Write:
    """Put ``item`` over an existing one that is still at ``expected_version``."""
    return Write("versioned", item, expected_version)


def overwrite(item: Item) -> Write:
    return Write("put", item)


def guarded(item: Item, condition: str, *, names: Mapping[str, str] | None = None,
            values: Mapping[str, Any] | None = None) -> Write:
    """Put ``item`` if ``condition`` holds for the item it replaces (values in plain Python)."""
    return Write("guarded", item, update={"condition": condition, "names": names, "values": values})


def removal(key: ItemKey, *, must_exist: bool = False, condition: str | None = None,
            names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None) -> Write:
    """Delete the item at ``key`` (only if it exists, or only if ``condition`` holds, when asked)."""
    if must_exist:
        condition = "attribute_exists(PK)" + (f" AND {condition}" if condition else "")
    return Write("delete", {PARTITION_KEY: key[0], SORT_KEY: key[1]},
                 update={"condition": condition, "names": names, "values": values})


def on(table: Table, write: Write) -> Write:
    """``write`` aimed at another table (for a transaction that spans tables)."""
    return write._replace(table=table.name)


def change(key: ItemKey, expression: str, *, values: Mapping[str, Any] | None = None,
           names: Mapping[str, str] | None = None, condition: str | None = None) -> Write:
    """An UpdateItem inside a transaction (values in plain Python)."""
    return Write("update", {PARTITION_KEY: key[0], SORT_KEY: key[1]},
                 update={"expression": expression, "values": values, "names": names, "condition": condition})


class Cancelled(Exception):
    """A transaction was refused; ``reasons`` has one code per write (``""`` where that write was fine)."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__(", ".join(r or "-" for r in reasons))
        self.reasons = list(reasons)

    def failed(self, position: int) -> bool:
        return position < len(self.reasons) and self.reasons[position] == "ConditionalCheckFailed"


class ConditionFailed(Exception):
    """An update's condition did not hold; ``current`` is the item as it was (None when there was none)."""

    def __init__(self, current: Item | None) -> None:
        super().__init__("condition failed")
        self.current = current


def item_key(item: Mapping[str, Any]) -> ItemKey:
    return str(item[PARTITION_KEY]), str(item[SORT_KEY])


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code") or "")


class Table:
    """A DynamoDB table through the low-level client, in plain Python values."""

    def __init__(self, dynamodb: Any, name: str) -> None:
        self._db = dynamodb
        self.name = name
        self._codec = ItemCodec()

    def describe(self) -> dict[str, Any]:
        """The table's description (a readiness probe)."""
        return dict(self._db.describe_table(TableName=self.name)["Table"])

    # --- reads --------------------------------------------------------------------------------------------

    def get(self, key: ItemKey, *, projection: Iterable[str] | None = None, consistent: bool = True) -> Item | None:
        request: dict[str, Any] = {"TableName": self.name, "Key": self._key(key), "ConsistentRead": consistent}
        if projection:
            request.update(_projection(projection, {}))
        found = self._db.get_item(**request).get("Item")
        return self._codec.load(found) if found else None

    def get_many(self, keys: Iterable[ItemKey]) -> dict[ItemKey, Item]:
        """Strongly consistent BatchGetItem, 100 keys a request, retrying unprocessed keys."""
        wanted = list(dict.fromkeys(keys))
        found: dict[ItemKey, Item] = {}
        for begin in range(0, len(wanted), _BATCH_GET):
            request: dict[str, Any] = {self.name: {"Keys": [self._key(k) for k in wanted[begin:begin + _BATCH_GET]],
                                                   "ConsistentRead": True}}
            while request:
                response = self._db.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(self.name, []):
                    item = self._codec.load(raw)
                    found[item_key(item)] = item
                request = response.get("UnprocessedKeys") or {}
        return found

    def query(self, where: KeyRange, *, limit: int = 50, start: Resume | None = None, forward: bool = True,
              filters: Mapping[str, Any] | None = None, projection: Iterable[str] | None = None,
              consistent: bool = False) -> Page:
        """One Query page (``consistent`` applies to the table only: indexes are eventually consistent)."""
        request = self._query_request(where, limit=limit, start=start, forward=forward, filters=filters,
                                      projection=projection, consistent=consistent)
        response = self._db.query(**request)
        return [self._codec.load(raw) for raw in response.get("Items", [])], response.get("LastEvaluatedKey")

    def query_all(self, where: KeyRange, *, projection: Iterable[str] | None = None, page_size: int = 500,
                  consistent: bool = False) -> list[Item]:
        """Every item of a range that is small by design (a notebook's children, a note's revisions)."""
        found: list[Item] = []
        start: Resume | None = None
        while True:
            items, start = self.query(where, limit=page_size, start=start, projection=projection,
                                      consistent=consistent)
            found.extend(items)
            if not start:
                return found

    def count(self, where: KeyRange, *, page_size: int = 1000) -> int:
        """How many items the range holds (Select=COUNT, ``page_size`` a request)."""
        total, start = 0, None
        while True:
            request = self._query_request(where, limit=page_size, start=start)
            request["Select"] = "COUNT"
            response = self._db.query(**request)
            total += int(response.get("Count", 0))
            start = response.get("LastEvaluatedKey")
            if not start:
                return total

    def resume_after(self, item: Mapping[str, Any]) -> Resume:
        """The resume point just past ``item`` for a query of the table itself (a page cut short on purpose)."""
        return self._key(item_key(item))

    # --- writes -------------------------------------------------------------------------------------------

    def put(self, item: Item) -> None:
        self._db.put_item(TableName=self.name, Item=self._codec.dump(item))

    def put_new(self, item: Item, *, exists: str = "An item with this id already exists.") -> None:
        """Create ``item``; Conflict (``exists``) when its key is taken."""
        try:
            self._db.put_item(**self._put_request(new(item)))
        except Exception as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict(exists) from exc
            raise

    def replace(self, item: Item, expected_version: int, *,
                stale: str = "The item changed meanwhile; fetch it again and retry.") -> None:
        """Write the whole item if it is still at ``expected_version`` (one write); PreconditionFailed otherwise."""
        try:
            self._db.put_item(**self._put_request(versioned(item, expected_version)))
        except Exception as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                raise PreconditionFailed(stale) from exc
            raise

    def delete(self, key: ItemKey, *, expected_version: int | None = None,
               stale: str = "The item changed meanwhile; fetch it again and retry.") -> None:
        """Delete an existing item (at ``expected_version`` when given); PreconditionFailed otherwise."""
        condition = "attribute_exists(PK)" + (" AND version = :v" if expected_version is not None else "")
        request: dict[str, Any] = {"TableName": self.name, "Key": self._key(key), "ConditionExpression": condition}
        if expected_version is not None:
            request["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        try:
            self._db.delete_item(**request)
        except Exception as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                raise PreconditionFailed(stale) from exc
            raise

    def delete_if_present(self, key: ItemKey) -> None:
        self._db.delete_item(TableName=self.name, Key=self._key(key))

    def delete_where(self, key: ItemKey, condition: str, *, names: Mapping[str, str] | None = None,
                     values: Mapping[str, Any] | None = None) -> bool:
        """Delete the item if ``condition`` holds; False when it does not."""
        try:
            self._db.delete_item(**self._delete_request(key, self.name, condition=condition, names=names,
                                                        values=values))
        except Exception as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def sibling(self, name: str) -> Table:
        """Another table of the same account, through the same client."""
        return Table(self._db, name)

    def delete_many(self, keys: Iterable[ItemKey]) -> None:
        """Unconditional deletes, 25 a request (missing items are fine)."""
        self.write_many(deletes=keys)

    def put_many(self, items: Iterable[Item]) -> None:
        """Unconditional puts, 25 a request."""
        self.write_many(puts=items)

    def write_many(self, *, deletes: Iterable[ItemKey] = (), puts: Iterable[Item] = ()) -> None:
        """Unconditional deletes then puts, sharing BatchWriteItem requests of 25, unprocessed ones retried."""
        requests = [{"DeleteRequest": {"Key": self._key(k)}} for k in dict.fromkeys(deletes)]
        requests += [{"PutRequest": {"Item": self._codec.dump(i)}} for i in puts]
        self._batch_write(requests)

    def transact(self, writes: Sequence[Write]) -> None:
        """All of ``writes`` or none; :class:`Cancelled` names which condition failed."""
        actions: list[dict[str, Any]] = []
        for write in writes:
            name = write.table or self.name
            if write.kind == "delete":
                actions.append({"Delete": self._delete_request(item_key(write.item), name, **dict(write.update or {}))})
            elif write.kind == "update":
                actions.append({"Update": self._update_request(item_key(write.item), **dict(write.update or {}),
                                                               table=name)})
            else:
                actions.append({"Put": self._put_request(write)})
        try:
            self._db.transact_write_items(TransactItems=actions)
        except Exception as exc:
            if _error_code(exc) != "TransactionCanceledException":
                raise
            reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
            raise Cancelled([str(r.get("Code") or "") for r in reasons]) from exc

    def update(self, key: ItemKey, expression: str, *, values: Mapping[str, Any] | None = None,
               names: Mapping[str, str] | None = None, condition: str | None = None,
               return_new: bool = False, explain_failure: bool = False) -> Item | None:
        """An UpdateItem in plain values; None when ``condition`` does not hold (else the new item when asked).

        ``explain_failure`` raises :class:`ConditionFailed` with the item as it was instead (same request).
        """
        request = self._update_request(key, expression, values=values, names=names, condition=condition)
        if return_new:
            request["ReturnValues"] = "ALL_NEW"
        if explain_failure:
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            response = self._db.update_item(**request)
        except Exception as exc:
            if condition and _error_code(exc) == "ConditionalCheckFailedException":
                if explain_failure:
                    old = (getattr(exc, "response", None) or {}).get("Item")
                    raise ConditionFailed(self._codec.load(old) if old else None) from exc
                return None
            raise
        return self._codec.load(response["Attributes"]) if return_new else {}

    # --- request builders ---------------------------------------------------------------------------------

    def _update_request(self, key: ItemKey, expression: str, *, values: Mapping[str, Any] | None = None,
                        names: Mapping[str, str] | None = None, condition: str | None = None,
                        table: str | None = None) -> dict[str, Any]:
        request: dict[str, Any] = {"TableName": table or self.name, "Key": self._key(key),
                                   "UpdateExpression": expression}
        return self._with_condition(request, condition, names, values)

    def _delete_request(self, key: ItemKey, table: str, *, condition: str | None = None,
                        names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None
                        ) -> dict[str, Any]:
        return self._with_condition({"TableName": table, "Key": self._key(key)}, condition, names, values)

    def _with_condition(self, request: dict[str, Any], condition: str | None, names: Mapping[str, str] | None,
                        values: Mapping[str, Any] | None) -> dict[str, Any]:
        if values:
            request["ExpressionAttributeValues"] = self._codec.dump(values)
        if names:
            request["ExpressionAttributeNames"] = dict(names)
        if condition:
            request["ConditionExpression"] = condition
        return request

    def _key(self, key: ItemKey) -> dict[str, Any]:
        return {PARTITION_KEY: {"S": key[0]}, SORT_KEY: {"S": key[1]}}

    def _put_request(self, write: Write) -> dict[str, Any]:
        request: dict[str, Any] = {"TableName": write.table or self.name, "Item": self._codec.dump(write.item)}
        if write.kind == "new":
            request["ConditionExpression"] = "attribute_not_exists(PK)"
        elif write.kind == "versioned":
            request["ConditionExpression"] = "attribute_exists(PK) AND version = :v"
            request["ExpressionAttributeValues"] = {":v": {"N": str(write.version)}}
        elif write.kind == "guarded" and write.update:
            return self._with_condition(request, write.update["condition"], write.update.get("names"),
                                        write.update.get("values"))
        return request

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for begin in range(0, len(requests), _BATCH_WRITE):
            pending: dict[str, Any] = {self.name: requests[begin:begin + _BATCH_WRITE]}
            while pending:
                pending = self._db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    def _query_request(self, where: KeyRange, *, limit: int, start: Resume | None, forward: bool = True,
                       filters: Mapping[str, Any] | None = None, projection: Iterable[str] | None = None,
                       consistent: bool = False) -> dict[str, Any]:
        pk_name, sk_name = where.key_names()
        names = {"#pk": pk_name}
        values: dict[str, Any] = {":pk": {"S": where.partition}}
        condition = "#pk = :pk"
        if where.op:
            names["#sk"] = sk_name
            values[":s1"] = {"S": where.low}
            if where.op == "begins":
                condition += " AND begins_with(#sk, :s1)"
            elif where.op == "between":
                condition += " AND #sk BETWEEN :s1 AND :s2"
                values[":s2"] = {"S": where.high}
            else:
                condition += f" AND #sk {where.op} :s1"
        request: dict[str, Any] = {"TableName": self.name, "KeyConditionExpression": condition,
                                   "ScanIndexForward": forward, "Limit": limit}
        if where.index_name:
            request["IndexName"] = where.index_name
        elif consistent:
            request["ConsistentRead"] = True
        if start:
            request["ExclusiveStartKey"] = start
        if filters:
            request["FilterExpression"] = self._filter_expression(filters, names, values)
        if projection:
            request.update(_projection(projection, names))
        request["ExpressionAttributeNames"] = names
        request["ExpressionAttributeValues"] = values
        return request

    def _filter_expression(self, filters: Mapping[str, Any], names: dict[str, str], values: dict[str, Any]) -> str:
        parts = []
        for i, (field, wanted) in enumerate(filters.items()):
            names[f"#f{i}"] = field
            if isinstance(wanted, Contains):
                parts.append(f"contains(#f{i}, :f{i})")
                values[f":f{i}"] = self._codec.value(wanted.value)
            elif isinstance(wanted, AnyOf):
                placeholders = []
                for j, value in enumerate(wanted.values):
                    values[f":f{i}_{j}"] = self._codec.value(value)
                    placeholders.append(f":f{i}_{j}")
                parts.append(f"#f{i} IN ({', '.join(placeholders)})")
            elif isinstance(wanted, BeginsWith):
                parts.append(f"begins_with(#f{i}, :f{i})")
                values[f":f{i}"] = self._codec.value(wanted.prefix)
            elif isinstance(wanted, Compare):
                parts.append(f"#f{i} {wanted.op} :f{i}")
                values[f":f{i}"] = self._codec.value(wanted.value)
            else:
                parts.append(f"#f{i} = :f{i}")
                values[f":f{i}"] = self._codec.value(wanted)
        return " AND ".join(parts)


def _projection(attributes: Iterable[str], names: dict[str, str]) -> dict[str, Any]:
    """A ProjectionExpression over ``attributes`` (names are placeholders: some are reserved words)."""
    wanted = list(attributes)
    for j, attribute in enumerate(wanted):
        names[f"#p{j}"] = attribute
    return {"ProjectionExpression": ", ".join(f"#p{j}" for j in range(len(wanted))),
            "ExpressionAttributeNames": names}
