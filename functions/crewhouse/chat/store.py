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

from crewhouse.core import table as t
from crewhouse.core.errors import Conflict, NotFound


def session_sk(session_id: str) -> str:
    return f"CHAT#{session_id}"


def messages_pk(owner: str, session_id: str) -> str:
    return f"{owner}#CHAT#{session_id}"


def _session(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(item["SK"]).removeprefix("CHAT#"), "title": item["title"], "created_at": item["created_at"],
            "updated_at": item["updated_at"], "message_count": int(item.get("message_count", 0)),
            "crew_id": item.get("crew_id")}


CONTEXT_MAX_BYTES = 200_000  # compressed; DynamoDB items hold 400 KB (a 6,000-token context takes a few KB)


def encode_context(messages: list[dict[str, Any]]) -> bytes:
    import zlib

    return zlib.compress(json.dumps(messages, separators=(",", ":")).encode(), 6)


def decode_context(data: Any) -> list[dict[str, Any]]:
    """``data``: the stored bytes (boto3 hands binary attributes back wrapped: ``bytes()`` unwraps them)."""
    import zlib

    return list(json.loads(zlib.decompress(bytes(data))))


def message_sk(seq: int) -> str:
    return f"MSG#{seq:08d}"


# Session reads name their attributes: nothing else on the item (the turn lock) is sent back.
_SESSION_ATTRIBUTES = ("SK", "title", "created_at", "updated_at", "message_count", "crew_id")


def _message(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(item["SK"]).removeprefix("MSG#"), "role": item["role"], "text": item["text"],
            "tool_calls": json.loads(item.get("tool_calls", "[]")), "agents": json.loads(item.get("agents", "[]")),
            "converse": json.loads(item["converse"]),
            "created_at": item["created_at"]}


class DynamoChatStore:
    def __init__(self, table: t.Table) -> None:
        self._table = table

    def create_session(self, owner: str, session_id: str, title: str, now: str, crew_id: str | None = None
                       ) -> dict[str, Any]:
        item = {"PK": owner, "SK": session_sk(session_id), "title": title, "created_at": now, "updated_at": now,
                "message_count": 0, **({"crew_id": crew_id} if crew_id else {})}
        self._table.put_new(item)
        return _session(item)

    def get_session(self, owner: str, session_id: str) -> dict[str, Any] | None:
        item = self._table.get((owner, session_sk(session_id)), projection=_SESSION_ATTRIBUTES)
        return _session(item) if item else None

    def list_sessions(self, owner: str, limit: int, start: t.Resume | None
                      ) -> tuple[list[dict[str, Any]], t.Resume | None]:
        items, last = self._table.query(t.starting_with(owner, "CHAT#"), limit=limit, start=start, forward=False,
                                        projection=_SESSION_ATTRIBUTES)
        return [_session(i) for i in items], last

    def acquire_turn(self, owner: str, session_id: str, now_epoch: int, hold_seconds: int) -> dict[str, Any] | None:
        """Take the session's turn lock; the session (with ``lock``, the lock's value, which the commit checks),
        or None when it does not exist (one write)."""
        try:
            attributes = self._table.update(
                (owner, session_sk(session_id)), "SET turn_lock_until = :until",
                condition="attribute_exists(PK) AND (attribute_not_exists(turn_lock_until) OR turn_lock_until < :now)",
                values={":until": now_epoch + hold_seconds, ":now": now_epoch}, return_new=True, explain_failure=True)
        except t.ConditionFailed as failed:
            if failed.current is None:
                return None
            raise Conflict("A reply is still being written for this session; send again when it is done.",
                           slug="turn-in-progress") from failed
        assert attributes is not None
        stored = attributes.get("context")
        return {**_session(attributes), "lock": now_epoch + hold_seconds,
                "context": decode_context(stored) if stored else None}

    def finish_turn(self, owner: str, session_id: str, messages: list[dict[str, Any]], first_seq: int,
                    now: str, title: str | None, lock: int | None = None,
                    context: list[dict[str, Any]] | None = None) -> None:
        """Store the turn's messages (one BatchWriteItem), then commit: count them, store the next turn's
        ``context`` and release the turn lock, conditional on still holding it (one UpdateItem).

        A session deleted during the turn answers NotFound (the messages written for it are removed again);
        a lock lost meanwhile (held past its expiry and taken by another turn) answers Conflict.
        """
        written = [{"PK": messages_pk(owner, session_id), "SK": message_sk(first_seq + i), "role": m["role"],
                    "text": m["text"], "created_at": now, "converse": json.dumps(m["converse"]),
                    "tool_calls": json.dumps(m.get("tool_calls", [])),
                    **({"agents": json.dumps(m["agents"])} if m.get("agents") else {})} for i, m in enumerate(messages)]
        self._table.put_many(written)
        names: dict[str, str] = {"#c": "context"}
        values: dict[str, Any] = {":n": first_seq + len(messages), ":now": now}
        sets = ["message_count = :n", "updated_at = :now"]
        if title:
            sets.append("#t = :title")
            names["#t"], values[":title"] = "title", title
        removes = ["turn_lock_until"]
        encoded = encode_context(context) if context is not None else None
        if encoded is not None and len(encoded) <= CONTEXT_MAX_BYTES:
            sets.append("#c = :context")
            values[":context"] = encoded
        else:  # none, or too large for the item: the next turn reads the newest messages instead
            removes.append("#c")
        if lock is None:  # no lock value known: the session must still exist
            condition = "attribute_exists(PK)"
        else:
            condition = "turn_lock_until = :lock"
            values[":lock"] = lock
        try:
            self._table.update((owner, session_sk(session_id)), f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
                               condition=condition, names=names, values=values, explain_failure=True)
        except t.ConditionFailed as failed:
            if failed.current is None:
                self._table.delete_many(t.item_key(m) for m in written)
                raise NotFound(f"No chat session {session_id}.") from failed
            raise Conflict("This reply took longer than the session's turn lock; send the message again.",
                           slug="turn-lock-lost") from failed

    def release_turn(self, owner: str, session_id: str) -> None:
        self._table.update((owner, session_sk(session_id)), "REMOVE turn_lock_until")

    def recent_converse(self, owner: str, session_id: str, limit: int, count: int | None = None
                        ) -> list[dict[str, Any]]:
        """The newest ``limit`` committed messages (below ``count``) in Converse form, oldest first (only that
        attribute is read)."""
        items, _ = self._table.query(_committed(owner, session_id, count), limit=limit, forward=False,
                                     projection=["converse"], consistent=True)
        return [json.loads(i["converse"]) for i in reversed(items)]

    def list_messages(self, owner: str, session_id: str, limit: int, start: t.Resume | None,
                      count: int | None = None) -> tuple[list[dict[str, Any]], t.Resume | None]:
        """A page of the committed messages (below ``count``, the session's ``message_count``), oldest first."""
        items, last = self._table.query(_committed(owner, session_id, count), limit=limit, start=start)
        return [_message(i) for i in items], last

    def delete_session(self, owner: str, session_id: str) -> None:
        start: t.Resume | None = None
        while True:
            items, start = self._table.query(t.whole(messages_pk(owner, session_id)), limit=500, start=start,
                                             projection=["PK", "SK"])
            self._table.delete_many(t.item_key(i) for i in items)
            if not start:
                break
        self._table.delete_if_present((owner, session_sk(session_id)))


def _committed(owner: str, session_id: str, count: int | None) -> t.KeyRange:
    """The session's messages below ``count`` (every one when None)."""
    partition = messages_pk(owner, session_id)
    return t.whole(partition) if count is None else t.KeyRange(partition, None, "<", message_sk(count))
