"""An in-memory stand-in for :class:`crewhouse.core.table.Table`, for unit tests and benchmark seeding.

It keeps DynamoDB's rules that stores rely on: key ranges read in sort-key order, ``limit`` counts the items
read before filters drop any, conditional writes and all-or-nothing transactions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from crewhouse.core import table as t
from crewhouse.core.dynamo import Item
from crewhouse.core.errors import Conflict, PreconditionFailed

_COMPARE = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b, "=": lambda a, b: a == b, "<>": lambda a, b: a != b}


def _matches(item: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    for field, wanted in filters.items():
        value = item.get(field)
        if isinstance(wanted, t.Contains):
            if value is None or wanted.value not in value:
                return False
        elif isinstance(wanted, t.AnyOf):
            if value not in wanted.values:
                return False
        elif isinstance(wanted, t.BeginsWith):
            if not str(value or "").startswith(wanted.prefix):
                return False
        elif isinstance(wanted, t.Compare):
            if value is None or not _COMPARE[wanted.op](value, wanted.value):
                return False
        elif value != wanted:
            return False
    return True


class MemoryTable(t.Table):
    def __init__(self) -> None:  # no client: nothing leaves the process
        self.name = "memory"
        self.items: dict[t.ItemKey, Item] = {}

    # --- reads ---------------------------------------------------------------------------------------

    def get(self, key: t.ItemKey, *, projection: Iterable[str] | None = None, consistent: bool = True) -> Item | None:
        found = self.items.get(key)
        return _projected(found, projection) if found else None

    def get_many(self, keys: Iterable[t.ItemKey]) -> dict[t.ItemKey, Item]:
        return {k: dict(self.items[k]) for k in keys if k in self.items}

    def _range(self, where: t.KeyRange, forward: bool) -> list[Item]:
        pk_name, sk_name = where.key_names()
        rows = sorted((i for i in self.items.values() if i.get(pk_name) == where.partition and sk_name in i),
                      key=lambda i: i[sk_name], reverse=not forward)
        if where.op == "begins":
            return [i for i in rows if str(i[sk_name]).startswith(where.low)]
        if where.op == "between":
            return [i for i in rows if where.low <= i[sk_name] <= where.high]
        if where.op:
            return [i for i in rows if _COMPARE[where.op](i[sk_name], where.low)]
        return rows

    def query(self, where: t.KeyRange, *, limit: int = 50, start: t.Resume | None = None, forward: bool = True,
              filters: Mapping[str, Any] | None = None, projection: Iterable[str] | None = None,
              consistent: bool = False) -> t.Page:
        rows = self._range(where, forward)
        offset = int((start or {}).get("offset", 0))
        page, more = rows[offset:offset + limit], len(rows) > offset + limit
        if filters:
            page = [i for i in page if _matches(i, filters)]
        return [_projected(i, projection) for i in page], {"offset": offset + limit} if more else None

    def query_all(self, where: t.KeyRange, *, projection: Iterable[str] | None = None, page_size: int = 500,
                  consistent: bool = False) -> list[Item]:
        return [_projected(i, projection) for i in self._range(where, True)]

    def count(self, where: t.KeyRange, *, page_size: int = 1000) -> int:
        return len(self._range(where, True))

    def resume_after(self, item: Mapping[str, Any]) -> t.Resume:
        raise NotImplementedError("resume points of a memory table are offsets")

    # --- writes --------------------------------------------------------------------------------------

    def _check(self, write: t.Write) -> bool:
        current = self.items.get(t.item_key(write.item))
        if write.kind == "new":
            return current is None
        if write.kind == "versioned":
            return current is not None and current.get("version") == write.version
        if write.kind in ("update", "guarded"):
            raise NotImplementedError("update expressions are DynamoDB's: test them against moto")
        condition = (write.update or {}).get("condition")
        if condition not in (None, "attribute_exists(PK)"):
            raise NotImplementedError("condition expressions are DynamoDB's: test them against moto")
        return current is not None or condition is None

    def _apply(self, write: t.Write) -> None:
        if write.kind == "delete":
            self.items.pop(t.item_key(write.item), None)
        else:
            self.items[t.item_key(write.item)] = {k: v for k, v in write.item.items() if v is not None}

    def put(self, item: Item) -> None:
        self._apply(t.overwrite(item))

    def put_many(self, items: Iterable[Item]) -> None:
        for item in items:
            self.put(item)

    def put_new(self, item: Item, *, exists: str = "exists") -> None:
        if not self._check(t.new(item)):
            raise Conflict(exists)
        self._apply(t.new(item))

    def replace(self, item: Item, expected_version: int, *, stale: str = "changed") -> None:
        if not self._check(t.versioned(item, expected_version)):
            raise PreconditionFailed(stale)
        self._apply(t.overwrite(item))

    def delete(self, key: t.ItemKey, *, expected_version: int | None = None, stale: str = "changed") -> None:
        current = self.items.get(key)
        if current is None or (expected_version is not None and current.get("version") != expected_version):
            raise PreconditionFailed(stale)
        del self.items[key]

    def delete_if_present(self, key: t.ItemKey) -> None:
        self.items.pop(key, None)

    def delete_many(self, keys: Iterable[t.ItemKey]) -> None:
        self.write_many(deletes=keys)

    def write_many(self, *, deletes: Iterable[t.ItemKey] = (), puts: Iterable[Item] = ()) -> None:
        for key in deletes:
            self.items.pop(key, None)
        for item in puts:
            self.put(item)

    def transact(self, writes: Sequence[t.Write]) -> None:
        reasons = ["" if self._check(w) else "ConditionalCheckFailed" for w in writes]
        if any(reasons):
            raise t.Cancelled(reasons)
        for write in writes:
            self._apply(write)


def _projected(item: Item, projection: Iterable[str] | None) -> Item:
    if not projection:
        return dict(item)
    wanted = set(projection)
    return {k: v for k, v in item.items() if k in wanted}
