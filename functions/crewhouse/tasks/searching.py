"""``GET /tasks/search``: relevance search over the owner's tasks through the shared search index."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from crewhouse.core.identity import Identity
from crewhouse.search.ranking import search
from crewhouse.search.text import query_terms
from crewhouse.tasks import keys
from crewhouse.tasks.logic import TaskService
from crewhouse.tasks.models.task import Task
from crewhouse.tasks.projections import searchable_text


class SearchIndex(Protocol):
    def lookup(self, owner: str, kind: str, terms: list[str]) -> dict[str, dict[str, float]]: ...


def search_tasks(service: TaskService, index: SearchIndex, identity: Identity, q: str, limit: int, *,
                 status: tuple[str, ...] = (), priority: str | None = None, tag: str | None = None,
                 planned_date: date | None = None) -> list[Task]:
    owner = keys.owner_pk(identity.tenant_id, identity.user_id)
    terms = query_terms(q)
    if not terms:
        return []
    hits = index.lookup(owner, "task", [t.term for t in terms])
    loaded: dict[str, dict[str, Any]] = {}

    def text_of(ids: list[str]) -> dict[str, str]:
        found = service.store.tasks(owner, ids)
        for item in found.values():
            loaded[item["id"]] = item
        return {i["id"]: " ".join((searchable_text(i) or {}).values()) for i in found.values()}

    ranked = search(terms, hits, candidates=max(limit * 3, 30), text_of=text_of)
    wanted_tag = tag.lower().lstrip("#") if tag else None
    results: list[Task] = []
    for doc_id, _ in ranked:
        item = loaded[doc_id]
        if status and item.get("status") not in status:
            continue
        if priority and item.get("priority") != priority:
            continue
        if wanted_tag and wanted_tag not in (item.get("tags") or []):
            continue
        if planned_date and item.get("planned_date") != planned_date.isoformat():
            continue
        results.append(service.to_task(item))
        if len(results) == limit:
            break
    return results
