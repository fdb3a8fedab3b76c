"""The search index in DynamoDB: one item per (owner, kind, term, document), written from the
contexts' streams and read by search. Shared by tasks and notes.

Keys: ``PK = <owner>#<kind>#<term>``, ``SK = <document id>``, ``s`` = the term's score in the document.
A search queries one partition per query term, so its work grows with the terms and their matches,
never with the number of documents the owner has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from crewhouse.core.table import Table, whole
from crewhouse.search.text import index_terms

# How many documents one term may contribute: bounds the work of very common prefixes.
PER_TERM_LIMIT = 200


class DynamoSearchIndex:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._table = Table(dynamodb, table)

    def replace_document(self, owner: str, kind: str, doc_id: str, old_fields: Mapping[str, str] | None,
                         new_fields: Mapping[str, str] | None, weights: Mapping[str, float]) -> None:
        """Move the document's index entries from its old text to its new text (None: absent)."""
        old = index_terms(old_fields, weights) if old_fields else {}
        new = index_terms(new_fields, weights) if new_fields else {}
        self._table.write_many(
            deletes=[(_term_pk(owner, kind, term), doc_id) for term in old if term not in new],
            # Four decimals: a score's precision is not worth the bytes every index item would carry.
            puts=[{"PK": _term_pk(owner, kind, term), "SK": doc_id, "s": Decimal(f"{score:.4f}")}
                  for term, score in new.items() if old.get(term) != score])

    def lookup(self, owner: str, kind: str, terms: Iterable[str]) -> dict[str, dict[str, float]]:
        """``term -> {document id: score}`` for each term."""
        found: dict[str, dict[str, float]] = {}
        for term in dict.fromkeys(terms):
            items, _ = self._table.query(whole(_term_pk(owner, kind, term)), limit=PER_TERM_LIMIT,
                                         projection=["SK", "s"])
            hits = {str(item["SK"]): float(item["s"]) for item in items}
            if hits:
                found[term] = hits
        return found


def _term_pk(owner: str, kind: str, term: str) -> str:
    return f"{owner}#{kind}#{term}"
