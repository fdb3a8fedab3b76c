"""Measuring the DynamoDB work of a request, shared by the ``test_*_dynamodb_work.py`` benchmarks.

moto's own ConsumedCapacity is not realistic, so it is not used. A botocore hook on the DynamoDB client
(``before-parameter-build`` keeps the request, ``after-call`` reads the response) records for every call:

- calls: DynamoDB requests, whichever part of the code makes them;
- items examined: GetItem 1 when found, BatchGetItem the items returned, Query the items its key
  condition reads before Limit stops it (ScannedCount; filters and ``Select=COUNT`` do not reduce it);
- read units by AWS's rules, from item sizes (``item_size``: UTF-8 names and strings, numbers
  ``ceil(digits / 2) + 1``, lists and maps ``3 + 1 per element``): GetItem and BatchGetItem
  ``ceil(size / 4 KB)`` per item, a missing item the minimum; Query ``ceil(total size of the examined
  items / 4 KB)`` for the whole page, at least 1; eventually consistent reads (every GSI read) half;
- write units: ``ceil(max(old, new item size) / 1 KB)`` per item written (twice that in a transaction),
  plus the maintenance of every GSI the write touches (one write per index entry put or deleted: a
  changed index key is two, a changed projected attribute one);
- items written: table items put or deleted.

A response alone cannot give those sizes (``Select=COUNT`` returns no items, a projection returns part of
them), so the meter also keeps its own model of the metered tables, fed by every write it sees (the seeding
included), and works out which items each Query examined by DynamoDB's rules (key condition, order,
exclusive start key, Limit, 1 MB page, INCLUDE projections). Each such count is checked against the
emulator's ScannedCount; a disagreement is a problem the benchmark fails on.

``speed_up_moto`` removes wall-time costs of moto that grow with the table (a sort of every item before each
Query, quadratic item sizing) without changing what it stores or answers.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

Item = dict[str, Any]  # a DynamoDB item in wire format: {"name": {"S": "..."}}
Key = tuple[tuple[str, Any], ...]


# --- DynamoDB's item size and capacity rules --------------------------------------------------------


def _utf8(text: str) -> int:
    return len(text.encode())


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value by DynamoDB's rules (the name is counted by the caller)."""
    (kind, raw), = value.items()
    if kind == "S":
        return _utf8(raw)
    if kind == "N":
        digits = raw.lstrip("-").replace(".", "").split("e")[0].split("E")[0].strip("0")
        return math.ceil(max(len(digits), 1) / 2) + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(_utf8(v) for v in raw)
    if kind == "NS":
        return sum(value_size({"N": v}) for v in raw)
    if kind == "BS":
        return sum(len(v) for v in raw)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in raw)
    if kind == "M":
        return 3 + sum(_utf8(k) + value_size(v) + 1 for k, v in raw.items())
    raise AssertionError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(_utf8(name) + value_size(value) for name, value in item.items())


def read_units(size: int, *, consistent: bool) -> float:
    """One read of ``size`` bytes (a whole Query page, or one item); a read of nothing costs the minimum."""
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


# --- the benchmark's model of the tables ----------------------------------------------------------


def _sortable(value: Mapping[str, Any]) -> Any:
    (kind, raw), = value.items()
    return Decimal(raw) if kind == "N" else raw


@dataclass
class IndexModel:
    hash_key: str
    range_key: str | None
    projection: Mapping[str, Any]

    def entry(self, item: Item, table: TableModel) -> Item | None:
        """The item's entry in this index, or None when the item lacks the index's keys."""
        if self.hash_key not in item or (self.range_key and self.range_key not in item):
            return None
        kind = self.projection.get("ProjectionType", "ALL")
        if kind == "ALL":
            return item
        wanted = {self.hash_key, self.range_key, table.hash_key, table.range_key}
        if kind == "INCLUDE":
            wanted |= set(self.projection.get("NonKeyAttributes", []))
        return {k: v for k, v in item.items() if k in wanted}


@dataclass
class TableModel:
    """A table's items, and for the table and each index, its partitions (hash value -> key -> entry)."""

    name: str
    hash_key: str
    range_key: str | None
    indexes: dict[str, IndexModel]
    items: dict[Key, Item] = field(default_factory=dict)
    partitions: dict[str | None, dict[Any, dict[Key, Item]]] = field(default_factory=dict)

    def key(self, item: Mapping[str, Any]) -> Key:
        names = [self.hash_key] + ([self.range_key] if self.range_key else [])
        return tuple((name, _sortable(item[name])) for name in names)

    def _entries(self, item: Item) -> Iterator[tuple[str | None, Any, Item]]:
        yield None, _sortable(item[self.hash_key]), item
        for name, index in self.indexes.items():
            entry = index.entry(item, self)
            if entry is not None:
                yield name, _sortable(entry[index.hash_key]), entry

    def put(self, item: Item) -> None:
        key = self.key(item)
        self.delete(key)
        self.items[key] = item
        for index, partition, entry in self._entries(item):
            self.partitions.setdefault(index, {}).setdefault(partition, {})[key] = entry

    def delete(self, key: Key) -> None:
        old = self.items.pop(key, None)
        if old is not None:
            for index, partition, _ in self._entries(old):
                del self.partitions[index][partition][key]

    def examined(self, params: Mapping[str, Any]) -> list[Item]:
        """The items a Query reads, in order, by DynamoDB's rules (before any filter or projection)."""
        index_name = params.get("IndexName")
        index = self.indexes[index_name] if index_name else None
        hash_name = index.hash_key if index else self.hash_key
        range_name = index.range_key if index else self.range_key
        partition, in_range = _key_condition(params, hash_name, range_name)
        table_keys = [self.hash_key] + ([self.range_key] if self.range_key else [])
        order = ([range_name] if range_name else []) + (table_keys if index else [])

        def position(item: Mapping[str, Any]) -> tuple[Any, ...]:
            return tuple(_sortable(item[name]) for name in order)

        entries = self.partitions.get(index_name, {}).get(partition, {}).values()
        rows = sorted((e for e in entries if in_range(e)), key=position)
        forward = params.get("ScanIndexForward", True)
        if not forward:
            rows.reverse()
        start = params.get("ExclusiveStartKey")
        if start:
            after = position(start)
            rows = [r for r in rows if (position(r) > after if forward else position(r) < after)]
        page: list[Item] = []
        total = 0
        for row in rows[: params.get("Limit", len(rows))]:
            total += item_size(row)
            if total > 1024 * 1024:
                break
            page.append(row)
        return page


_COMPARISON = re.compile(r"^(\S+) (=|<|<=|>|>=) (:\w+)$")
_BETWEEN = re.compile(r"^(\S+) BETWEEN (:\w+) AND (:\w+)$")
_BEGINS = re.compile(r"^begins_with\((\S+), (:\w+)\)$")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}
Check = Callable[[Mapping[str, Any]], bool]


def _check(name: str, test: Callable[[Any], bool]) -> Check:
    return lambda item: name in item and test(_sortable(item[name]))


def _starts(prefix: Any) -> Callable[[Any], bool]:
    return lambda value: str(value).startswith(prefix)


def _within(low: Any, high: Any) -> Callable[[Any], bool]:
    return lambda value: bool(low <= value <= high)


def _compared(op: str, bound: Any) -> Callable[[Any], bool]:
    return lambda value: _COMPARE[op](value, bound)


def _whole_partition(item: Mapping[str, Any]) -> bool:
    return True


def _key_condition(params: Mapping[str, Any], hash_name: str, range_name: str | None) -> tuple[Any, Check]:
    """A ``KeyConditionExpression`` (the forms DynamoDB allows, no parentheses) as the partition it names
    and a test of the sort key."""
    names = params.get("ExpressionAttributeNames", {})
    values = params.get("ExpressionAttributeValues", {})
    partition: Any = None
    in_range: Check = _whole_partition
    for part in re.split(r" AND (?!:)", params["KeyConditionExpression"].strip()):
        part = part.strip()
        if begins := _BEGINS.match(part):
            name, test = names.get(begins[1], begins[1]), _starts(_sortable(values[begins[2]]))
        elif between := _BETWEEN.match(part):
            name = names.get(between[1], between[1])
            test = _within(_sortable(values[between[2]]), _sortable(values[between[3]]))
        elif comparison := _COMPARISON.match(part):
            name = names.get(comparison[1], comparison[1])
            if name == hash_name and comparison[2] == "=":
                partition = _sortable(values[comparison[3]])
                continue
            test = _compared(comparison[2], _sortable(values[comparison[3]]))
        else:
            raise AssertionError(f"unsupported key condition {part!r}")
        assert name == range_name, f"{part!r}: not a condition on the sort key {range_name}"
        in_range = _check(name, test)
    assert partition is not None, f"no partition in {params['KeyConditionExpression']!r}"
    return partition, in_range


# --- the meter ----------------------------------------------------------------------------------------


@dataclass
class Work:
    calls: int = 0
    examined: int = 0
    bytes_read: int = 0
    rcu: float = 0.0
    wcu_table: float = 0.0
    wcu_indexes: float = 0.0
    items_written: int = 0
    operations: Counter[str] = field(default_factory=Counter)

    def add(self, other: Work) -> None:
        self.calls += other.calls
        self.examined += other.examined
        self.bytes_read += other.bytes_read
        self.rcu += other.rcu
        self.wcu_table += other.wcu_table
        self.wcu_indexes += other.wcu_indexes
        self.items_written += other.items_written
        self.operations.update(other.operations)


class Meter:
    """Counts the DynamoDB work of every call a client makes inside :meth:`request`."""

    def __init__(self, client: Any, tables: Iterable[str]) -> None:
        self.tables: dict[str, TableModel] = {}
        for name in tables:
            table = client.describe_table(TableName=name)["Table"]
            schema = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
            indexes = {
                gsi["IndexName"]: IndexModel(
                    next(k["AttributeName"] for k in gsi["KeySchema"] if k["KeyType"] == "HASH"),
                    next((k["AttributeName"] for k in gsi["KeySchema"] if k["KeyType"] == "RANGE"), None),
                    gsi.get("Projection", {}))
                for gsi in table.get("GlobalSecondaryIndexes", []) + table.get("LocalSecondaryIndexes", [])
            }
            self.tables[name] = TableModel(name, schema["HASH"], schema.get("RANGE"), indexes)
        self.current: Work | None = None
        self.problems: list[str] = []
        client.meta.events.register("before-parameter-build.dynamodb", self._keep_params)
        client.meta.events.register("after-call.dynamodb", self._after_call)

    @contextmanager
    def request(self) -> Iterator[Work]:
        self.current = Work()
        try:
            yield self.current
        finally:
            self.current = None

    # --- hooks

    @staticmethod
    def _keep_params(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = dict(params)

    def _after_call(self, http_response: Any, parsed: Mapping[str, Any], model: Any, context: Mapping[str, Any],
                    **_: Any) -> None:
        operation, params = model.name, context.get("bench_params", {})
        work = self.current if self.current is not None else Work()  # seeding: model only, nothing counted
        work.calls += 1
        work.operations[operation] += 1
        if http_response.status_code >= 300:
            self.problems.append(f"{operation} failed: {parsed.get('Error')}")
            return
        handler = getattr(self, f"_on_{operation}", None)
        if handler is None:
            if self.current is not None:
                self.problems.append(f"{operation}: not measured by this benchmark")
            return
        handler(work, params, parsed)

    # --- reads

    def _on_GetItem(self, work: Work, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        table = self.tables[params["TableName"]]
        stored = table.items.get(table.key(params["Key"]))
        if (stored is None) != ("Item" not in parsed):
            self.problems.append(f"GetItem on {table.name}: the model disagrees with the emulator")
        size = item_size(stored) if stored is not None else 0
        work.examined += stored is not None
        work.bytes_read += size
        work.rcu += read_units(size, consistent=bool(params.get("ConsistentRead")))

    def _on_BatchGetItem(self, work: Work, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        for name, request in params["RequestItems"].items():
            table = self.tables[name]
            returned = {table.key(i) for i in parsed.get("Responses", {}).get(name, [])}
            for key in request["Keys"]:
                stored = table.items.get(table.key(key))
                if (stored is not None) != (table.key(key) in returned):
                    self.problems.append(f"BatchGetItem on {name}: the model disagrees with the emulator")
                size = item_size(stored) if stored is not None else 0
                work.examined += stored is not None
                work.bytes_read += size
                work.rcu += read_units(size, consistent=bool(request.get("ConsistentRead")))
        if parsed.get("UnprocessedKeys"):
            self.problems.append("BatchGetItem left keys unprocessed")

    def _on_Query(self, work: Work, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        table = self.tables[params["TableName"]]
        page = table.examined(params)
        if len(page) != parsed["ScannedCount"]:
            self.problems.append(f"Query on {table.name}: the model examined {len(page)} items, "
                                 f"the emulator's ScannedCount is {parsed['ScannedCount']} ({params})")
        size = sum(item_size(i) for i in page)
        work.examined += len(page)
        work.bytes_read += size
        consistent = bool(params.get("ConsistentRead")) and not params.get("IndexName")
        work.rcu += read_units(size, consistent=consistent)

    def _on_Scan(self, work: Work, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        work.examined += int(parsed.get("ScannedCount", 0))  # and the test fails: nothing may scan

    # --- writes

    def _write(self, work: Work, table_name: str, key: Mapping[str, Any], new: Item | None, *,
               factor: int = 1) -> None:
        table = self.tables[table_name]
        if self.current is not None:  # seeding only feeds the model
            old = table.items.get(table.key(key))
            work.items_written += 1
            work.wcu_table += factor * write_units(max(item_size(old or {}), item_size(new or {})))
            for index in table.indexes.values():
                before = index.entry(old, table) if old else None
                after = index.entry(new, table) if new else None
                if before is None and after is None:
                    continue
                if before is None or after is None:
                    work.wcu_indexes += write_units(item_size(before or after or {}))
                elif any(before.get(k) != after.get(k) for k in (index.hash_key, index.range_key) if k):
                    work.wcu_indexes += write_units(item_size(before)) + write_units(item_size(after))
                elif before != after:
                    work.wcu_indexes += write_units(max(item_size(before), item_size(after)))
        if new is None:
            table.delete(table.key(key))
        else:
            table.put(dict(new))

    def _on_PutItem(self, work: Work, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        self._write(work, params["TableName"], params["Item"], params["Item"])

    def _on_DeleteItem(self, work: Work, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        self._write(work, params["TableName"], params["Key"], None)

    def _on_BatchWriteItem(self, work: Work, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        if parsed.get("UnprocessedItems"):
            self.problems.append("BatchWriteItem left items unprocessed")
        for name, requests in params["RequestItems"].items():
            for request in requests:
                if "PutRequest" in request:
                    item = request["PutRequest"]["Item"]
                    self._write(work, name, item, item)
                else:
                    self._write(work, name, request["DeleteRequest"]["Key"], None)

    def _on_TransactWriteItems(self, work: Work, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        for entry in params["TransactItems"]:
            if "Put" in entry:
                self._write(work, entry["Put"]["TableName"], entry["Put"]["Item"], entry["Put"]["Item"], factor=2)
            elif "Delete" in entry:
                self._write(work, entry["Delete"]["TableName"], entry["Delete"]["Key"], None, factor=2)
            else:
                self.problems.append(f"TransactWriteItems: {sorted(entry)} not measured by this benchmark")

    def _on_DescribeTable(self, work: Work, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        pass


def batch_write(client: Any, table: str, items: list[Item]) -> None:
    for start in range(0, len(items), 25):
        response = client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}}
                                                                  for i in items[start:start + 25]]})
        assert not response.get("UnprocessedItems")



METRICS: dict[str, Callable[[Work], float]] = {
    "calls": lambda w: w.calls,
    "items examined": lambda w: w.examined,
    "KB read": lambda w: w.bytes_read / 1024,
    "RCU": lambda w: w.rcu,
    "WCU table": lambda w: w.wcu_table,
    "WCU GSIs": lambda w: w.wcu_indexes,
    "items written": lambda w: w.items_written,
}
ASSERTED = ("calls", "items examined", "RCU", "WCU table", "WCU GSIs")


@dataclass
class Result:
    mean: dict[str, dict[str, float]]  # operation -> metric -> mean per request
    samples: dict[str, list[Work]]
    problems: list[str]


def _unsorted_all_items(self: Any) -> list[Any]:
    """moto's ``Table.all_items`` without its sort of the whole table (see the module docstring)."""
    if not self.range_key_attr:
        return list(self.items.values())
    return [item for partition in self.items.values() for item in partition.values()]


def ratio(small: float, large: float) -> float:
    if small == large:
        return 1.0
    return large / small if small else math.inf


def work_table(small: Result, large: Result, operations: Iterable[str], *, sizes: tuple[str, str],
               samples: int, budget: float) -> str:
    """Mean work per request for both sizes and their ratio, with the calls each operation made."""
    label_small, label_large = sizes
    header = (f"{'operation':<10} | {'metric':<14} | {label_small:>10} | {label_large:>12} | {'ratio':>6}")
    lines = ["", f"DynamoDB work per request (mean of {samples}; ratio = {label_large} / {label_small}, "
             f"budget {budget})", header, "-" * len(header)]
    for operation in operations:
        for metric in METRICS:
            a, b = small.mean[operation][metric], large.mean[operation][metric]
            shown = "-" if a == b == 0 else f"{ratio(a, b):.2f}"
            lines.append(f"{operation:<10} | {metric:<14} | {a:>10.2f} | {b:>12.2f} | {shown:>6}")
        calls = Counter[str]()
        for work in large.samples[operation]:
            calls.update(work.operations)
        mix = ", ".join(f"{name} x{count / samples:g}" for name, count in sorted(calls.items()))
        lines.append(f"{operation:<10} | {'calls made':<14} | {mix}")
        lines.append("-" * len(header))
    return "\n".join(lines)


def summarize(samples: dict[str, list[Work]], problems: list[str]) -> Result:
    """The mean of every metric per operation."""
    mean = {}
    for operation, works in samples.items():
        overall = Work()
        for work in works:
            overall.add(work)
        mean[operation] = {metric: read(overall) / len(works) for metric, read in METRICS.items()}
    return Result(mean, samples, problems)


def sample(meter: Meter, world: Any, operations: Mapping[str, Callable[[Any, int], Any]], samples: int) -> Result:
    """Run each operation ``samples`` times against ``world``, metering each run on its own."""
    runs: dict[str, list[Work]] = {}
    for operation, run in operations.items():
        runs[operation] = []
        for n in range(samples):
            with meter.request() as work:
                run(world, n)
            runs[operation].append(work)
    return summarize(runs, meter.problems)


def over_budget(small: Result, large: Result, operations: Iterable[str], budget: float) -> list[str]:
    """Each asserted metric whose ratio large / small exceeds ``budget``."""
    return [f"{operation} {metric}: {large.mean[operation][metric]:.2f} vs {small.mean[operation][metric]:.2f}"
            for operation in operations for metric in ASSERTED
            if ratio(small.mean[operation][metric], large.mean[operation][metric]) > budget]


def speed_up_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto with the wall-time fixes of the module docstring; what it stores and answers is unchanged."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.table import Table

    monkeypatch.setattr(Table, "all_items", _unsorted_all_items)
    cast_value, value_size = DynamoType.__dict__["cast_value"].fget, DynamoType.size

    # The originals test for N, sets, L, M and NULL before they return a string's value or UTF-8 length:
    # the same answers for the type nearly every compared or sized value has, without the detour.
    def fast_cast_value(self: Any) -> Any:
        return self.value if self.type == "S" else cast_value(self)

    def fast_value_size(self: Any) -> int:
        return len(self.value.encode()) if self.type == "S" else int(value_size(self))

    def fast_item_size(self: Any) -> int:
        return sum(len(name.encode()) + fast_value_size(value) for name, value in self.attrs.items())

    # The original re-sizes the whole item before each attribute it adds (quadratic); the item's sizes only
    # grow, so checking the finished item once raises exactly when the original would.
    def fast_item_init(self: Any, hash_key: Any, range_key: Any, attrs: Mapping[str, Any]) -> None:
        self.hash_key, self.range_key = hash_key, range_key
        values = {name: DynamoType(value) for name, value in attrs.items()}
        if sum(len(name.encode()) + fast_value_size(value) for name, value in values.items()) > 405000:
            raise ItemSizeTooLarge
        self.attrs = LimitedSizeDict()
        for name, value in values.items():
            dict.__setitem__(self.attrs, name, value)

    monkeypatch.setattr(DynamoType, "cast_value", property(fast_cast_value))
    monkeypatch.setattr(DynamoType, "size", fast_value_size)
    monkeypatch.setattr(Item, "size", fast_item_size)
    monkeypatch.setattr(Item, "__init__", fast_item_init)
