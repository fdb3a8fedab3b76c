"""How the files context's service is built: the one place, for its API, its workers and other contexts.

Settings default to the files context's own, read from the calling function's environment; nothing else
reads them. Imports are lazy: a handler pays for the service only when it builds one (cold starts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from crewhouse.core.aws import aws_client
from crewhouse.core.settings import load_settings
from crewhouse.files.settings import FilesSettings

if TYPE_CHECKING:
    from crewhouse.files.logic import FileService
    from crewhouse.files.retention import Retention


def service_for(settings: FilesSettings | None = None, *, new_id: Callable[[], str] | None = None) -> FileService:
    """``new_id``: the id the next created file gets (a job's result file keeps its job-derived id)."""
    from crewhouse.core.table import Table
    from crewhouse.files.logic import FileService
    from crewhouse.files.store import DynamoFileStore, S3Objects, target_tables

    settings = settings or load_settings(FilesSettings)
    store = DynamoFileStore(Table(aws_client("dynamodb", settings), settings.files_table),
                            target_tables(settings.tasks_table, settings.notes_table))
    # SigV4: botocore would presign with SigV2 in us-east-1 otherwise.
    objects = S3Objects(aws_client("s3", settings, signature_version="s3v4"), settings.files_bucket)
    if new_id is None:
        return FileService(store, objects, settings)
    return FileService(store, objects, settings, new_id=new_id)


def retention_for(settings: FilesSettings | None = None, *, with_events: bool = False) -> Retention:
    """The retention policy, preview and sweep; ``with_events``: an EventBridge client (the sweep's warnings)."""
    from crewhouse.files.retention import Retention

    settings = settings or load_settings(FilesSettings)
    events = aws_client("events", settings) if with_events else None
    return Retention(service_for(settings), events, settings.event_bus_name, sweep_hour=settings.retention_sweep_hour)
