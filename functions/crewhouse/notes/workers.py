"""Background handler of the notes context: the notes table's stream.

For each change of a notebook, note or revision it updates the shared search index (kind ``note``),
appends the API-shaped snapshot to the sync log, moves a trashed note's S3 bodies under the trash
lifecycle (and back on restore), purges a deleted note's revisions and bodies (TTL expiry included),
deletes the body of a pruned revision, trashes the notes of a deleted notebook and puts the domain event
on the bus. Records are processed with Powertools' BatchProcessor: one bad record is retried alone.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from crewhouse.core.aws import aws_client
from crewhouse.core.settings import load_settings
from crewhouse.notes import keys
from crewhouse.notes.projections import SEARCH_WEIGHTS, Change, change_for
from crewhouse.notes.settings import NotesSettings

EVENT_SOURCE = "crewhouse.notes"


class Effects(Protocol):
    def apply(self, change: Change, event_id: str) -> None: ...


class AwsEffects:
    """Applies a notes change with the real services."""

    def __init__(self, settings: NotesSettings) -> None:
        from crewhouse.notes.store import S3Bodies
        from crewhouse.notes.wiring import service_for
        from crewhouse.search.index import DynamoSearchIndex
        from crewhouse.search.tags import DynamoTagIndex
        from crewhouse.sync.log import DynamoSyncLog

        dynamodb = aws_client("dynamodb", settings)
        self.settings = settings
        self.search = DynamoSearchIndex(dynamodb, settings.search_table)
        self.tags = DynamoTagIndex(dynamodb, settings.search_table)
        self.log = DynamoSyncLog(dynamodb, settings.sync_table)
        self.bodies = S3Bodies(aws_client("s3", settings), settings.files_bucket)
        self.service = service_for(settings)
        self.events = aws_client("events", settings)

    def apply(self, change: Change, event_id: str) -> None:
        from crewhouse.sync.log import Entry

        if change.reindex:
            self.search.replace_document(change.owner, "note", change.item_id, change.old_text, change.new_text,
                                         SEARCH_WEIGHTS)
        if change.kind == "note":
            self.tags.replace_tags(change.owner, "note", change.item_id, change.old_tags, change.new_tags)
        if change.sync is not None:
            self.log.record(change.owner, [Entry(event_id, change.kind, change.item_id, change.sync.operation,
                                                 change.sync.version, change.sync.snapshot)])
        if change.delete_objects:
            self.bodies.delete(change.delete_objects)
        if change.bodies == "purge":
            self.service.purge_history(change.owner, change.item_id)
        elif change.bodies in ("trash", "restore"):
            self.bodies.mark_trashed(keys.body_prefix(change.owner, change.item_id), change.bodies == "trash")
        if change.trash_notebook:
            self.service.trash_notebook_contents(change.owner, change.trash_notebook)
        if change.event_type:
            self.events.put_events(Entries=[{"Source": EVENT_SOURCE, "DetailType": change.event_type,
                                             "Detail": json.dumps(change.event_detail),
                                             "EventBusName": self.settings.event_bus_name}])


def _image(record: DynamoDBRecord, which: str) -> dict[str, Any] | None:
    from crewhouse.core.dynamo import stream_image

    return stream_image(record.raw_event, which)


def on_table_changes(event: dict[str, Any], context: Any, *, effects: Effects | None = None) -> dict[str, Any]:
    settings = load_settings(NotesSettings)
    applied = effects or AwsEffects(settings)
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

    def handle(record: DynamoDBRecord) -> None:
        change = change_for(_image(record, "OldImage"), _image(record, "NewImage"))
        if change is None:
            return
        applied.apply(change, record.event_id or "")

    return dict(process_partial_response(event=event, record_handler=handle, processor=processor, context=context))
