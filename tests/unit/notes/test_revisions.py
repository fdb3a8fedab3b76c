"""Revisions: every content change makes one, exactly the last 100 are kept, restores add one, big bodies own
their S3 object per revision."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crewhouse.core.errors import PreconditionFailed
from crewhouse.core.identity import Identity
from crewhouse.notes.logic import NoteService, revision_to_prune
from crewhouse.notes.models import INLINE_BODY_BYTES, KEEP_REVISIONS, ChecklistItemIn, NoteCreate, NotePatch
from crewhouse.notes.store import DynamoNoteStore
from tests.support.memory_table import MemoryTable
from tests.unit.notes.fakes import MemoryBodies

ME = Identity(tenant_id="t", user_id="u", role="member", scopes=frozenset())


@pytest.fixture
def service() -> NoteService:
    counter = iter(range(10**6))
    return NoteService(DynamoNoteStore(MemoryTable()), MemoryBodies(), clock=lambda: datetime(2026, 11, 22, tzinfo=UTC),
                       new_id=lambda: f"id{next(counter):06d}")


def revisions(service: NoteService, note_id: str) -> list[int]:
    table = service.store._table  # type: ignore[attr-defined]
    assert isinstance(table, MemoryTable)
    return sorted(i["revision"] for (pk, _), i in table.items.items() if pk.endswith(f"#NOTE#{note_id}"))


@given(st.integers(min_value=1, max_value=10_000))
def test_the_revision_to_prune_keeps_exactly_the_last_hundred(new: int) -> None:
    pruned = revision_to_prune(new)
    kept_before = set(range(max(1, new - KEEP_REVISIONS), new))  # the last 100 before writing `new`
    kept_after = (kept_before | {new}) - ({pruned} if pruned else set())
    assert kept_after == set(range(max(1, new - KEEP_REVISIONS + 1), new + 1))
    assert len(kept_after) == min(new, KEEP_REVISIONS)


def test_content_changes_make_revisions_and_other_changes_do_not(service: NoteService) -> None:
    note = service.create(ME, NoteCreate(title="t", body="b"))
    service.update(ME, note.id, NotePatch(favorite=True, tags=["x"], pinned=True), None)
    assert revisions(service, note.id) == [1]
    service.update(ME, note.id, NotePatch(body="b"), None)  # the same body is no change
    assert revisions(service, note.id) == [1]
    service.update(ME, note.id, NotePatch(body="b2"), None)
    service.update(ME, note.id, NotePatch(title="t2"), None)
    service.update(ME, note.id, NotePatch(checklist=[ChecklistItemIn(text="one")]), None)
    assert revisions(service, note.id) == [1, 2, 3, 4]
    assert service.get(ME, note.id).revision == 4


def test_only_the_last_hundred_stay_after_many_edits(service: NoteService) -> None:
    note = service.create(ME, NoteCreate(title="v1"))
    for n in range(2, 151):
        service.update(ME, note.id, NotePatch(title=f"v{n}"), None)
    assert revisions(service, note.id) == list(range(51, 151))
    restored = service.restore_revision(ME, note.id, 60, None)
    assert (restored.title, restored.revision) == ("v60", 151)
    assert revisions(service, note.id) == list(range(52, 152))
    assert service.get_revision(ME, note.id, 151).restored_from == 60


def test_each_revision_of_a_big_body_owns_its_object(service: NoteService) -> None:
    big = "x" * (INLINE_BODY_BYTES + 1)
    note = service.create(ME, NoteCreate(title="big", body=big))
    service.update(ME, note.id, NotePatch(title="renamed"), None)
    service.update(ME, note.id, NotePatch(body="small"), None)
    bodies = service.bodies
    assert isinstance(bodies, MemoryBodies)
    assert len(bodies.objects) == 2 and set(bodies.objects.values()) == {big}
    assert service.get_revision(ME, note.id, 2).body == big
    assert service.get(ME, note.id).body == "small"
    assert service.restore_revision(ME, note.id, 1, None).body == big
    assert len(bodies.objects) == 3


def test_stale_versions_are_refused(service: NoteService) -> None:
    note = service.create(ME, NoteCreate(title="t"))
    service.update(ME, note.id, NotePatch(title="t2"), '"1"')
    with pytest.raises(PreconditionFailed):
        service.update(ME, note.id, NotePatch(title="t3"), '"1"')
    with pytest.raises(PreconditionFailed):
        service.restore_revision(ME, note.id, 1, '"1"')
