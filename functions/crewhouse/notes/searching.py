"""``GET /notes/search``: relevance search over the owner's notes through the shared search index."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from crewhouse.core.identity import Identity
from crewhouse.notes import keys
from crewhouse.notes.logic import NoteService
from crewhouse.notes.models.note import NoteSummary
from crewhouse.notes.projections import is_live, searchable_text
from crewhouse.search.ranking import search
from crewhouse.search.text import query_terms


class SearchIndex(Protocol):
    def lookup(self, owner: str, kind: str, terms: list[str]) -> dict[str, dict[str, float]]: ...


@dataclass(frozen=True)
class SearchFilters:
    notebook_id: str | None = None
    tag: str | None = None
    favorite: bool | None = None
    archived: bool | None = False
    updated_from: datetime | None = None
    updated_to: datetime | None = None

    def accepts(self, item: dict[str, Any]) -> bool:
        if self.notebook_id and item.get("notebook_id") != self.notebook_id:
            return False
        if self.tag and self.tag.lower().lstrip("#") not in (item.get("tags") or []):
            return False
        if self.favorite is not None and bool(item.get("favorite")) != self.favorite:
            return False
        if self.archived is not None and bool(item.get("archived")) != self.archived:
            return False
        updated = str(item.get("updated_at") or "")
        if self.updated_from and updated < keys.stamp(self.updated_from):
            return False
        return not (self.updated_to and updated > keys.stamp(self.updated_to))


def search_notes(service: NoteService, index: SearchIndex, identity: Identity, q: str, limit: int,
                 filters: SearchFilters) -> list[NoteSummary]:
    owner = service.owner(identity)
    terms = query_terms(q)
    if not terms:
        return []
    hits = index.lookup(owner, "note", [t.term for t in terms])
    loaded: dict[str, dict[str, Any]] = {}

    def text_of(ids: list[str]) -> dict[str, str]:
        found = service.store.notes(owner, ids)
        for item in found.values():
            if is_live(item):  # a note trashed since it was indexed is not found
                loaded[item["id"]] = item
        return {i: " ".join((searchable_text(item) or {}).values()) for i, item in loaded.items() if i in ids}

    ranked = search(terms, hits, candidates=max(limit * 3, 30), text_of=text_of)
    results: list[NoteSummary] = []
    for doc_id, _ in ranked:
        item = loaded[doc_id]
        if not filters.accepts(item):
            continue
        results.append(service.to_summary(item))
        if len(results) == limit:
            break
    return results
