"""Tags across tasks and notes: every tag with its counts, renaming (or merging) one everywhere, and rebuilding
the index from the items themselves (``reindex_tags``).

The tag index (``crewhouse.search.tags``, kept from the tasks and notes streams) says which items carry a tag;
each item is then changed by its own context's rules (``retag``: one read, one version-checked write), so a
rename interrupted anywhere loses nothing: sending it again skips what is already renamed and goes on.
A rename costs one Query per 100 tagged items plus a GetItem and a PutItem per item; the streams then move
each item's index entry (one two-item transaction per tag that changed).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from crewhouse.core.errors import NotFound, PreconditionFailed, ValidationProblem
from crewhouse.core.identity import Identity
from crewhouse.core.keys import owner_pk
from crewhouse.core.tags import normalise_tags
from crewhouse.search.tags import TagCount, Tagged

RENAME_BUDGET_SECONDS = 20.0  # API Gateway answers at 30 s: stop in time and say so
PAGE_SIZE = 100


class TagIndex(Protocol):
    def counts(self, owner: str) -> list[TagCount]: ...

    def tagged(self, owner: str, tag: str, limit: int, start: dict[str, Any] | None
               ) -> tuple[list[Tagged], dict[str, Any] | None]: ...


class TagWriter(Protocol):
    """What the rebuild writes: an item's move between tag sets (``crewhouse.search.tags.DynamoTagIndex``)."""

    def replace_tags(self, owner: str, kind: str, item_id: str, old: Iterable[str], new: Iterable[str]) -> None: ...


class TaggedItems(Protocol):
    """A context's tagged items of the caller, a page at a time, as ``(id, tags)``."""

    def tags_page(self, identity: Identity, start: Any, limit: int = PAGE_SIZE
                  ) -> tuple[list[tuple[str, list[str]]], Any]: ...


class Retagger(Protocol):
    """A context's own rule for moving one of its items from tag ``old`` to ``new`` (False: nothing to do)."""

    def retag(self, identity: Identity, item_id: str, old: str, new: str, /) -> bool: ...


def tag_counts(index: TagIndex, identity: Identity) -> list[TagCount]:
    return sorted(index.counts(owner_pk(identity.tenant_id, identity.user_id)))


def rename_tag(index: TagIndex, retaggers: Mapping[str, Retagger], identity: Identity, tag: str, to: str, *,
               clock: Callable[[], float] = time.monotonic, budget: float = RENAME_BUDGET_SECONDS
               ) -> tuple[Counter[str], bool]:
    """Changed items by kind, and whether every tagged item was reached within ``budget`` seconds."""
    old = (normalise_tags([tag]) or [""])[0]
    if old == to:
        raise ValidationProblem("The new name is the tag's name.", errors=[
            {"path": "body.to", "message": "same as the tag's name", "type": "unchanged"}])
    owner = owner_pk(identity.tenant_id, identity.user_id)
    deadline = clock() + budget
    changed: Counter[str] = Counter()
    page, start = index.tagged(owner, old, PAGE_SIZE, None)
    if not page:
        raise NotFound(f"No task or note carries the tag {old!r}.")
    while True:
        for member in page:
            if clock() > deadline:
                return changed, False
            retagger = retaggers.get(member.kind)
            if retagger is None:
                continue
            try:
                changed[member.kind] += retagger.retag(identity, member.item_id, old, to)
            except PreconditionFailed:  # changed between its read and its write: once more, freshly read
                changed[member.kind] += retagger.retag(identity, member.item_id, old, to)
        if not start:
            return changed, True
        page, start = index.tagged(owner, old, PAGE_SIZE, start)


def reindex_tags(index: TagWriter, sources: Mapping[str, TaggedItems], identity: Identity, *,
                 clock: Callable[[], float] = time.monotonic, budget: float = RENAME_BUDGET_SECONDS
                 ) -> tuple[Counter[str], bool]:
    """Put every tagged task and live note of the caller into the tag index (items the streams indexed before,
    or that predate the index): idempotent, since an entry already there is left as it is. Items reached by
    kind, and whether all were reached within ``budget`` seconds (else: send it again).

    Costs one Query per 100 items of each kind, and per tag of each item a two-item transaction (a cancelled
    one, one write unit, when the entry is there already)."""
    owner = owner_pk(identity.tenant_id, identity.user_id)
    deadline = clock() + budget
    reached: Counter[str] = Counter()
    for kind, source in sources.items():
        start: Any = None
        while True:
            page, start = source.tags_page(identity, start, PAGE_SIZE)
            for item_id, tags in page:
                if clock() > deadline:
                    return reached, False
                index.replace_tags(owner, kind, item_id, (), normalise_tags(tags))
                reached[kind] += 1
            if not start:
                break
    return reached, True
