"""How the notes context's service is built: the one place, for its API, its workers and other contexts.

Settings default to the notes context's own, read from the calling function's environment; nothing else
reads them. Imports are lazy: a handler pays for the service only when it builds one (cold starts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crewhouse.core.aws import aws_client
from crewhouse.core.settings import load_settings
from crewhouse.notes.settings import NotesSettings

if TYPE_CHECKING:
    from crewhouse.notes.logic import NoteService


def service_for(settings: NotesSettings | None = None) -> NoteService:
    from crewhouse.core.table import Table
    from crewhouse.notes.logic import NoteService
    from crewhouse.notes.store import DynamoNoteStore, S3Bodies

    settings = settings or load_settings(NotesSettings)
    return NoteService(DynamoNoteStore(Table(aws_client("dynamodb", settings), settings.notes_table)),
                       S3Bodies(aws_client("s3", settings), settings.files_bucket))

