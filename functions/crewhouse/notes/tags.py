"""Tags across tasks and notes: every tag with its counts, and renaming (or merging) one everywhere.

The tag index (``crewhouse.search.tags``, kept from the tasks and notes streams) says which items carry a tag;
each item is then changed by its own context's rules (``retag``: one read, one version-checked write), so a
rename interrupted anywhere loses nothing: sending it again skips what is already renamed and goes on.
A rename costs one Query per 100 tagged items plus a GetItem and a PutItem per item; the streams then move
each item's index entry (one two-item transaction per tag that changed).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
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
