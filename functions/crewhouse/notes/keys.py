"""Key shapes of the notes table. Every key starts with the tenant and the owner.

- notebook: PK ``T#<tenant>#U#<user>``, SK ``NOTEBOOK#<id>``
- note:     PK as above, SK ``NOTE#<id>``
- revision: PK ``<owner>#NOTE#<note id>``, SK ``REV#<revision, 10 digits>`` (one partition per note: its
  history is listed newest first, pruned and purged without touching any other note)
- GSI1 (children and contents, sparse):
    notebook: GSI1PK ``<owner>#UNDER#<parent id or ~>``, GSI1SK ``<name casefolded>#<id>``
    live note: GSI1PK ``<owner>#IN#<notebook id or ~>``, GSI1SK ``<1 pinned|0>#<updated_at>#<id>``
- GSI2 (recent, live notes only): GSI2PK = owner, GSI2SK ``<updated_at>#<id>``
- GSI3 (trash, trashed notes only): GSI3PK = owner, GSI3SK ``<trashed_at>#<id>``

Large bodies live in S3 at ``notes/<tenant>/<user>/<note id>/<unique>.md``, one object per revision.
"""

from __future__ import annotations

from datetime import UTC, datetime

from crewhouse.core.errors import NotFound
from crewhouse.core.keys import owner_pk as owner_pk  # one owner key for every context

ROOT = "~"
MAX_ID_LENGTH = 64  # no notebook / top level: ids never contain "~"
BODY_PREFIX = "notes/"


def checked(item_id: str) -> str:
    """An id as a key part; one longer than any id we issue names nothing (404, not an oversized key)."""
    if len(item_id) > MAX_ID_LENGTH:
        raise NotFound(f"No item {item_id[:MAX_ID_LENGTH]}….")
    return item_id


def notebook_sk(notebook_id: str) -> str:
    return f"NOTEBOOK#{checked(notebook_id)}"


def note_sk(note_id: str) -> str:
    return f"NOTE#{checked(note_id)}"


def revisions_pk(owner: str, note_id: str) -> str:
    return f"{owner}#NOTE#{checked(note_id)}"


def revision_sk(revision: int) -> str:
    return f"REV#{revision:010d}"


def children_pk(owner: str, parent_id: str | None) -> str:
    return f"{owner}#UNDER#{checked(parent_id) if parent_id else ROOT}"


def contents_pk(owner: str, notebook_id: str | None) -> str:
    return f"{owner}#IN#{checked(notebook_id) if notebook_id else ROOT}"


def stamp(moment: datetime) -> str:
    """A sortable UTC timestamp (fixed width: microseconds always present)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def owner_parts(owner: str) -> tuple[str, str]:
    """``(tenant, user)`` of an owner key."""
    parts = owner.split("#")
    return parts[1], parts[3]


def body_prefix(owner: str, note_id: str) -> str:
    tenant, user = owner_parts(owner)
    return f"{BODY_PREFIX}{tenant}/{user}/{note_id}/"
