"""In-memory stand-ins for the notes ports (enough of DynamoDB's and S3's behaviour for the service's rules)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crewhouse.core.errors import Conflict, PreconditionFailed
from crewhouse.notes.store import with_index_keys

Item = dict[str, Any]


class MemoryNotes:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Item] = {}

    def get(self, pk: str, sk: str) -> Item | None:
        found = self.items.get((pk, sk))
        return dict(found) if found else None

    def batch_get(self, pk: str, sks: Iterable[str]) -> dict[str, Item]:
        return {sk: dict(self.items[(pk, sk)]) for sk in sks if (pk, sk) in self.items}

    def _store(self, item: Item) -> None:
        self.items[(item["PK"], item["SK"])] = {k: v for k, v in with_index_keys(item).items() if v is not None}

    def put_new(self, item: Item) -> None:
        if (item["PK"], item["SK"]) in self.items:
            raise Conflict("exists")
        self._store(item)

    def replace(self, item: Item, expected_version: int) -> None:
        current = self.items.get((item["PK"], item["SK"]))
        if current is None or current.get("version") != expected_version:
            raise PreconditionFailed("changed")
        self._store(item)

    def save_with_revision(self, item: Item, expected_version: int | None, revision: Item,
                           prune: tuple[str, str] | None) -> None:
        current = self.items.get((item["PK"], item["SK"]))
        if (expected_version is None) != (current is None) or (current and current["version"] != expected_version):
            raise PreconditionFailed("changed")
        if (revision["PK"], revision["SK"]) in self.items:
            raise PreconditionFailed("revision exists")
        self._store(item)
        self._store(revision)
        if prune:
            self.items.pop(prune, None)

    def delete(self, pk: str, sk: str, expected_version: int | None = None) -> None:
        current = self.items.get((pk, sk))
        if current is None or (expected_version is not None and current.get("version") != expected_version):
            raise PreconditionFailed("changed")
        del self.items[(pk, sk)]

    def delete_many(self, item_keys: Iterable[tuple[str, str]]) -> None:
        for key in item_keys:
            self.items.pop(key, None)

    def query(self, *, index: str | None, partition: tuple[str, str], sort: tuple[str, ...] | None = None,
              limit: int = 50, start: dict[str, Any] | None = None, forward: bool = True,
              filters: Mapping[str, Any] | None = None, projection: Iterable[str] | None = None
              ) -> tuple[list[Item], dict[str, Any] | None]:
        pk_name, pk_value = partition
        sk_name = f"{index}SK" if index else "SK"
        rows = sorted((i for i in self.items.values() if i.get(pk_name) == pk_value and sk_name in i),
                      key=lambda i: i[sk_name], reverse=not forward)
        if sort and sort[0] == "begins":
            rows = [i for i in rows if i[sk_name].startswith(sort[1])]
        if start:
            rows = rows[int(start["offset"]):]
        page, rest = rows[:limit], rows[limit:]
        last = {"offset": int((start or {}).get("offset", 0)) + limit} if rest else None
        for field, value in (filters or {}).items():
            if field == "tags":
                page = [i for i in page if value in (i.get("tags") or [])]
            elif isinstance(value, tuple):
                page = [i for i in page if i.get(field, 0) > value[1]]
            else:
                page = [i for i in page if i.get(field) == value]
        return [dict(i) for i in page], last

    def query_all(self, *, index: str | None, partition: tuple[str, str], sort: tuple[str, ...] | None = None,
                  projection: Iterable[str] | None = None, page_size: int = 500) -> list[Item]:
        return self.query(index=index, partition=partition, sort=sort, limit=10**9)[0]


class MemoryBodies:
    def __init__(self) -> None:
        self.objects: dict[str, str] = {}
        self.trashed: set[str] = set()

    def put(self, key: str, text: str) -> None:
        self.objects[key] = text

    def get(self, key: str) -> str:
        return self.objects[key]

    def copy(self, source: str, target: str) -> None:
        self.objects[target] = self.objects[source]

    def delete(self, object_keys: Iterable[str]) -> None:
        for key in object_keys:
            self.objects.pop(key, None)

    def delete_prefix(self, prefix: str) -> int:
        found = [k for k in self.objects if k.startswith(prefix)]
        self.delete(found)
        return len(found)

    def mark_trashed(self, prefix: str, trashed: bool) -> int:
        found = [k for k in self.objects if k.startswith(prefix)]
        (self.trashed.update if trashed else self.trashed.difference_update)(found)
        return len(found)
