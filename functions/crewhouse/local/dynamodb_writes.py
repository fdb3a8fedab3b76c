"""Atomic conditional writes for moto's DynamoDB.

Covers: DynamoDB evaluates a write's ``ConditionExpression`` and applies the write as one atomic step, for
single items and for ``TransactWriteItems`` alike. moto 5.2.5 checks and then writes with no lock
(``moto/dynamodb/models/__init__.py``), so two threads of the threaded moto server can both pass a condition
that only one of them should (two uploads reserving the last bytes of a quota). :func:`install` serializes
the backend's write operations behind one re-entrant lock; reads stay concurrent.

Covers: to roll a failed ``TransactWriteItems`` back, moto deep-copies every table the transaction names,
whole, before it starts. The cost grows with the table (tens of milliseconds per transaction once a table
holds a few hundred items, all of it under the lock above), which no DynamoDB table shows. :func:`install`
makes that copy share the partitions the transaction does not touch and deep-copy only those it does:
the rollback restores exactly the same state.

Covers: every ``UpdateItem`` deep-copies its freshly parsed update-expression tree (``Validator.__init__``)
with ``copy.deepcopy``, whose generic memo walk over the tree's parent links costs more than the rest of
the write. :func:`install` copies the tree structurally: the same nodes, children and parents, so the
validation that rewrites the copy still leaves the parsed tree as it was.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from crewhouse.local import patches

WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_lock = threading.RLock()
_transaction = threading.local()  # .partitions: table name -> hash keys the running transaction touches


def _serialized(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def write(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return original(*args, **kwargs)

    return write


@contextlib.contextmanager
def serialized_writes() -> Iterator[None]:
    """Holds every table write back while the caller reads the tables (a snapshot sees no write half done)."""
    with _lock:
        yield


def _touched_partitions(backend: Any, transact_items: list[dict[str, Any]]) -> dict[str, set[Any]]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    touched: dict[str, set[Any]] = {}
    for entry in transact_items:
        _, operation = next(iter(entry.items()))
        table = backend.tables.get(operation.get("TableName"))
        key = operation.get("Key") or operation.get("Item") or {}
        if table is None or table.hash_key_attr not in key:
            continue
        touched.setdefault(table.name, set()).add(DynamoType(key[table.hash_key_attr]))
    return touched


def _with_partition_snapshots(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        _transaction.partitions = _touched_partitions(self, transact_items)
        try:
            return original(self, transact_items, *args, **kwargs)
        finally:
            _transaction.partitions = None

    return transact_write_items


def _table_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
    """A transaction's rollback copy shares untouched partitions; any other deep copy is a full one."""
    touched = (getattr(_transaction, "partitions", None) or {}).get(self.name)
    if touched is None:
        cls: Any = type(self)
        clone = cls.__new__(cls)
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            setattr(clone, name, copy.deepcopy(value, memo))
        return clone
    clone = copy.copy(self)
    clone.items = defaultdict(dict)
    for hash_key, partition in self.items.items():
        if hash_key in touched:
            clone.items[hash_key] = copy.deepcopy(partition)
        else:
            clone.items[hash_key] = dict(partition) if isinstance(partition, dict) else partition
    if self.stream_shard is not None:
        clone.stream_shard = copy.copy(self.stream_shard)
        clone.stream_shard.items = list(self.stream_shard.items)
        clone.stream_shard.table = clone
    return clone


_IMMUTABLE = (str, int, float, bool, bytes, type(None))


def copy_expression_tree(value: Any, parent: Any = None) -> Any:
    """A copy of a parsed expression tree: new nodes and child lists, leaves shared when immutable."""
    from moto.dynamodb.parsing.ast_nodes import Node  # type: ignore[attr-defined]  # the module opts out of typing

    if isinstance(value, Node):
        clone: Any = object.__new__(type(value))
        for name, attribute in value.__dict__.items():
            if name == "parent":
                clone.__dict__[name] = parent
            elif name == "children":
                clone.__dict__[name] = copy_expression_tree(attribute, clone)
            else:
                clone.__dict__[name] = copy_expression_tree(attribute)
        return clone
    if isinstance(value, list):
        return [copy_expression_tree(child, parent) for child in value]
    return value if isinstance(value, _IMMUTABLE) else copy.deepcopy(value)


def _validator_init(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def __init__(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        original(self, None, *args, **kwargs)  # moto's own copy of nothing; moto passes whole parsed trees
        self.node_to_validate = copy_expression_tree(expression)

    return __init__


def _serialized_transaction(original: Callable[..., Any]) -> Callable[..., Any]:
    return _serialized(_with_partition_snapshots(original))


def install() -> None:
    """Serialize moto's DynamoDB writes and make their copies cheap (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.parsing.validators import Validator

    atomic = "a conditional write checks and writes as one step, as in DynamoDB (moto checks, then writes, unlocked)"
    for name in WRITES:
        if name == "transact_write_items":
            patches.wrap(DynamoDBBackend, name, _serialized_transaction, kind="accuracy",
                         reason=f"{atomic}; notes the partitions it touches, which the rollback copy deep-copies")
        else:
            patches.wrap(DynamoDBBackend, name, _serialized, reason=atomic, kind="accuracy")
    patches.patch(Table, "__deepcopy__", _table_deepcopy, kind="speed", expect="absent",
                  reason="a transaction's rollback copy shares the partitions it does not touch (moto copies whole "
                         "tables)")
    patches.wrap(Validator, "__init__", _validator_init, kind="speed",
                 reason="copies the update expression's tree structurally (moto's deepcopy walks its parent links)")
