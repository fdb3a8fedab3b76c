"""Atomic conditional writes for moto's DynamoDB.

Covers: DynamoDB evaluates a write's ``ConditionExpression`` and applies the write as one atomic step, for
single items and for ``TransactWriteItems`` alike. moto 5.2.5 checks and then writes with no lock
(``moto/dynamodb/models/__init__.py``), so two threads of the threaded moto server can both pass a condition
that only one of them should (two uploads reserving the last bytes of a quota). :func:`install` serializes
the backend's write operations behind one re-entrant lock; reads stay concurrent.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_lock = threading.RLock()
_installed: dict[str, Callable[..., Any]] = {}


def _serialized(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def write(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return original(*args, **kwargs)

    return write


def install() -> None:
    """Serialize moto's DynamoDB writes (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    with _lock:
        for name in WRITES:
            if name not in _installed and hasattr(DynamoDBBackend, name):
                _installed[name] = getattr(DynamoDBBackend, name)
                setattr(DynamoDBBackend, name, _serialized(_installed[name]))
