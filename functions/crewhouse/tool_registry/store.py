"""The registry's records in DynamoDB, tools' secrets in Secrets Manager, and the code sandbox Lambda.

Table keys (tenant-prefixed; nothing else knows them):

- ``T#<t>#TOOL#<id>`` / ``TOOL``: a tool; ``GSI1PK = T#<t>#TOOLS``, ``GSI1SK = <kind>#<name>#<id>`` (listing by
  kind, then name). Schemas and config are kept as JSON text (exact numbers, nulls kept).
- ``T#<t>#TOOLNAME#<lower-case name>`` / ``NAME``: the guard that keeps names unique in a tenant, written in the
  same transaction as the tool.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from crewhouse.core import table as t
from crewhouse.core.errors import Conflict, PreconditionFailed
from crewhouse.core.keys import tenant_prefix

Record = dict[str, Any]
TOOL_SK, NAME_SK = "TOOL", "NAME"
_JSON_FIELDS = ("input_schema", "output_schema", "config")
_KEY_ATTRIBUTES = ("PK", "SK", "GSI1PK", "GSI1SK")
_STALE = "The tool changed meanwhile; fetch it again and retry."


def tool_pk(tenant_id: str, tool_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}TOOL#{tool_id}"


def name_pk(tenant_id: str, name: str) -> str:
    return f"{tenant_prefix(tenant_id)}TOOLNAME#{name.lower()}"


def listing_pk(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}TOOLS"


def _item(record: Record) -> Record:
    item = {k: v for k, v in record.items() if k not in _JSON_FIELDS}
    for name in _JSON_FIELDS:
        item[name] = json.dumps(record.get(name), separators=(",", ":"))
    return {**item, "PK": tool_pk(record["tenant_id"], record["id"]), "SK": TOOL_SK,
            "GSI1PK": listing_pk(record["tenant_id"]), "GSI1SK": f"{record['kind']}#{record['name']}#{record['id']}"}


def _record(item: Mapping[str, Any] | None) -> Record | None:
    if item is None:
        return None
    record = {k: v for k, v in item.items() if k not in _KEY_ATTRIBUTES}
    for name in _JSON_FIELDS:
        record[name] = json.loads(record[name]) if isinstance(record.get(name), str) else None
    record["version"] = int(record["version"])
    record.setdefault("secret_set_at", None)
    return record


def _name_guard(tenant_id: str, name: str, tool_id: str) -> Record:
    return {"PK": name_pk(tenant_id, name), "SK": NAME_SK, "tool_id": tool_id}


def _failed(cancelled: t.Cancelled, position: int) -> bool:
    return len(cancelled.reasons) > position and "ConditionalCheckFailed" in cancelled.reasons[position]


def _name_taken(name: str) -> Conflict:
    return Conflict(f"A tool called {name} exists already in this tenant.", slug="tool-name-taken")


class DynamoTools:
    def __init__(self, table: t.Table) -> None:
        self._table = table

    def get(self, tenant_id: str, tool_id: str) -> Record | None:
        return _record(self._table.get((tool_pk(tenant_id, tool_id), TOOL_SK)))

    def get_many(self, tenant_id: str, tool_ids: Sequence[str]) -> dict[str, Record]:
        found = self._table.get_many([(tool_pk(tenant_id, i), TOOL_SK) for i in dict.fromkeys(tool_ids)])
        records = (_record(item) for item in found.values())
        return {r["id"]: r for r in records if r is not None}

    def create(self, record: Record) -> None:
        try:
            self._table.transact([t.new(_item(record)),
                                  t.new(_name_guard(record["tenant_id"], record["name"], record["id"]))])
        except t.Cancelled as cancelled:
            if _failed(cancelled, 1):
                raise _name_taken(record["name"]) from cancelled
            if _failed(cancelled, 0):
                raise Conflict("A tool with this id exists already.") from cancelled
            raise

    def replace(self, record: Record, expected_version: int, previous_name: str) -> None:
        writes = [t.versioned(_item(record), expected_version)]
        renamed = record["name"].lower() != previous_name.lower()
        if renamed:
            writes += [t.removal((name_pk(record["tenant_id"], previous_name), NAME_SK)),
                       t.new(_name_guard(record["tenant_id"], record["name"], record["id"]))]
        try:
            self._table.transact(writes)
        except t.Cancelled as cancelled:
            if _failed(cancelled, 0):
                raise PreconditionFailed(_STALE) from cancelled
            if renamed and _failed(cancelled, 2):
                raise _name_taken(record["name"]) from cancelled
            raise

    def remove(self, tenant_id: str, tool_id: str, expected_version: int, name: str) -> None:
        try:
            self._table.transact([
                t.removal((tool_pk(tenant_id, tool_id), TOOL_SK), must_exist=True, condition="version = :v",
                          values={":v": expected_version}),
                t.removal((name_pk(tenant_id, name), NAME_SK))])
        except t.Cancelled as cancelled:
            if _failed(cancelled, 0):
                raise PreconditionFailed(_STALE) from cancelled
            raise

    def page(self, tenant_id: str, *, kind: str | None, limit: int,
             start: dict[str, Any] | None) -> tuple[list[Record], dict[str, Any] | None]:
        partition = listing_pk(tenant_id)
        where = t.starting_with(partition, f"{kind}#", "GSI1") if kind else t.whole(partition, "GSI1")
        items, resume = self._table.query(where, limit=limit, start=start)
        return [r for r in map(_record, items) if r is not None], resume


class ToolSecrets:
    """One secret a tool, ``<prefix>/<tenant>/<tool id>``; the registry writes and reads it, the API never shows it."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix.rstrip("/")

    def name_for(self, tenant_id: str, tool_id: str) -> str:
        return f"{self._prefix}/{tenant_id}/{tool_id}"

    def put(self, name: str, value: str, tenant_id: str) -> None:
        try:
            self._client.create_secret(Name=name, SecretString=value, Description="A Crewhouse tool's credentials",
                                       Tags=[{"Key": "crewhouse:tenant", "Value": tenant_id}])
        except self._client.exceptions.ResourceExistsException:
            self._client.put_secret_value(SecretId=name, SecretString=value)

    def get(self, name: str) -> str | None:
        try:
            return str(self._client.get_secret_value(SecretId=name)["SecretString"])
        except self._client.exceptions.ResourceNotFoundException:
            return None

    def delete(self, name: str) -> None:
        with contextlib.suppress(self._client.exceptions.ResourceNotFoundException):
            self._client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


class LambdaSandbox:
    """The sandbox Lambda (no permissions, no network): one synchronous Invoke a code tool call."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def run(self, request: Mapping[str, Any]) -> dict[str, Any]:
        answer = self._client.invoke(FunctionName=self._function, InvocationType="RequestResponse",
                                     Payload=json.dumps(request).encode())
        body = answer["Payload"].read()
        if answer.get("FunctionError"):
            try:
                message = str(json.loads(body).get("errorMessage", ""))[:500]
            except ValueError:
                message = ""
            return {"ok": False, "error": "sandbox-failed", "detail": f"the sandbox failed: {message}"}
        result: dict[str, Any] = json.loads(body)
        return result


class LocalSandbox:
    """The same sandbox (a child process) run by this process: tests, and functions without a sandbox Lambda."""

    def run(self, request: Mapping[str, Any]) -> dict[str, Any]:
        from crewhouse.tool_registry.sandbox import handler

        return handler(dict(request), None)
