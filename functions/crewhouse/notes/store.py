"""DynamoDB and S3 access for notes: the only module that knows the table's key shapes (see keys.py)
and where bodies live in the bucket.

Every read is a GetItem, BatchGetItem or Query on an owner's partition (or one note's revision partition);
nothing scans.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crewhouse.core import table as t
from crewhouse.core.dynamo import Item
from crewhouse.core.errors import Conflict, PreconditionFailed
from crewhouse.notes import keys

TREE, RECENT, TRASH = "GSI1", "GSI2", "GSI3"  # children and contents; live notes by update; trashed notes
TRASH_TAG = "crewhouse-trash"
STALE = "The item changed meanwhile; fetch it again and retry."
_KEY_ATTRIBUTES = frozenset({"PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK"})
_REVISION_SUMMARY = ("revision", "title", "created_at", "reason", "restored_from", "body_size")


def stored_notebook(owner: str, notebook: Mapping[str, Any]) -> Item:
    stored = fields_of(notebook)
    stored.update(PK=owner, SK=keys.notebook_sk(notebook["id"]),
                  GSI1PK=keys.children_pk(owner, notebook.get("parent_id")),
                  GSI1SK=f"{str(notebook['name']).casefold()}#{notebook['id']}")
    return stored


def stored_note(owner: str, note: Mapping[str, Any]) -> Item:
    """The note plus its key and the keys of the (sparse) indexes it belongs to: a trashed note is only in
    the trash index, a live one in its notebook's contents and the recent list."""
    stored = fields_of(note)
    stored.update(PK=owner, SK=keys.note_sk(note["id"]))
    if note.get("trashed_at"):
        stored.update(GSI3PK=owner, GSI3SK=f"{note['trashed_at']}#{note['id']}")
    else:
        stored.update(GSI1PK=keys.contents_pk(owner, note.get("notebook_id")),
                      GSI1SK=f"{1 if note.get('pinned') else 0}#{note['updated_at']}#{note['id']}",
                      GSI2PK=owner, GSI2SK=f"{note['updated_at']}#{note['id']}")
    return stored


def stored_revision(owner: str, revision: Mapping[str, Any]) -> Item:
    return {**fields_of(revision), "PK": keys.revisions_pk(owner, revision["note_id"]),
            "SK": keys.revision_sk(revision["revision"])}


def fields_of(item: Mapping[str, Any]) -> Item:
    """A stored item without its key and index attributes."""
    return {k: v for k, v in item.items() if k not in _KEY_ATTRIBUTES}


def _conditions(filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Note filters as attribute conditions: a tag is contained in ``tags``, ``(op, value)`` compares."""
    if not filters:
        return None
    return {field: t.Contains(value) if field == "tags" else t.Compare(*value) if isinstance(value, tuple)
            else value for field, value in filters.items()}


def _page(page: t.Page) -> t.Page:
    return [fields_of(i) for i in page[0]], page[1]


class DynamoNoteStore:
    """Notebooks, notes and their revisions in the notes table (see keys.py for the shapes)."""

    def __init__(self, table: t.Table) -> None:
        self._table = table

    # --- notebooks ---------------------------------------------------------------------------------------

    def notebook(self, owner: str, notebook_id: str) -> Item | None:
        found = self._table.get((owner, keys.notebook_sk(notebook_id)))
        return fields_of(found) if found else None

    def add_notebook(self, owner: str, notebook: Item) -> None:
        self._table.put_new(stored_notebook(owner, notebook))

    def replace_notebook(self, owner: str, notebook: Item, expected_version: int) -> None:
        self._table.replace(stored_notebook(owner, notebook), expected_version, stale=STALE)

    def delete_notebook(self, owner: str, notebook_id: str, expected_version: int) -> None:
        self._table.delete((owner, keys.notebook_sk(notebook_id)), expected_version=expected_version, stale=STALE)

    def delete_notebooks(self, owner: str, notebook_ids: Iterable[str]) -> None:
        """Unconditional deletes, 25 a request (missing notebooks are fine)."""
        self._table.delete_many((owner, keys.notebook_sk(i)) for i in notebook_ids)

    def notebooks(self, owner: str, limit: int, start: t.Resume | None) -> t.Page:
        """Every notebook of the owner, by id."""
        return _page(self._table.query(t.starting_with(owner, "NOTEBOOK#"), limit=limit, start=start,
                                       consistent=True))

    def child_notebooks(self, owner: str, parent_id: str | None, limit: int, start: t.Resume | None) -> t.Page:
        """The notebooks directly under ``parent_id`` (None: the top level), by name."""
        return _page(self._table.query(t.whole(keys.children_pk(owner, parent_id), TREE), limit=limit, start=start))

    def child_notebook_ids(self, owner: str, parent_id: str, *, limit: int | None = None) -> list[str]:
        """Ids of the notebooks under ``parent_id`` (every one, or the first ``limit``)."""
        where = t.whole(keys.children_pk(owner, parent_id), TREE)
        if limit is not None:
            return [str(i["id"]) for i in self._table.query(where, limit=limit, projection=["id"])[0]]
        return [str(i["id"]) for i in self._table.query_all(where, projection=["id"])]

    # --- notes -------------------------------------------------------------------------------------------

    def note(self, owner: str, note_id: str) -> Item | None:
        found = self._table.get((owner, keys.note_sk(note_id)))
        return fields_of(found) if found else None

    def notes(self, owner: str, note_ids: Iterable[str]) -> dict[str, Item]:
        """The notes that exist among ``note_ids``, by id (BatchGetItem, 100 a request)."""
        found = self._table.get_many((owner, keys.note_sk(i)) for i in note_ids)
        return {str(item["id"]): fields_of(item) for item in found.values()}

    def note_tags(self, owner: str, limit: int, start: t.Resume | None) -> t.Page:
        """A page of the owner's notes as ``id``, ``tags`` and ``trashed_at`` only (the tag index's rebuild)."""
        return self._table.query(t.starting_with(owner, keys.note_sk("")), limit=limit, start=start,
                                 projection=("id", "tags", "trashed_at"))

    def replace_note(self, owner: str, note: Item, expected_version: int) -> None:
        """Write the whole note if it is still at ``expected_version`` (one write)."""
        self._table.replace(stored_note(owner, note), expected_version, stale=STALE)

    def save_with_revision(self, owner: str, note: Item, expected_version: int | None, revision: Item,
                           prune_revision: int | None) -> None:
        """One transaction: the note (new, or still at ``expected_version``), its new revision, and the
        deletion of the revision that falls out of the kept history."""
        note_write = (t.new(stored_note(owner, note)) if expected_version is None
                      else t.versioned(stored_note(owner, note), expected_version))
        writes = [note_write, t.new(stored_revision(owner, revision))]
        if prune_revision:
            writes.append(t.removal((keys.revisions_pk(owner, note["id"]), keys.revision_sk(prune_revision))))
        try:
            self._table.transact(writes)
        except t.Cancelled as cancelled:
            if "ConditionalCheckFailed" not in cancelled.reasons:
                raise
            if expected_version is None:
                raise Conflict("A note with this id already exists.") from cancelled
            raise PreconditionFailed("The note changed meanwhile; fetch it again and retry.") from cancelled

    def delete_note(self, owner: str, note_id: str, expected_version: int) -> None:
        self._table.delete((owner, keys.note_sk(note_id)), expected_version=expected_version, stale=STALE)

    def note_ids_in(self, owner: str, notebook_id: str | None, limit: int, start: t.Resume | None
                    ) -> tuple[list[str], t.Resume | None]:
        """Ids of the live notes of a notebook (keys only; the index may lag the notes themselves)."""
        items, last = self._table.query(t.whole(keys.contents_pk(owner, notebook_id), TREE), limit=limit,
                                        start=start, projection=["id"])
        return [str(i["id"]) for i in items], last

    def notes_in(self, owner: str, notebook_id: str | None, limit: int, start: t.Resume | None,
                 filters: Mapping[str, Any] | None = None) -> t.Page:
        """A notebook's live notes, pinned first, then most recently updated."""
        return _page(self._table.query(t.whole(keys.contents_pk(owner, notebook_id), TREE), limit=limit,
                                       start=start, forward=False, filters=_conditions(filters)))

    def recent_notes(self, owner: str, limit: int, start: t.Resume | None, *, since: str | None = None,
                     filters: Mapping[str, Any] | None = None) -> t.Page:
        """Live notes, most recently updated first (updated after ``since``, a stamp, when given)."""
        where = t.beyond(owner, since, forward=True, index=RECENT) if since else t.whole(owner, RECENT)
        return _page(self._table.query(where, limit=limit, start=start, forward=False,
                                       filters=_conditions(filters)))

    def trashed_notes(self, owner: str, limit: int, start: t.Resume | None,
                      filters: Mapping[str, Any] | None = None) -> t.Page:
        """Trashed notes, most recently trashed first."""
        return _page(self._table.query(t.whole(owner, TRASH), limit=limit, start=start, forward=False,
                                       filters=_conditions(filters)))

    # --- revisions ---------------------------------------------------------------------------------------

    def revision(self, owner: str, note_id: str, revision: int) -> Item | None:
        found = self._table.get((keys.revisions_pk(owner, note_id), keys.revision_sk(revision)))
        return fields_of(found) if found else None

    def revisions(self, owner: str, note_id: str, limit: int, start: t.Resume | None) -> t.Page:
        """Summaries of a note's kept revisions, newest first (bodies and checklists are not read)."""
        where = t.starting_with(keys.revisions_pk(owner, note_id), "REV#")
        return _page(self._table.query(where, limit=limit, start=start, forward=False, consistent=True,
                                       projection=_REVISION_SUMMARY))

    def delete_revisions(self, owner: str, note_id: str) -> None:
        """Every revision of a (deleted) note (idempotent)."""
        partition = keys.revisions_pk(owner, note_id)
        found = self._table.query_all(t.whole(partition), projection=["SK"], consistent=True)
        self._table.delete_many((partition, str(i["SK"])) for i in found)


class S3Bodies:
    """Large note bodies, one object per revision under the note's prefix (``keys.body_prefix``).

    Trashing re-writes a note's objects in place with the ``crewhouse-trash`` tag: the bucket's lifecycle
    rule expires tagged objects 31 days after that write (S3 counts from an object's creation, so tagging
    alone would not restart the clock), after the 30-day restore window has closed.
    """

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def put(self, key: str, text: str) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=text.encode(),
                            ContentType="text/markdown; charset=utf-8")

    def get(self, key: str) -> str:
        return str(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read().decode())

    def copy(self, source: str, target: str) -> None:
        self._s3.copy_object(Bucket=self._bucket, Key=target, CopySource={"Bucket": self._bucket, "Key": source})

    def keys_under(self, prefix: str) -> list[str]:
        found: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            response = self._s3.list_objects_v2(**kwargs)
            found.extend(o["Key"] for o in response.get("Contents", []))
            token = response.get("NextContinuationToken")
            if not token:
                return found

    def delete(self, object_keys: Iterable[str]) -> None:
        wanted = list(dict.fromkeys(object_keys))
        for start in range(0, len(wanted), 1000):
            self._s3.delete_objects(Bucket=self._bucket, Delete={
                "Objects": [{"Key": k} for k in wanted[start:start + 1000]], "Quiet": True})

    def delete_prefix(self, prefix: str) -> int:
        found = self.keys_under(prefix)
        self.delete(found)
        return len(found)

    def mark_trashed(self, prefix: str, trashed: bool) -> int:
        """Tag (re-writing in place, which restarts the lifecycle clock) or untag every object under ``prefix``."""
        found = self.keys_under(prefix)
        for key in found:
            if trashed:
                self._s3.copy_object(Bucket=self._bucket, Key=key, CopySource={"Bucket": self._bucket, "Key": key},
                                     MetadataDirective="REPLACE", ContentType="text/markdown; charset=utf-8",
                                     TaggingDirective="REPLACE", Tagging=f"{TRASH_TAG}=true")
            else:
                self._s3.delete_object_tagging(Bucket=self._bucket, Key=key)
        return len(found)
