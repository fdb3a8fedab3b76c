"""What a notes-table change implies: search text, sync entries, body lifecycle, purges and events."""

from __future__ import annotations

from typing import Any

from crewhouse.notes.projections import SYNC_BODY_BYTES, change_for

OWNER = "T#t#U#u"


def note(**fields: Any) -> dict[str, Any]:
    return {"PK": OWNER, "SK": "NOTE#n1", "id": "n1", "title": "Groceries", "body": "milk and eggs",
            "tags": ["home"], "checklist": [{"id": "c", "text": "bread"}], "version": 1, "revision": 1,
            "created_at": "2026-11-22T10:00:00.000000+00:00", "updated_at": "2026-11-22T10:00:00.000000+00:00",
            **fields}


def test_a_new_note_is_indexed_synced_and_announced() -> None:
    change = change_for(None, note())
    assert change is not None and change.kind == "note" and change.reindex
    assert change.new_text == {"title": "Groceries", "tags": "home", "checklist": "bread", "body": "milk and eggs"}
    assert change.sync is not None and change.sync.operation == "upsert" and change.sync.version == 1
    assert change.sync.snapshot is not None and change.sync.snapshot["body"] == "milk and eggs"
    assert change.event_type == "note.created" and change.bodies is None


def test_a_flag_change_syncs_without_reindexing() -> None:
    change = change_for(note(), note(favorite=True, version=2))
    assert change is not None and not change.reindex and change.event_type == "note.updated"
    assert change.sync is not None and change.sync.snapshot is not None and change.sync.snapshot["favorite"] is True


def test_trash_restore_and_purge() -> None:
    trashed = note(version=2, trashed_at="2026-11-22T11:00:00.000000+00:00", expires_at=1)
    to_trash = change_for(note(), trashed)
    assert to_trash is not None
    assert (to_trash.bodies, to_trash.new_text, to_trash.event_type) == ("trash", None, "note.trashed")
    assert to_trash.sync is not None and (to_trash.sync.operation, to_trash.sync.version) == ("delete", 2)
    back = change_for(trashed, note(version=3))
    assert back is not None and (back.bodies, back.event_type) == ("restore", "note.restored")
    assert back.sync is not None and back.sync.operation == "upsert"
    expired = change_for(trashed, None)  # TTL
    assert expired is not None and expired.bodies == "purge" and expired.sync is None and not expired.reindex
    deleted = change_for(note(), None)  # permanent delete of a live note
    assert deleted is not None and deleted.sync is not None and deleted.sync.operation == "delete"


def test_big_bodies_stay_out_of_the_feed_and_the_item_head_is_searched() -> None:
    stored = note(body=None, body_key="notes/t/u/n1/x.md", body_head="head words", body_size=400_000)
    change = change_for(None, stored)
    assert change is not None and change.new_text is not None and change.new_text["body"] == "head words"
    assert change.sync is not None and change.sync.snapshot is not None and change.sync.snapshot["body"] is None
    mid = change_for(None, note(body="x" * (SYNC_BODY_BYTES + 1)))
    assert mid is not None and mid.sync is not None and mid.sync.snapshot is not None
    assert mid.sync.snapshot["body"] is None


def test_notebooks_and_revisions() -> None:
    book = {"PK": OWNER, "SK": "NOTEBOOK#b", "id": "b", "name": "Work", "version": 1,
            "created_at": "2026-11-22T10:00:00.000000+00:00", "updated_at": "2026-11-22T10:00:00.000000+00:00"}
    created = change_for(None, book)
    assert created is not None and created.sync is not None and created.sync.snapshot is not None
    assert created.sync.snapshot["name"] == "Work" and created.trash_notebook is None
    gone = change_for(book, None)
    assert gone is not None and gone.trash_notebook == "b" and gone.sync is not None
    assert gone.sync.operation == "delete"
    revision = {"PK": f"{OWNER}#NOTE#n1", "SK": "REV#0000000001", "body_key": "notes/t/u/n1/a.md"}
    pruned = change_for(revision, None)
    assert pruned is not None and pruned.delete_objects == ["notes/t/u/n1/a.md"] and pruned.sync is None
    assert change_for(None, revision) is None
    assert change_for({"PK": OWNER, "SK": "OTHER#x"}, None) is None
