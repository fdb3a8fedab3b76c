"""What a change in the notes table implies elsewhere: search text, the sync log entry, the S3 bodies'
trash state, purges and the domain event. Pure functions of an item's old and new images; workers.py
applies them. The API models are imported on first use: the stream handler's cold start does not pay for them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Item = dict[str, Any]
SEARCH_WEIGHTS = {"title": 3.0, "tags": 2.0, "checklist": 1.0, "body": 1.0}
SYNC_BODY_BYTES = 64 * 1024
"""Bodies up to this size travel in the sync feed; larger ones are fetched with ``GET /notes/{id}``."""


@dataclass(frozen=True)
class SyncChange:
    operation: str  # "upsert" | "delete"
    version: int | None
    snapshot: dict[str, Any] | None = None


@dataclass(frozen=True)
class Change:
    owner: str
    kind: str  # "note" | "notebook" | "revision"
    item_id: str
    sync: SyncChange | None = None
    reindex: bool = False
    old_text: dict[str, str] | None = None
    new_text: dict[str, str] | None = None
    bodies: str | None = None  # "trash" | "restore" | "purge": what happens to the note's S3 objects
    delete_objects: list[str] = field(default_factory=list)
    trash_notebook: str | None = None  # a deleted notebook whose notes go to the trash
    event_type: str | None = None
    event_detail: dict[str, Any] = field(default_factory=dict)
    old_tags: list[str] = field(default_factory=list)  # a note's tags while it was live
    new_tags: list[str] = field(default_factory=list)


def kind_of(item: Item | None) -> str | None:
    sk = str((item or {}).get("SK", ""))
    for prefix, kind in (("NOTEBOOK#", "notebook"), ("NOTE#", "note"), ("REV#", "revision")):
        if sk.startswith(prefix):
            return kind
    return None


def is_live(item: Item | None) -> bool:
    return bool(item) and not (item or {}).get("trashed_at")


def searchable_text(item: Item | None) -> dict[str, str] | None:
    """Title, tags, checklist and body (for an S3-held body, its start kept in the item)."""
    if not is_live(item):
        return None
    assert item is not None
    body = item.get("body") if not item.get("body_key") else item.get("body_head")
    return {"title": str(item.get("title") or ""), "tags": " ".join(item.get("tags") or []),
            "checklist": "\n".join(str(i["text"]) for i in item.get("checklist") or []), "body": str(body or "")}


def note_snapshot(item: Item) -> dict[str, Any]:
    """The note as the API shows it; the body only when it is small enough for the feed."""
    from crewhouse.notes.logic import NoteService

    summary = NoteService.to_summary(item).model_dump(mode="json")
    body = item.get("body") if not item.get("body_key") else None
    summary["body"] = body if body is not None and len(str(body).encode()) <= SYNC_BODY_BYTES else None
    return summary


def notebook_snapshot(item: Item) -> dict[str, Any]:
    from crewhouse.notes.models.notebook import Notebook

    return Notebook.model_validate(item).model_dump(mode="json")


def _note_event(old: Item | None, new: Item | None) -> str | None:
    if new is None:
        return "note.deleted"
    if old is None:
        return "note.created"
    if is_live(old) and not is_live(new):
        return "note.trashed"
    if not is_live(old) and is_live(new):
        return "note.restored"
    if old.get("version") != new.get("version") and is_live(new):
        return "note.updated"
    return None


def change_for(old: Item | None, new: Item | None) -> Change | None:
    current = new or old
    kind = kind_of(current)
    if current is None or kind is None:
        return None
    owner = str(current["PK"])
    if kind == "revision":
        # A revision is written once and deleted when pruned or purged: its S3 body goes with it.
        if new is None and old and old.get("body_key"):
            return Change(owner=owner.split("#NOTE#")[0], kind=kind, item_id=str(old["SK"]),
                          delete_objects=[str(old["body_key"])])
        return None
    item_id = str(current["id"])
    if kind == "notebook":
        notebook_sync = (SyncChange("upsert", new.get("version"), notebook_snapshot(new)) if new
                         else SyncChange("delete", current.get("version")))
        return Change(owner=owner, kind=kind, item_id=item_id, sync=notebook_sync,
                      trash_notebook=item_id if new is None else None)
    old_live, new_live = is_live(old), is_live(new)
    sync: SyncChange | None
    if new_live:
        assert new is not None
        sync = SyncChange("upsert", new.get("version"), note_snapshot(new))
    elif old_live:
        sync = SyncChange("delete", current.get("version"))  # trashed or deleted: gone for the client
    else:
        sync = None  # a trashed note purged: already gone
    old_text, new_text = searchable_text(old), searchable_text(new)
    bodies = None
    if new is None:
        bodies = "purge"
    elif old is not None and old_live and not new_live:
        bodies = "trash"
    elif old is not None and not old_live and new_live:
        bodies = "restore"
    tenant, user = owner.split("#")[1], owner.split("#")[3]
    event = _note_event(old, new)
    return Change(owner=owner, kind=kind, item_id=item_id, sync=sync, reindex=old_text != new_text,
                  old_text=old_text, new_text=new_text, bodies=bodies, event_type=event,
                  old_tags=list((old or {}).get("tags") or []) if old_live else [],
                  new_tags=list((new or {}).get("tags") or []) if new_live else [],
                  event_detail={"tenant_id": tenant, "user_id": user, "note_id": item_id,
                                "title": current.get("title"), "notebook_id": current.get("notebook_id"),
                                "version": current.get("version")})
