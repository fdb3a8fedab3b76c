"""In-memory stand-ins for the notes ports: the real store over an in-memory table, and S3 bodies."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Item = dict[str, Any]


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
