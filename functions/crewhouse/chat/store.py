"""Chat sessions and messages in DynamoDB; the only module that knows their keys.

- session: ``PK = T#<tenant>#U#<user>``, ``SK = CHAT#<session id>`` (a ULID: newest first by key)
- message: ``PK = T#<tenant>#U#<user>#CHAT#<session id>``, ``SK = MSG#<sequence, 8 digits>``
A running turn holds ``turn_lock_until`` on the session item (a conditional write), so a second message
sent meanwhile is refused instead of interleaved.

A turn costs the chat three requests and no read: the lock (one UpdateItem, which also returns the session
with its ``context``), the turn's messages (one BatchWriteItem), and the commit (one UpdateItem: the count,
the title, the next context, the lock released, conditional on still holding the lock). The session's
``message_count`` is the commit point: messages are read only below it, so a turn whose commit never
happened is invisible, and the next turn writes over its messages.

``context`` is the conversation context the next turn sends (the newest whole turns within the token budget,
see ``logic.next_context``), zlib-compressed JSON: tool results repeat task fields, so a 6,000-token context
stays a few KB and the session item small. Session reads for listing and lookups project it away.
"""

from __future__ import annotations

import json
from typing import Any

from crewhouse.core.errors import Conflict, NotFound


def session_sk(session_id: str) -> str:
    return f"CHAT#{session_id}"


def messages_pk(owner: str, session_id: str) -> str:
    return f"{owner}#CHAT#{session_id}"


def _session(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["SK"]["S"].removeprefix("CHAT#"), "title": item["title"]["S"],
            "created_at": item["created_at"]["S"], "updated_at": item["updated_at"]["S"],
            "message_count": int(item.get("message_count", {"N": "0"})["N"])}


CONTEXT_MAX_BYTES = 200_000  # compressed; DynamoDB items hold 400 KB (a 6,000-token context takes a few KB)


def encode_context(messages: list[dict[str, Any]]) -> bytes:
    import zlib

    return zlib.compress(json.dumps(messages, separators=(",", ":")).encode(), 6)


def decode_context(data: bytes) -> list[dict[str, Any]]:
    import zlib

    return list(json.loads(zlib.decompress(data)))


def message_sk(seq: int) -> str:
    return f"MSG#{seq:08d}"


# Session reads name their attributes: nothing else on the item (the turn lock) is sent back.
_SESSION_ATTRIBUTES = ("SK", "title", "created_at", "updated_at", "message_count")
_SESSION_PROJECTION: dict[str, Any] = {
    "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(_SESSION_ATTRIBUTES))),
    "ExpressionAttributeNames": {f"#a{i}": name for i, name in enumerate(_SESSION_ATTRIBUTES)},
}


def _message(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["SK"]["S"].removeprefix("MSG#"), "role": item["role"]["S"], "text": item["text"]["S"],
            "tool_calls": json.loads(item.get("tool_calls", {"S": "[]"})["S"]),
            "converse": json.loads(item["converse"]["S"]), "created_at": item["created_at"]["S"]}


class DynamoChatStore:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table

    def create_session(self, owner: str, session_id: str, title: str, now: str) -> dict[str, Any]:
        item = {"PK": {"S": owner}, "SK": {"S": session_sk(session_id)}, "title": {"S": title},
                "created_at": {"S": now}, "updated_at": {"S": now}, "message_count": {"N": "0"}}
        self._db.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(PK)")
        return _session(item)

    def get_session(self, owner: str, session_id: str) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=self._table, ConsistentRead=True, **_SESSION_PROJECTION,
                                 Key={"PK": {"S": owner}, "SK": {"S": session_sk(session_id)}}).get("Item")
        return _session(item) if item else None

    def list_sessions(self, owner: str, limit: int, start: dict[str, Any] | None
                      ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        kwargs: dict[str, Any] = {"TableName": self._table,
                                  "KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)",
                                  "ExpressionAttributeValues": {":pk": {"S": owner}, ":p": {"S": "CHAT#"}},
                                  "ScanIndexForward": False, "Limit": limit}
        kwargs["ExpressionAttributeNames"] = dict(_SESSION_PROJECTION["ExpressionAttributeNames"])
        kwargs["ProjectionExpression"] = _SESSION_PROJECTION["ProjectionExpression"]
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self._db.query(**kwargs)
        return [_session(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey")

    def acquire_turn(self, owner: str, session_id: str, now_epoch: int, hold_seconds: int) -> dict[str, Any] | None:
        """Take the session's turn lock; the session (with ``lock``, the lock's value, which the commit checks),
        or None when it does not exist (one write)."""
        from botocore.exceptions import ClientError

        try:
            response = self._db.update_item(
                TableName=self._table, Key={"PK": {"S": owner}, "SK": {"S": session_sk(session_id)}},
                UpdateExpression="SET turn_lock_until = :until",
                ConditionExpression="attribute_exists(PK) AND (attribute_not_exists(turn_lock_until) "
                                    "OR turn_lock_until < :now)",
                ExpressionAttributeValues={":until": {"N": str(now_epoch + hold_seconds)},
                                           ":now": {"N": str(now_epoch)}},
                ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            if not exc.response.get("Item"):
                return None
            raise Conflict("A reply is still being written for this session; send again when it is done.",
                           slug="turn-in-progress") from exc
        attributes = response["Attributes"]
        stored = attributes.get("context")
        return {**_session(attributes), "lock": now_epoch + hold_seconds,
                "context": decode_context(stored["B"]) if stored else None}

    def finish_turn(self, owner: str, session_id: str, messages: list[dict[str, Any]], first_seq: int,
                    now: str, title: str | None, lock: int | None = None,
                    context: list[dict[str, Any]] | None = None) -> None:
        """Store the turn's messages (one BatchWriteItem), then commit: count them, store the next turn's
        ``context`` and release the turn lock, conditional on still holding it (one UpdateItem).

        A session deleted during the turn answers NotFound (the messages written for it are removed again);
        a lock lost meanwhile (held past its expiry and taken by another turn) answers Conflict.
        """
        puts = [{"PutRequest": {"Item": {
            "PK": {"S": messages_pk(owner, session_id)}, "SK": {"S": message_sk(first_seq + i)},
            "role": {"S": m["role"]}, "text": {"S": m["text"]}, "created_at": {"S": now},
            "converse": {"S": json.dumps(m["converse"])}, "tool_calls": {"S": json.dumps(m.get("tool_calls", []))},
        }}} for i, m in enumerate(messages)]
        self._batch_write(puts)
        names: dict[str, str] = {}
        values: dict[str, Any] = {":n": {"N": str(first_seq + len(messages))}, ":now": {"S": now}}
        sets = ["message_count = :n", "updated_at = :now"]
        if title:
            sets.append("#t = :title")
            names["#t"] = "title"
            values[":title"] = {"S": title}
        removes = ["turn_lock_until"]
        encoded = encode_context(context) if context is not None else None
        if encoded is not None and len(encoded) <= CONTEXT_MAX_BYTES:
            sets.append("#c = :context")
            values[":context"] = {"B": encoded}
        else:  # none, or too large for the item: the next turn reads the newest messages instead
            removes.append("#c")
        names["#c"] = "context"
        if lock is None:  # no lock value known: the session must still exist
            condition = "attribute_exists(PK)"
        else:
            condition = "turn_lock_until = :lock"
            values[":lock"] = {"N": str(lock)}
        update: dict[str, Any] = {
            "TableName": self._table, "Key": {"PK": {"S": owner}, "SK": {"S": session_sk(session_id)}},
            "UpdateExpression": f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
            "ConditionExpression": condition, "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values, "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        from botocore.exceptions import ClientError

        try:
            self._db.update_item(**update)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            if not exc.response.get("Item"):
                self._batch_write([{"DeleteRequest": {"Key": {"PK": p["PutRequest"]["Item"]["PK"],
                                                              "SK": p["PutRequest"]["Item"]["SK"]}}} for p in puts])
                raise NotFound(f"No chat session {session_id}.") from exc
            raise Conflict("This reply took longer than the session's turn lock; send the message again.",
                           slug="turn-lock-lost") from exc

    def release_turn(self, owner: str, session_id: str) -> None:
        self._db.update_item(TableName=self._table, Key={"PK": {"S": owner}, "SK": {"S": session_sk(session_id)}},
                             UpdateExpression="REMOVE turn_lock_until")

    def recent_converse(self, owner: str, session_id: str, limit: int, count: int | None = None
                        ) -> list[dict[str, Any]]:
        """The newest ``limit`` committed messages (below ``count``) in Converse form, oldest first (only that
        attribute is read)."""
        response = self._db.query(TableName=self._table, KeyConditionExpression=_committed(count),
                                  ExpressionAttributeValues=_committed_values(messages_pk(owner, session_id), count),
                                  ProjectionExpression="converse", ScanIndexForward=False, Limit=limit,
                                  ConsistentRead=True)
        return [json.loads(i["converse"]["S"]) for i in reversed(response.get("Items", []))]

    def list_messages(self, owner: str, session_id: str, limit: int, start: dict[str, Any] | None,
                      count: int | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """A page of the committed messages (below ``count``, the session's ``message_count``), oldest first."""
        kwargs: dict[str, Any] = {"TableName": self._table, "KeyConditionExpression": _committed(count),
                                  "ExpressionAttributeValues": _committed_values(messages_pk(owner, session_id),
                                                                                 count),
                                  "Limit": limit}
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self._db.query(**kwargs)
        return [_message(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey")

    def delete_session(self, owner: str, session_id: str) -> None:
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {"TableName": self._table, "KeyConditionExpression": "PK = :pk",
                                      "ExpressionAttributeValues": {":pk": {"S": messages_pk(owner, session_id)}},
                                      "ProjectionExpression": "PK, SK", "Limit": 500}
            if start:
                kwargs["ExclusiveStartKey"] = start
            response = self._db.query(**kwargs)
            self._batch_write([{"DeleteRequest": {"Key": {"PK": i["PK"], "SK": i["SK"]}}}
                               for i in response.get("Items", [])])
            start = response.get("LastEvaluatedKey")
            if not start:
                break
        self._db.delete_item(TableName=self._table, Key={"PK": {"S": owner}, "SK": {"S": session_sk(session_id)}})

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for begin in range(0, len(requests), 25):
            pending: dict[str, Any] = {self._table: requests[begin:begin + 25]}
            while pending:
                pending = self._db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def _committed(count: int | None) -> str:
    return "PK = :pk" if count is None else "PK = :pk AND SK < :end"


def _committed_values(pk: str, count: int | None) -> dict[str, Any]:
    values: dict[str, Any] = {":pk": {"S": pk}}
    if count is not None:
        values[":end"] = {"S": message_sk(count)}
    return values
