"""The search index in DynamoDB: one item per (owner, kind, term, document), written from the
contexts' streams and read by search. Shared by tasks and notes.

Keys: ``PK = <owner>#<kind>#<term>``, ``SK = <document id>``, ``s`` = the term's score in the document.
A search queries one partition per query term, so its work grows with the terms and their matches,
never with the number of documents the owner has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crewhouse.search.text import index_terms

# How many documents one term may contribute: bounds the work of very common prefixes.
PER_TERM_LIMIT = 200


class DynamoSearchIndex:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table
        self.examined = 0

    def replace_document(self, owner: str, kind: str, doc_id: str, old_fields: Mapping[str, str] | None,
                         new_fields: Mapping[str, str] | None, weights: Mapping[str, float]) -> None:
        """Move the document's index entries from its old text to its new text (None: absent)."""
        old = index_terms(old_fields, weights) if old_fields else {}
        new = index_terms(new_fields, weights) if new_fields else {}
        requests: list[dict[str, Any]] = [
            {"DeleteRequest": {"Key": self._key(owner, kind, term, doc_id)}} for term in old if term not in new
        ]
        requests += [
            {"PutRequest": {"Item": {**self._key(owner, kind, term, doc_id), "s": {"N": f"{score:.4f}"}}}}
            for term, score in new.items() if old.get(term) != score
        ]
        self._write(requests)

    def lookup(self, owner: str, kind: str, terms: Iterable[str]) -> dict[str, dict[str, float]]:
        """``term -> {document id: score}`` for each term."""
        found: dict[str, dict[str, float]] = {}
        for term in dict.fromkeys(terms):
            response = self._db.query(
                TableName=self._table, KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": f"{owner}#{kind}#{term}"}},
                ProjectionExpression="SK, s", Limit=PER_TERM_LIMIT)
            self.examined += int(response.get("ScannedCount", 0))
            hits = {item["SK"]["S"]: float(item["s"]["N"]) for item in response.get("Items", [])}
            if hits:
                found[term] = hits
        return found

    def _write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self._table: requests[start:start + 25]}
            while pending:
                pending = self._db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    @staticmethod
    def _key(owner: str, kind: str, term: str, doc_id: str) -> dict[str, Any]:
        return {"PK": {"S": f"{owner}#{kind}#{term}"}, "SK": {"S": doc_id}}
