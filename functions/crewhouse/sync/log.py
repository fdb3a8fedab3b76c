"""The change log behind ``GET /sync``: one entry per change of a synced item, kept 30 days.

Written from the tables' streams (so it sees every write, whichever API made it), read by sync.
Keys: ``PK = T#<tenant>#U#<user>``, ``SK = <epoch ms, 13 digits>#<event id>``; ``expires_at`` drives TTL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RETENTION_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class Change:
    position: str  # the entry's sort key: where a client's next sync resumes
    kind: str  # "task", "note", "notebook"
    item_id: str
    operation: str  # "upsert" or "delete"


def position_for(epoch_ms: int, event_id: str = "") -> str:
    return f"{epoch_ms:013d}#{event_id}"


def position_time_ms(position: str) -> int:
    return int(position.split("#", 1)[0])


class DynamoSyncLog:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table
        self.calls = 0

    def record(self, owner: str, changes: list[tuple[int, str, str, str, str]]) -> None:
        """``(epoch_ms, event_id, kind, item_id, operation)`` entries for one owner."""
        for start in range(0, len(changes), 25):
            batch = changes[start:start + 25]
            self.calls += 1
            self._db.batch_write_item(RequestItems={self._table: [{"PutRequest": {"Item": {
                "PK": {"S": owner}, "SK": {"S": position_for(ms, event_id)}, "kind": {"S": kind},
                "item_id": {"S": item_id}, "op": {"S": op},
                "expires_at": {"N": str(ms // 1000 + RETENTION_SECONDS)},
            }}} for ms, event_id, kind, item_id, op in batch]})

    def changes_after(self, owner: str, position: str, limit: int) -> tuple[list[Change], bool]:
        self.calls += 1
        response = self._db.query(
            TableName=self._table, KeyConditionExpression="PK = :pk AND SK > :after",
            ExpressionAttributeValues={":pk": {"S": owner}, ":after": {"S": position}}, Limit=limit,
            ConsistentRead=True)
        changes = [Change(position=i["SK"]["S"], kind=i["kind"]["S"], item_id=i["item_id"]["S"],
                          operation=i["op"]["S"]) for i in response.get("Items", [])]
        return changes, "LastEvaluatedKey" in response
