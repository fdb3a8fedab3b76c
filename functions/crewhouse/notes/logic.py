"""Notes rules: notebooks (nesting), notes (bodies inline or in S3), checklists, revisions, trash,
web clips and tasks made from notes. No boto3 here.

The service talks to a :class:`NoteStore` port (DynamoDB, see store.py) and a :class:`BodyStore` port (S3)
and keeps every read on the owner's partition or one note's revision partition: a request's work depends on
what it touches, not on how many notes the user has.

Revisions: every change of title, body or checklist writes revision ``n + 1`` in the same transaction as
the note, and deletes revision ``n + 1 - 100`` there too, so exactly the last 100 are kept with one bounded
delete per write (no query). Bodies over 300 KiB live in S3, one object per revision; the stream worker
deletes the object of a pruned revision.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from crewhouse.core.business_metrics import BusinessMetric, record
from crewhouse.core.errors import Conflict, Gone, NotFound, PayloadTooLarge, PreconditionFailed, ValidationProblem
from crewhouse.core.etag import require_version
from crewhouse.core.identity import Identity
from crewhouse.core.tags import normalise_tags
from crewhouse.notes import checklist, keys, tree
from crewhouse.notes.models import INLINE_BODY_BYTES, KEEP_REVISIONS, MAX_BODY_BYTES, MAX_TASK_LINKS, TRASH_DAYS

if TYPE_CHECKING:
    # Each model module is built by the functions whose routes use it (crewhouse.notes.models): the
    # notebooks function builds no note models, the notes functions no notebook models, and so on.
    from crewhouse.notes.models.checklist import ChecklistAdd, ChecklistItemPatch, ChecklistMove
    from crewhouse.notes.models.clip import ClipRequest
    from crewhouse.notes.models.edits import NoteCreate, NotePatch
    from crewhouse.notes.models.note import Note, NoteSummary
    from crewhouse.notes.models.notebook import Notebook, NotebookCreate, NotebookPatch
    from crewhouse.notes.models.revisions import Revision, RevisionSummary
    from crewhouse.notes.models.tasks import NoteTasksRequest
from crewhouse.notes.rendering import excerpt

Item = dict[str, Any]
Cursor = dict[str, Any] | None
Page = tuple[list[Item], Cursor]
BODY_HEAD_CHARS = 16_000
"""An S3-held body keeps its start in the item: search indexes it and excerpts show it."""
CONTENT_FIELDS = ("title", "checklist")
FILL_ROUNDS = 5
RECURSIVE_DELETE_BUDGET_SECONDS = 10.0
"""A recursive notebook delete trashes notes for this long; the stream worker finishes any rest."""


class NoteStore(Protocol):
    """What the rules need of storage, in their own words (``store.DynamoNoteStore`` on DynamoDB).

    ``owner`` is the tenant-and-user key; a page's second member is the store's opaque resume point.
    """

    def notebook(self, owner: str, notebook_id: str) -> Item | None: ...

    def add_notebook(self, owner: str, notebook: Item) -> None: ...

    def replace_notebook(self, owner: str, notebook: Item, expected_version: int) -> None: ...

    def delete_notebook(self, owner: str, notebook_id: str, expected_version: int) -> None: ...

    def delete_notebooks(self, owner: str, notebook_ids: Iterable[str]) -> None: ...

    def notebooks(self, owner: str, limit: int, start: Cursor) -> Page: ...

    def note_tags(self, owner: str, limit: int, start: Cursor) -> Page: ...

    def child_notebooks(self, owner: str, parent_id: str | None, limit: int, start: Cursor) -> Page: ...

    def child_notebook_ids(self, owner: str, parent_id: str, *, limit: int | None = None) -> list[str]: ...

    def note(self, owner: str, note_id: str) -> Item | None: ...

    def notes(self, owner: str, note_ids: Iterable[str]) -> dict[str, Item]: ...

    def replace_note(self, owner: str, note: Item, expected_version: int) -> None: ...

    def save_with_revision(self, owner: str, note: Item, expected_version: int | None, revision: Item,
                           prune_revision: int | None) -> None: ...

    def delete_note(self, owner: str, note_id: str, expected_version: int) -> None: ...

    def note_ids_in(self, owner: str, notebook_id: str | None, limit: int, start: Cursor
                    ) -> tuple[list[str], Cursor]: ...

    def notes_in(self, owner: str, notebook_id: str | None, limit: int, start: Cursor,
                 filters: Mapping[str, Any] | None = None) -> Page: ...

    def recent_notes(self, owner: str, limit: int, start: Cursor, *, since: str | None = None,
                     filters: Mapping[str, Any] | None = None) -> Page: ...

    def trashed_notes(self, owner: str, limit: int, start: Cursor,
                      filters: Mapping[str, Any] | None = None) -> Page: ...

    def revision(self, owner: str, note_id: str, revision: int) -> Item | None: ...

    def revisions(self, owner: str, note_id: str, limit: int, start: Cursor) -> Page: ...

    def delete_revisions(self, owner: str, note_id: str) -> None: ...


class BodyStore(Protocol):
    def put(self, key: str, text: str) -> None: ...

    def get(self, key: str) -> str: ...

    def copy(self, source: str, target: str) -> None: ...

    def delete(self, object_keys: Iterable[str]) -> None: ...

    def delete_prefix(self, prefix: str) -> int: ...

    def mark_trashed(self, prefix: str, trashed: bool) -> int: ...


class TaskMaker(Protocol):
    """What notes need of the tasks context (see ``crewhouse.notes.task_links``)."""

    def create(self, identity: Identity, task_id: str, title: str, description: str, *, tags: list[str],
               priority: str, planned_date: str | None) -> dict[str, Any]: ...

    def find(self, identity: Identity, task_id: str) -> dict[str, Any] | None: ...


class NoteFilters(NamedTuple):
    # A NamedTuple, not a frozen dataclass: dataclasses compiles six methods when the class is defined
    # (~4 ms of every cold start). Its repr is the same, and the cursor scope is made from the repr.
    notebook_id: str | None = None
    tag: str | None = None
    favorite: bool | None = None
    pinned: bool | None = None
    archived: bool | None = False

    def attribute_filters(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.tag:
            found["tags"] = self.tag.lower().lstrip("#")
        for name in ("favorite", "pinned", "archived"):
            value = getattr(self, name)
            if value is not None:
                found[name] = value
        return found


def _filled_page(read: Callable[[int, Cursor], Page], limit: int, start: Cursor, *, filtered: bool) -> Page:
    """Newest-first page; a filter that drops items is made up for by reading on (a few rounds at most)."""
    found: list[Item] = []
    for _ in range(FILL_ROUNDS):
        items, start = read(limit - len(found), start)
        found.extend(items)
        if len(found) >= limit or not start or not filtered:
            break
    return found, start


def body_hash(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def revision_to_prune(new_revision: int, keep: int = KEEP_REVISIONS) -> int | None:
    """The revision that falls out of the history when ``new_revision`` is written (None while short)."""
    old = new_revision - keep
    return old if old >= 1 else None


def derived_id(seed: str) -> str:
    """A ULID made from ``seed``: the same request always names the same item (retries create nothing new)."""
    from ulid import ULID

    digest = hashlib.sha256(seed.encode()).digest()
    return str(ULID.from_bytes(digest[:16]))


def new_ulid() -> str:
    """A new id: a ULID (sortable by creation time). ``ulid`` is imported by the routes that create."""
    from ulid import ULID

    return str(ULID())


def _problem_for_tree(exc: Exception, path: str) -> Exception:
    if isinstance(exc, tree.NotebookCycle):
        return Conflict(str(exc), slug="notebook-cycle")
    if isinstance(exc, tree.TooDeep):
        return ValidationProblem(str(exc), errors=[{"path": path, "message": "too deep", "type": "depth"}])
    if isinstance(exc, tree.UnknownNotebook):
        return ValidationProblem(f"Unknown notebook {exc.notebook_id}.",
                                 errors=[{"path": path, "message": "unknown notebook", "type": "unknown"}])
    return exc


def _problem_for_checklist(exc: Exception) -> Exception:
    if isinstance(exc, checklist.UnknownItem):
        return NotFound(str(exc))
    if isinstance(exc, checklist.InvalidChecklist):
        return ValidationProblem(str(exc), errors=[{"path": "body.checklist", "message": str(exc),
                                                   "type": "checklist"}])
    return exc


class NoteService:
    def __init__(self, store: NoteStore, bodies: BodyStore, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 new_id: Callable[[], str] = new_ulid) -> None:
        self.store = store
        self.bodies = bodies
        self.clock = clock
        self.new_id = new_id

    @staticmethod
    def owner(identity: Identity) -> str:
        return keys.owner_pk(identity.tenant_id, identity.user_id)

    # --- notebooks ----------------------------------------------------------------------------------

    def _notebook_item(self, owner: str, notebook_id: str) -> Item | None:
        return self.store.notebook(owner, notebook_id)

    def _load_notebook(self, identity: Identity, notebook_id: str) -> Item:
        item = self._notebook_item(self.owner(identity), notebook_id)
        if item is None:
            raise NotFound(f"No notebook {notebook_id}.")  # also another user's or tenant's
        return item

    def _parent_of(self, owner: str) -> Callable[[str], str | None]:
        def parent_of(notebook_id: str) -> str | None:
            item = self._notebook_item(owner, notebook_id)
            if item is None:
                raise tree.UnknownNotebook(notebook_id)
            return item.get("parent_id") or None

        return parent_of

    def _children_of(self, owner: str) -> Callable[[str], list[str]]:
        def children_of(notebook_id: str) -> list[str]:
            return self.store.child_notebook_ids(owner, notebook_id)

        return children_of

    def create_notebook(self, identity: Identity, body: NotebookCreate) -> Notebook:
        from crewhouse.notes.models.notebook import Notebook

        owner = self.owner(identity)
        try:
            tree.check_placement(body.parent_id, self._parent_of(owner))
        except (tree.NotebookCycle, tree.TooDeep, tree.UnknownNotebook) as exc:
            raise _problem_for_tree(exc, "body.parent_id") from exc
        now = keys.stamp(self.clock())
        notebook_id = self.new_id()
        item = {"id": notebook_id, "name": body.name.strip(), "parent_id": body.parent_id, "created_at": now,
                "updated_at": now, "version": 1}
        self.store.add_notebook(owner, item)
        return Notebook.model_validate(item)

    def get_notebook(self, identity: Identity, notebook_id: str) -> Notebook:
        from crewhouse.notes.models.notebook import Notebook

        return Notebook.model_validate(self._load_notebook(identity, notebook_id))

    def list_notebooks(self, identity: Identity, parent_id: str | None, top_level: bool, limit: int,
                       start: Cursor) -> tuple[list[Notebook], Cursor]:
        from crewhouse.notes.models.notebook import Notebook

        owner = self.owner(identity)
        if parent_id or top_level:
            items, last = self.store.child_notebooks(owner, parent_id, limit, start)
        else:
            items, last = self.store.notebooks(owner, limit, start)
        return [Notebook.model_validate(i) for i in items], last

    def update_notebook(self, identity: Identity, notebook_id: str, patch: NotebookPatch,
                        if_match: str | None) -> Notebook:
        from crewhouse.notes.models.notebook import Notebook

        item = self._load_notebook(identity, notebook_id)
        require_version(if_match, item["version"])
        changes = patch.model_dump(exclude_unset=True)
        if "name" in changes and (changes["name"] is None or not str(changes["name"]).strip()):
            raise ValidationProblem("name must not be blank", errors=[{"path": "body.name", "message": "blank"}])
        updated = {**item, **changes}
        if "name" in changes:
            updated["name"] = str(changes["name"]).strip()
        owner = self.owner(identity)
        if "parent_id" in changes and changes["parent_id"] != item.get("parent_id"):
            try:
                height = max(level for _, level in tree.subtree(notebook_id, self._children_of(owner)))
                tree.check_placement(changes["parent_id"], self._parent_of(owner), height=height, moving=notebook_id)
            except (tree.NotebookCycle, tree.TooDeep, tree.UnknownNotebook) as exc:
                raise _problem_for_tree(exc, "body.parent_id") from exc
        if updated == item:
            return Notebook.model_validate(item)
        updated.update(updated_at=keys.stamp(self.clock()), version=item["version"] + 1)
        self.store.replace_notebook(owner, updated, item["version"])
        return Notebook.model_validate(updated)

    def delete_notebook(self, identity: Identity, notebook_id: str, *, recursive: bool,
                        if_match: str | None) -> None:
        """Without ``recursive`` only an empty notebook goes (409 otherwise). With it, the notebook and
        every notebook below it are deleted and their notes moved to the trash."""
        item = self._load_notebook(identity, notebook_id)
        require_version(if_match, item["version"])
        owner = self.owner(identity)
        if not recursive:
            children = self.store.child_notebook_ids(owner, notebook_id, limit=1)
            notes, _ = self.store.note_ids_in(owner, notebook_id, 1, None)
            if children or notes:
                raise Conflict(f"Notebook {notebook_id} is not empty; delete with ?recursive=true to move its "
                               "notes to the trash.", slug="notebook-not-empty",
                               notebooks=len(children), notes=len(notes))
            self.store.delete_notebook(owner, notebook_id, item["version"])
            return
        below = tree.subtree(notebook_id, self._children_of(owner))
        self.store.delete_notebook(owner, notebook_id, item["version"])
        self.store.delete_notebooks(owner, [nb for nb, _ in below[1:]])
        deadline = time.monotonic() + RECURSIVE_DELETE_BUDGET_SECONDS
        for nb, _ in below:
            if not self.trash_notebook_contents(owner, nb, deadline=deadline):
                break  # out of time: the stream worker trashes the rest when it sees the notebooks go

    def trash_notebook_contents(self, owner: str, notebook_id: str, *, deadline: float | None = None) -> bool:
        """Move every live note of a (deleted) notebook to the trash; False if the deadline stopped it."""
        start: Cursor = None
        while True:
            if deadline is not None and time.monotonic() > deadline:
                return False
            note_ids, start = self.store.note_ids_in(owner, notebook_id, 100, start)
            for note_id in note_ids:
                item = self.store.note(owner, note_id)  # the index may lag: decide on the item itself
                if item and not item.get("trashed_at") and item.get("notebook_id") == notebook_id:
                    try:
                        self.store.replace_note(owner, self._trashed(item), item["version"])
                    except PreconditionFailed:
                        continue  # changed meanwhile: a later pass (or the stream worker) sees it again
            if not start:
                return True

    # --- reading notes ------------------------------------------------------------------------------

    def _load(self, identity: Identity, note_id: str, *, trashed: bool = False) -> Item:
        """The live note (404 when missing, another user's, or in the trash); ``trashed``: the trashed one."""
        item = self.store.note(self.owner(identity), note_id)
        if item is None or bool(item.get("trashed_at")) != trashed:
            raise NotFound(f"No note {note_id}{' in the trash' if trashed else ''}.")
        return item

    def body_of(self, item: Mapping[str, Any]) -> str:
        if item.get("body_key"):
            return self.bodies.get(str(item["body_key"]))
        return str(item.get("body") or "")

    @staticmethod
    def _summary_fields(item: Mapping[str, Any]) -> dict[str, Any]:
        fields = dict(item)
        shown = item.get("body") if not item.get("body_key") else item.get("body_head")
        fields["excerpt"] = excerpt(str(shown or ""))
        if item.get("trashed_at"):
            fields["purge_at"] = datetime.fromisoformat(str(item["trashed_at"])) + timedelta(days=TRASH_DAYS)
        fields.pop("body", None)
        return fields

    @classmethod
    def to_summary(cls, item: Mapping[str, Any]) -> NoteSummary:
        from crewhouse.notes.models.note import NoteSummary

        return NoteSummary.model_validate(cls._summary_fields(item))

    @classmethod
    def to_note(cls, item: Mapping[str, Any], body: str) -> Note:
        from crewhouse.notes.models.note import Note

        return Note.model_validate({**cls._summary_fields(item), "body": body})

    def get(self, identity: Identity, note_id: str) -> Note:
        item = self._load(identity, note_id)
        return self.to_note(item, self.body_of(item))

    def list_notes(self, identity: Identity, filters: NoteFilters, limit: int, start: Cursor
                   ) -> tuple[list[NoteSummary], Cursor]:
        """A notebook's notes pinned first, then newest; without a notebook, every note newest first."""
        owner = self.owner(identity)
        wanted = filters.attribute_filters()
        if filters.notebook_id:
            notebook_id = filters.notebook_id

            def read(size: int, start: Cursor) -> Page:
                return self.store.notes_in(owner, notebook_id, size, start, wanted)
        else:
            def read(size: int, start: Cursor) -> Page:
                return self.store.recent_notes(owner, size, start, filters=wanted)
        items, last = _filled_page(read, limit, start, filtered=bool(wanted))
        return [self.to_summary(i) for i in items], last

    def recent(self, identity: Identity, limit: int, start: Cursor, since: datetime | None = None
               ) -> tuple[list[NoteSummary], Cursor]:
        items, last = self.store.recent_notes(self.owner(identity), limit, start,
                                              since=keys.stamp(since) if since else None)
        return [self.to_summary(i) for i in items], last

    def list_trash(self, identity: Identity, limit: int, start: Cursor) -> tuple[list[NoteSummary], Cursor]:
        """Trashed notes, most recently trashed first (those past the restore window are left out)."""
        owner, unexpired = self.owner(identity), {"expires_at": (">", int(self.clock().timestamp()))}
        items, last = _filled_page(lambda size, start: self.store.trashed_notes(owner, size, start, unexpired),
                                   limit, start, filtered=True)
        return [self.to_summary(i) for i in items], last

    # --- writing notes ------------------------------------------------------------------------------

    def _check_notebook(self, owner: str, notebook_id: str | None) -> None:
        if notebook_id and self._notebook_item(owner, notebook_id) is None:
            raise ValidationProblem(f"Unknown notebook {notebook_id}.", errors=[
                {"path": "body.notebook_id", "message": "unknown notebook", "type": "unknown"}])

    @staticmethod
    def _check_body(body: str) -> int:
        size = len(body.encode())
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The note body is {size} bytes; at most {MAX_BODY_BYTES} (1 MiB) are allowed.",
                                  slug="note-too-large")
        return size

    def _save(self, old: Item | None, fields: Mapping[str, Any], new_body: str | None, *, owner: str, note_id: str,
              reason: str = "edit", restored_from: int | None = None, force_revision: bool = False) -> Item:
        """Write the note: with a new revision when title, body or checklist changed (or ``force_revision``).

        ``new_body`` None keeps the body. Returns the stored item; the caller shapes the response.
        """
        now = self.clock()
        item: Item = dict(old or {})
        item.update(fields)
        item.update(id=note_id, updated_at=keys.stamp(now),
                    version=(old or {}).get("version", 0) + 1)
        if old is None:
            item["created_at"] = keys.stamp(now)
        body_changed = new_body is not None and (old is None or body_hash(new_body) != old.get("body_hash"))
        content_changed = body_changed or old is None or force_revision or any(
            (checklist.content(item.get(f)) if f == "checklist" else item.get(f)) !=
            (checklist.content(old.get(f)) if f == "checklist" else old.get(f)) for f in CONTENT_FIELDS)
        if not content_changed:
            assert old is not None
            self.store.replace_note(owner, item, old["version"])
            return item
        revision = (old or {}).get("revision", 0) + 1
        uploaded: str | None = None
        if body_changed:
            assert new_body is not None
            size = self._check_body(new_body)
            item.update(body_size=size, body_hash=body_hash(new_body))
            if size > INLINE_BODY_BYTES:
                uploaded = f"{keys.body_prefix(owner, note_id)}{self.new_id()}.md"
                self.bodies.put(uploaded, new_body)
                item.update(body=None, body_key=uploaded, body_head=new_body[:BODY_HEAD_CHARS])
            else:
                item.update(body=new_body, body_key=None, body_head=None)
        elif item.get("body_key"):
            # Each revision owns its object: the pruned one's can then simply be deleted.
            uploaded = f"{keys.body_prefix(owner, note_id)}{self.new_id()}.md"
            self.bodies.copy(str(item["body_key"]), uploaded)
            item["body_key"] = uploaded
        item.setdefault("body_size", 0)
        item.setdefault("body_hash", body_hash(""))
        item["revision"] = revision
        record = {"note_id": note_id,
                  "revision": revision, "title": item.get("title", ""), "body": item.get("body"),
                  "body_key": item.get("body_key"), "body_size": item["body_size"], "body_hash": item["body_hash"],
                  "checklist": item.get("checklist") or [], "created_at": keys.stamp(now), "reason": reason,
                  "restored_from": restored_from}
        try:
            self.store.save_with_revision(owner, item, old["version"] if old else None, record,
                                          revision_to_prune(revision))
        except Exception:
            if uploaded:
                self.bodies.delete([uploaded])  # unique to this attempt: nothing else points at it
            raise
        return item

    def create(self, identity: Identity, body: NoteCreate, *, source: Mapping[str, Any] | None = None,
               reason: str = "create", note_id: str | None = None) -> Note:
        owner = self.owner(identity)
        self._check_body(body.body)
        self._check_notebook(owner, body.notebook_id)
        try:
            items = checklist.replace_all([], [i.model_dump() for i in body.checklist], self.new_id)
        except checklist.InvalidChecklist as exc:
            raise _problem_for_checklist(exc) from exc
        fields = {**body.model_dump(mode="json", exclude={"body", "checklist"}), "checklist": items,
                  "task_ids": [], "source": dict(source) if source else None}
        item = self._save(None, fields, body.body, owner=owner, note_id=note_id or self.new_id(), reason=reason)
        record(BusinessMetric.NOTES_WRITTEN, identity.tenant_id)
        return self.to_note(item, body.body)

    def update(self, identity: Identity, note_id: str, patch: NotePatch, if_match: str | None) -> Note:
        item = self._load(identity, note_id)
        require_version(if_match, item["version"])
        changes = patch.model_dump(mode="json", exclude_unset=True)
        for name in ("title", "body", "tags", "favorite", "pinned", "archived"):
            if name in changes and changes[name] is None:
                raise ValidationProblem(f"{name} cannot be null", errors=[{"path": f"body.{name}", "message": "null"}])
        new_body = changes.pop("body", None)
        if "notebook_id" in changes and changes["notebook_id"] != item.get("notebook_id"):
            self._check_notebook(self.owner(identity), changes["notebook_id"])
        if "checklist" in changes:
            if changes["checklist"] is None:
                changes["checklist"] = []
            try:
                changes["checklist"] = checklist.replace_all(item.get("checklist") or [], changes["checklist"],
                                                             self.new_id)
            except checklist.InvalidChecklist as exc:
                raise _problem_for_checklist(exc) from exc
        if not changes and new_body is None:
            return self.to_note(item, self.body_of(item))
        saved = self._save(item, changes, new_body, owner=self.owner(identity), note_id=note_id)
        record(BusinessMetric.NOTES_WRITTEN, identity.tenant_id)
        return self.to_note(saved, new_body if new_body is not None else self.body_of(saved))

    # --- checklist ----------------------------------------------------------------------------------

    def _change_checklist(self, identity: Identity, note_id: str, if_match: str | None,
                          change: Callable[[list[Item]], list[Item]]) -> Note:
        item = self._load(identity, note_id)
        require_version(if_match, item["version"])
        try:
            items = change(list(item.get("checklist") or []))
        except (checklist.UnknownItem, checklist.InvalidChecklist) as exc:
            raise _problem_for_checklist(exc) from exc
        saved = self._save(item, {"checklist": items}, None, owner=self.owner(identity), note_id=note_id)
        return self.to_note(saved, self.body_of(saved))

    def add_item(self, identity: Identity, note_id: str, body: ChecklistAdd, if_match: str | None) -> Note:
        return self._change_checklist(identity, note_id, if_match, lambda items: checklist.add(
            items, body.text, self.new_id, checked=body.checked, before_id=body.before_id, after_id=body.after_id)[0])

    def update_item(self, identity: Identity, note_id: str, item_id: str, body: ChecklistItemPatch,
                    if_match: str | None) -> Note:
        return self._change_checklist(identity, note_id, if_match, lambda items: checklist.update(
            items, item_id, text=body.text, checked=body.checked))

    def move_item(self, identity: Identity, note_id: str, item_id: str, body: ChecklistMove,
                  if_match: str | None) -> Note:
        return self._change_checklist(identity, note_id, if_match, lambda items: checklist.move(
            items, item_id, before_id=body.before_id, after_id=body.after_id, position=body.position))

    def remove_item(self, identity: Identity, note_id: str, item_id: str, if_match: str | None) -> Note:
        return self._change_checklist(identity, note_id, if_match, lambda items: checklist.remove(items, item_id))

    def tags_page(self, identity: Identity, start: Any, limit: int = 100) -> tuple[list[tuple[str, list[str]]], Any]:
        """A page of the caller's tagged live notes as ``(id, tags)``, for rebuilding the tag index (a trashed
        note's tags do not count)."""
        items, resume = self.store.note_tags(self.owner(identity), limit, start)
        return [(str(i["id"]), list(i["tags"])) for i in items if i.get("tags") and not i.get("trashed_at")], resume

    def retag(self, identity: Identity, note_id: str, old: str, new: str) -> bool:
        """Replace tag ``old`` with ``new`` on one live note (a merge when it has both): one read, one
        conditional write, no new revision (tags are not content). False when it is gone, trashed or no
        longer has ``old``."""
        owner = self.owner(identity)
        item = self.store.note(owner, note_id)
        if item is None or item.get("trashed_at") or old not in (item.get("tags") or []):
            return False
        tags = normalise_tags([new if tag == old else tag for tag in item["tags"]])
        self.store.replace_note(owner, {**item, "tags": tags, "updated_at": keys.stamp(self.clock()),
                                        "version": item["version"] + 1}, item["version"])
        return True

    # --- trash --------------------------------------------------------------------------------------

    def _trashed(self, item: Item) -> Item:
        now = self.clock()
        purge = int((now + timedelta(days=TRASH_DAYS)).timestamp())
        return {**item, "trashed_at": keys.stamp(now), "expires_at": purge, "version": item["version"] + 1}

    def trash(self, identity: Identity, note_id: str, if_match: str | None) -> None:
        item = self._load(identity, note_id)
        require_version(if_match, item["version"])
        self.store.replace_note(self.owner(identity), self._trashed(item), item["version"])

    def restore(self, identity: Identity, note_id: str) -> Note:
        """Bring a note back from the trash (410 once its 30 days are over); a note whose notebook was
        deleted meanwhile comes back at the top level."""
        owner = self.owner(identity)
        item = self.store.note(owner, note_id)
        if item is None:
            raise NotFound(f"No note {note_id} in the trash.")
        if not item.get("trashed_at"):
            return self.to_note(item, self.body_of(item))  # restoring twice changes nothing
        if int(item.get("expires_at") or 0) <= int(self.clock().timestamp()):
            raise Gone(f"Note {note_id} was in the trash for more than {TRASH_DAYS} days and is being purged.",
                       slug="note-purged")
        restored = {**item, "trashed_at": None, "expires_at": None, "version": item["version"] + 1}
        if restored.get("notebook_id") and self._notebook_item(owner, restored["notebook_id"]) is None:
            restored["notebook_id"] = None
        self.store.replace_note(owner, restored, item["version"])
        return self.to_note(restored, self.body_of(restored))

    def purge(self, identity: Identity, note_id: str, if_match: str | None) -> None:
        """Delete a note (live or trashed) for good, with its revisions and stored bodies."""
        owner = self.owner(identity)
        item = self.store.note(owner, note_id)
        if item is None:
            raise NotFound(f"No note {note_id}.")
        require_version(if_match, item["version"])
        self.store.delete_note(owner, note_id, item["version"])
        self.purge_history(owner, note_id)

    def purge_history(self, owner: str, note_id: str) -> None:
        """Revisions and S3 objects of a deleted note (idempotent: the stream worker repeats it)."""
        self.store.delete_revisions(owner, note_id)
        self.bodies.delete_prefix(keys.body_prefix(owner, note_id))

    # --- revisions ----------------------------------------------------------------------------------

    def list_revisions(self, identity: Identity, note_id: str, limit: int, start: Cursor
                       ) -> tuple[list[RevisionSummary], Cursor]:
        from crewhouse.notes.models.revisions import RevisionSummary

        self._load(identity, note_id)
        items, last = self.store.revisions(self.owner(identity), note_id, limit, start)
        return [RevisionSummary.model_validate(i) for i in items], last

    def _load_revision(self, identity: Identity, note_id: str, revision: int) -> tuple[Item, Item]:
        item = self._load(identity, note_id)
        record = self.store.revision(self.owner(identity), note_id, revision)
        if record is None:
            raise NotFound(f"Note {note_id} has no revision {revision} (the last {KEEP_REVISIONS} are kept).")
        return item, record

    def get_revision(self, identity: Identity, note_id: str, revision: int) -> Revision:
        from crewhouse.notes.models.revisions import Revision

        _, record = self._load_revision(identity, note_id, revision)
        return Revision.model_validate({**record, "body": self.body_of(record)})

    def restore_revision(self, identity: Identity, note_id: str, revision: int, if_match: str | None) -> Note:
        """Make an old revision current again: a new revision with its title, body and checklist."""
        item, record = self._load_revision(identity, note_id, revision)
        require_version(if_match, item["version"])
        body = self.body_of(record)
        items = checklist.replace_all(item.get("checklist") or [], record.get("checklist") or [], self.new_id)
        saved = self._save(item, {"title": record.get("title", ""), "checklist": items}, body,
                           owner=self.owner(identity),
                           note_id=note_id, reason="restore", restored_from=revision, force_revision=True)
        return self.to_note(saved, body)

    # --- web clips ----------------------------------------------------------------------------------

    def clip(self, identity: Identity, request: ClipRequest) -> Note:
        from crewhouse.notes.clipping import NothingReadable, extract_clip
        from crewhouse.notes.models.edits import NoteCreate

        try:
            found = extract_clip(request.html, request.url)
        except NothingReadable as exc:
            raise ValidationProblem(str(exc), errors=[{"path": "body.html", "message": str(exc),
                                                      "type": "unreadable"}]) from exc
        source = {"url": request.url, "site_name": found.site_name, "author": found.author,
                  "published": found.published, "clipped_at": keys.stamp(self.clock())}
        fields = NoteCreate(title=(request.title or found.title or request.url)[:500], body=found.markdown,
                            notebook_id=request.notebook_id, tags=request.tags)
        return self.create(identity, fields, source=source, reason="clip")

    # --- tasks from notes ---------------------------------------------------------------------------

    def create_tasks(self, identity: Identity, note_id: str, request: NoteTasksRequest, tasks: TaskMaker
                     ) -> tuple[list[dict[str, Any]], Note]:
        """One task for the note, or one per chosen checklist item; both sides link to each other.

        Task ids derive from the note and its version, so a retried request finds the tasks it made.
        An item that already has a live task keeps it (nothing is created twice).
        """
        item = self._load(identity, note_id)
        owner = self.owner(identity)
        items = list(item.get("checklist") or [])
        try:
            chosen = [checklist.find(items, item_id) for item_id in dict.fromkeys(request.checklist_item_ids)]
        except checklist.UnknownItem as exc:
            raise ValidationProblem(str(exc), errors=[{"path": "body.checklist_item_ids", "message": "unknown item",
                                                      "type": "unknown"}]) from exc
        planned = request.planned_date.isoformat() if request.planned_date else None
        description = f"note:{note_id}"
        made: list[dict[str, Any]] = []
        links: dict[str, str] = {}
        if not chosen:
            # A note's title may be blank (spaces); a task's may not.
            title = ((item.get("title") or "").strip()
                     or excerpt(str(item.get("body") or item.get("body_head") or ""), 120).strip() or "Untitled note")
            task_id = derived_id(f"{owner}/{note_id}/note/{item['version']}")
            made.append(self._task_for(identity, tasks, task_id, title[:500], description, item, request, planned))
        for chosen_item in chosen:
            existing = tasks.find(identity, chosen_item["task_id"]) if chosen_item.get("task_id") else None
            if existing is not None:
                made.append(existing)
                continue
            task_id = derived_id(f"{owner}/{note_id}/item/{chosen_item['id']}/{item['version']}")
            made.append(self._task_for(identity, tasks, task_id, chosen_item["text"].strip() or "Checklist item",
                                       f"{description}\n\nChecklist item {chosen_item['id']}", item, request, planned))
            links[chosen_item["id"]] = task_id
        task_ids = list(dict.fromkeys([*(item.get("task_ids") or []), *(t["id"] for t in made)]))
        if len(task_ids) > MAX_TASK_LINKS:
            raise ValidationProblem(f"A note links at most {MAX_TASK_LINKS} tasks.")
        for item_id, task_id in links.items():
            items = checklist.link_task(items, item_id, task_id)
        if task_ids == (item.get("task_ids") or []) and not links:
            return made, self.to_note(item, self.body_of(item))
        saved = self._save(item, {"task_ids": task_ids, "checklist": items}, None, owner=owner, note_id=note_id)
        return made, self.to_note(saved, self.body_of(saved))

    @staticmethod
    def _task_for(identity: Identity, tasks: TaskMaker, task_id: str, title: str, description: str, item: Item,
                  request: NoteTasksRequest, planned: str | None) -> dict[str, Any]:
        found = tasks.find(identity, task_id)
        if found is not None:
            return found  # made by an earlier try of this request
        return tasks.create(identity, task_id, title, description, tags=list(item.get("tags") or []),
                            priority=request.priority, planned_date=planned)
