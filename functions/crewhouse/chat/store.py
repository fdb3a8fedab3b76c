"""Chat sessions and messages in DynamoDB; the only module that knows their keys.

- session: ``PK = T#<tenant>#U#<user>``, ``SK = CHAT#<session id>`` (a ULID: newest first by key)
- message: ``PK = T#<tenant>#U#<user>#CHAT#<session id>``, ``SK = MSG#<sequence, 8 digits>``
A running turn holds ``turn_lock_until`` on the session item (a conditional write), so a second message
sent meanwhile is refused instead of interleaved.
"""

from __future__ import annotations

import json
from typing import Any

from crewhouse.core.errors import Conflict


def session_sk(session_id: str) -> str:
    return f"CHAT#{session_id}"


def messages_pk(owner: str, session_id: str) -> str:
    return f"{owner}#CHAT#{session_id}"


def _session(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["SK"]["S"].removeprefix("CHAT#"), "title": item["title"]["S"],
            "created_at": item["created_at"]["S"], "updated_at": item["updated_at"]["S"],
            "message_count": int(item.get("message_count", {"N": "0"})["N"])}


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
        item = self._db.get_item(TableName=self._table, ConsistentRead=True,
                                 Key={"PK": {"S": owner}, "SK": {"S": session_sk(session_id)}}).get("Item")
        return _session(item) if item else None

    def list_sessions(self, owner: str, limit: int, start: dict[str, Any] | None
                      ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        kwargs: dict[str, Any] = {"TableName": self._table,
                                  "KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)",
                                  "ExpressionAttributeValues": {":pk": {"S": owner}, ":p": {"S": "CHAT#"}},
                                  "ScanIndexForward": False, "Limit": limit}
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self._db.query(**kwargs)
        return [_session(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey")

    def acquire_turn(self, owner: str, session_id: str, now_epoch: int, hold_seconds: int) -> dict[str, Any] | None:
        """Take the session's turn lock; the session as it was, or None when it does not exist (one write)."""
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
        return _session(response["Attributes"])

    def finish_turn(self, owner: str, session_id: str, messages: list[dict[str, Any]], first_seq: int,
                    now: str, title: str | None) -> None:
        """Store the turn's messages, count them and release the turn lock, in one transaction."""
        puts = [{"Put": {"TableName": self._table, "Item": {
            "PK": {"S": messages_pk(owner, session_id)}, "SK": {"S": f"MSG#{first_seq + i:08d}"},
            "role": {"S": m["role"]}, "text": {"S": m["text"]}, "created_at": {"S": now},
            "converse": {"S": json.dumps(m["converse"])}, "tool_calls": {"S": json.dumps(m.get("tool_calls", []))},
        }}} for i, m in enumerate(messages)]
        update: dict[str, Any] = {
            "TableName": self._table, "Key": {"PK": {"S": owner}, "SK": {"S": session_sk(session_id)}},
            "UpdateExpression": "SET message_count = :n, updated_at = :now REMOVE turn_lock_until",
            "ExpressionAttributeValues": {":n": {"N": str(first_seq + len(messages))}, ":now": {"S": now}},
        }
        if title:
            update["UpdateExpression"] = "SET message_count = :n, updated_at = :now, #t = :title REMOVE turn_lock_until"
            update["ExpressionAttributeValues"][":title"] = {"S": title}
            update["ExpressionAttributeNames"] = {"#t": "title"}
        # A turn writes at most 2 + 2 x 8 tool rounds + 1 messages: well under the 100-item transaction limit.
        self._db.transact_write_items(TransactItems=[*puts, {"Update": update}])

    def release_turn(self, owner: str, session_id: str) -> None:
        self._db.update_item(TableName=self._table, Key={"PK": {"S": owner}, "SK": {"S": session_sk(session_id)}},
                             UpdateExpression="REMOVE turn_lock_until")

    def recent_converse(self, owner: str, session_id: str, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` messages in Converse form, oldest first (only that attribute is read)."""
        response = self._db.query(TableName=self._table, KeyConditionExpression="PK = :pk",
                                  ExpressionAttributeValues={":pk": {"S": messages_pk(owner, session_id)}},
                                  ProjectionExpression="converse", ScanIndexForward=False, Limit=limit,
                                  ConsistentRead=True)
        return [json.loads(i["converse"]["S"]) for i in reversed(response.get("Items", []))]

    def list_messages(self, owner: str, session_id: str, limit: int, start: dict[str, Any] | None
                      ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        kwargs: dict[str, Any] = {"TableName": self._table, "KeyConditionExpression": "PK = :pk",
                                  "ExpressionAttributeValues": {":pk": {"S": messages_pk(owner, session_id)}},
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
