"""Where a finished job's markdown goes: a note in the owner's notebook, or a markdown file.

The result's id is derived from the job and its run, so a retried store step finds what the first try
wrote instead of writing a second note or file.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from crewhouse.core.errors import Conflict
from crewhouse.core.identity import Identity
from crewhouse.jobs.models import PREVIEW_CHARS
from crewhouse.jobs.settings import JobsSettings
from crewhouse.notes.logic import derived_id
from crewhouse.notes.models import NoteCreate
from crewhouse.notes.wiring import service_for as note_service

TITLE_CHARS = 200


def owner_identity(tenant_id: str, user_id: str) -> Identity:
    """The job's owner, as the notes and files services expect a caller (jobs act on the owner's behalf)."""
    return Identity(tenant_id=tenant_id, user_id=user_id, role="member", scopes=frozenset())


def _file_name(title: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", title).strip("-")[:80] or "result"
    return f"{slug}.md"


def store_result(settings: JobsSettings, job: Mapping[str, Any], output: Mapping[str, Any]) -> dict[str, Any]:
    identity = owner_identity(job["tenant_id"], job["user_id"])
    spec = job.get("result_spec") or {"kind": "note"}
    result_id = derived_id(f"job-result:{job['id']}:{job.get('run', 1)}")
    title = str(output.get("title") or job["type"])[:TITLE_CHARS]
    markdown = str(output.get("markdown", ""))
    preview = markdown[:PREVIEW_CHARS]
    if spec.get("kind") == "file":
        return {"kind": "file", "file_id": _store_file(settings, identity, result_id, title, markdown),
                "preview": preview}
    return {"kind": "note", "note_id": _store_note(settings, identity, result_id, title, markdown, job,
                                                   spec.get("notebook_id")), "preview": preview}


def _store_note(settings: JobsSettings, identity: Identity, note_id: str, title: str, markdown: str,
                job: Mapping[str, Any], notebook_id: str | None) -> str:
    service = note_service()
    body = NoteCreate(title=title, body=markdown, notebook_id=notebook_id, tags=["agent-job", job["type"]])
    with contextlib.suppress(Conflict):  # the first try of this step already wrote it
        service.create(identity, body, reason="job-result", note_id=note_id)
    return note_id


def _store_file(settings: JobsSettings, identity: Identity, file_id: str, title: str, markdown: str) -> str:
    # Files are the rare result: their service is loaded only for them.
    from crewhouse.files.models import FileCreate
    from crewhouse.files.wiring import service_for

    service = service_for(new_id=lambda: file_id)
    data = markdown.encode() or b" "
    if not service.exists(identity, file_id):
        service.create(identity, FileCreate(filename=_file_name(title), content_type="text/markdown",
                                            size=len(data), sha256=hashlib.sha256(data).hexdigest()))
    # The upload then goes through the files pipeline (scan, OCR skip, available) like any other.
    service.put_content(identity, file_id, data, "text/markdown")
    return file_id
