"""Notes and notebooks API models. Field names are the same in REST and MCP.

pydantic builds a model's validator and serializer when its class is defined: 1-3 ms a model at a cold
start. The models are therefore split by the routes that use them, and each HTTP function imports only its
modules: ``notebook``, ``note`` (``Note``, ``NoteSummary``), ``edits`` (``NoteCreate``, ``NotePatch``),
``checklist``, ``revisions``, ``clip``, ``tasks`` and ``tags``; ``fields`` holds the field types they share.

The limits are defined here. ``from crewhouse.notes.models import X`` works for every model too: this package
imports the module that defines ``X`` when ``X`` is first asked for (PEP 562), so importing the package
builds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crewhouse.core.lazy_exports import lazy_exports

MAX_BODY_BYTES = 1024 * 1024
"""A note's markdown body, UTF-8 encoded (413 beyond)."""
INLINE_BODY_BYTES = 300 * 1024
"""Larger bodies live in S3; the item keeps a pointer (and a head for search and excerpts)."""
MAX_CHECKLIST_ITEMS = 200
MAX_CHECKLIST_BYTES = 64 * 1024
"""Checklist texts together (UTF-8): with the inline body this keeps an item below DynamoDB's 400 KB."""
MAX_NOTEBOOK_DEPTH = 5
MAX_TAGS = 30
MAX_TASK_LINKS = 100
KEEP_REVISIONS = 100
TRASH_DAYS = 30

if TYPE_CHECKING:
    from crewhouse.notes.models.checklist import ChecklistAdd as ChecklistAdd
    from crewhouse.notes.models.checklist import ChecklistItemPatch as ChecklistItemPatch
    from crewhouse.notes.models.checklist import ChecklistMove as ChecklistMove
    from crewhouse.notes.models.clip import ClipRequest as ClipRequest
    from crewhouse.notes.models.edits import ChecklistItemIn as ChecklistItemIn
    from crewhouse.notes.models.edits import NoteCreate as NoteCreate
    from crewhouse.notes.models.edits import NotePatch as NotePatch
    from crewhouse.notes.models.note import ChecklistItem as ChecklistItem
    from crewhouse.notes.models.note import ClipSource as ClipSource
    from crewhouse.notes.models.note import Note as Note
    from crewhouse.notes.models.note import NoteSummary as NoteSummary
    from crewhouse.notes.models.notebook import Notebook as Notebook
    from crewhouse.notes.models.notebook import NotebookCreate as NotebookCreate
    from crewhouse.notes.models.notebook import NotebookPatch as NotebookPatch
    from crewhouse.notes.models.revisions import Revision as Revision
    from crewhouse.notes.models.revisions import RevisionSummary as RevisionSummary
    from crewhouse.notes.models.tags import TagCount as TagCount
    from crewhouse.notes.models.tags import TagList as TagList
    from crewhouse.notes.models.tags import TagRename as TagRename
    from crewhouse.notes.models.tags import TagRenameResult as TagRenameResult
    from crewhouse.notes.models.tasks import LinkedTask as LinkedTask
    from crewhouse.notes.models.tasks import NoteTasksRequest as NoteTasksRequest
    from crewhouse.notes.models.tasks import NoteTasksResult as NoteTasksResult

_MODULES: dict[str, tuple[str, ...]] = {
    "notebook": ("NotebookCreate", "NotebookPatch", "Notebook"),
    "note": ("ChecklistItem", "ClipSource", "NoteSummary", "Note"),
    "edits": ("ChecklistItemIn", "NoteCreate", "NotePatch"),
    "checklist": ("ChecklistAdd", "ChecklistItemPatch", "ChecklistMove"),
    "revisions": ("RevisionSummary", "Revision"),
    "clip": ("ClipRequest",),
    "tasks": ("NoteTasksRequest", "LinkedTask", "NoteTasksResult"),
    "tags": ("TagCount", "TagList", "TagRename", "TagRenameResult"),
}
__getattr__, __dir__, _lazy = lazy_exports(__name__, _MODULES, globals())
__all__ = sorted([*_lazy, "MAX_BODY_BYTES", "INLINE_BODY_BYTES", "MAX_CHECKLIST_ITEMS", "MAX_CHECKLIST_BYTES",
                  "MAX_NOTEBOOK_DEPTH", "MAX_TAGS", "MAX_TASK_LINKS", "KEEP_REVISIONS", "TRASH_DAYS"])
