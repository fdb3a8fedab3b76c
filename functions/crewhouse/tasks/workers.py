"""Background handlers of the tasks context.

- ``on_table_changes``: the tasks table's stream. For each task change it updates the search index,
  appends to the sync log, (re)schedules reminders and puts the domain event on the bus. Records are
  processed with Powertools' BatchProcessor, so one bad record is retried alone (partial batch response).
- ``reminder_due``: invoked by an EventBridge Scheduler one-time schedule; puts ``task.reminder.due``.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any, Protocol

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from crewhouse.core.aws import aws_client
from crewhouse.core.observability import logger
from crewhouse.core.settings import load_settings
from crewhouse.sync.log import Entry
from crewhouse.tasks import keys
from crewhouse.tasks.projections import SEARCH_WEIGHTS, TaskChange, task_change
from crewhouse.tasks.settings import TasksSettings

EVENT_SOURCE = "crewhouse.tasks"


class Effects(Protocol):
    def apply(self, change: TaskChange, epoch_ms: int, event_id: str) -> None: ...


class AwsEffects:
    """Applies a task change with the real services."""

    def __init__(self, settings: TasksSettings) -> None:
        from crewhouse.search.index import DynamoSearchIndex
        from crewhouse.search.tags import DynamoTagIndex
        from crewhouse.sync.log import DynamoSyncLog

        dynamodb = aws_client("dynamodb", settings)
        self.settings = settings
        self.search = DynamoSearchIndex(dynamodb, settings.search_table)
        self.tags = DynamoTagIndex(dynamodb, settings.search_table)
        self.log = DynamoSyncLog(dynamodb, settings.sync_table)
        self.scheduler = aws_client("scheduler", settings)
        self.events = aws_client("events", settings)

    def apply(self, change: TaskChange, epoch_ms: int, event_id: str) -> None:
        self.search.replace_document(change.owner, "task", change.task_id, change.old_text, change.new_text,
                                     SEARCH_WEIGHTS)
        self.tags.replace_tags(change.owner, "task", change.task_id, change.old_tags, change.new_tags)
        self.log.record(change.owner, [Entry(event_id, "task", change.task_id, change.operation, change.version,
                                             change.snapshot)])
        self._reschedule(change)
        if change.event_type:
            self.events.put_events(Entries=[{"Source": EVENT_SOURCE, "DetailType": change.event_type,
                                             "Detail": json.dumps(change.event_detail),
                                             "EventBusName": self.settings.event_bus_name}])

    def _reschedule(self, change: TaskChange) -> None:
        group = self.settings.reminder_schedule_group
        for name in change.reminders_to_delete:
            # Already fired (ActionAfterCompletion DELETE) or never created: nothing to remove.
            with contextlib.suppress(self.scheduler.exceptions.ResourceNotFoundException):
                self.scheduler.delete_schedule(Name=name, GroupName=group)
        if not change.reminders_to_put:
            return
        if not (self.settings.reminder_target_arn and self.settings.reminder_role_arn):
            raise RuntimeError("REMINDER_TARGET_ARN and REMINDER_ROLE_ARN are required to schedule reminders")
        for name, when in change.reminders_to_put.items():
            at = datetime.fromisoformat(when).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
            tenant, user = change.event_detail["tenant_id"], change.event_detail["user_id"]
            schedule = {
                "Name": name, "GroupName": group, "ScheduleExpression": f"at({at})",
                "ScheduleExpressionTimezone": "UTC", "FlexibleTimeWindow": {"Mode": "OFF"},
                "ActionAfterCompletion": "DELETE",
                "Target": {"Arn": self.settings.reminder_target_arn, "RoleArn": self.settings.reminder_role_arn,
                           "Input": json.dumps({"tenant_id": tenant, "user_id": user,
                                                "task_id": change.task_id, "reminder_at": when})},
            }
            try:
                self.scheduler.create_schedule(**schedule)
            except self.scheduler.exceptions.ConflictException:
                self.scheduler.update_schedule(**schedule)


def _image(record: DynamoDBRecord, which: str) -> dict[str, Any] | None:
    from crewhouse.core.dynamo import stream_image

    return stream_image(record.raw_event, which)


def on_table_changes(event: dict[str, Any], context: Any, *, effects: Effects | None = None) -> dict[str, Any]:
    settings = load_settings(TasksSettings)
    applied = effects or AwsEffects(settings)
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

    def handle(record: DynamoDBRecord) -> None:
        old, new = _image(record, "OldImage"), _image(record, "NewImage")
        current = new or old
        if not current or not str(current.get("SK", "")).startswith("TASK#"):
            return  # templates are not synced, searched or scheduled
        created = (record.raw_event.get("dynamodb") or {}).get("ApproximateCreationDateTime")
        epoch_ms = int(float(created) * 1000) if created else int(datetime.now(UTC).timestamp() * 1000)
        applied.apply(task_change(old, new, datetime.now(UTC)), epoch_ms, record.event_id or "")

    return dict(process_partial_response(event=event, record_handler=handle, processor=processor, context=context))


@logger.inject_lambda_context(clear_state=True)
def reminder_due(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A reminder schedule fired: tell the bus, unless the task is gone or finished meanwhile."""
    from crewhouse.core.table import Table
    from crewhouse.tasks.store import DynamoTaskStore

    settings = load_settings(TasksSettings)
    store = DynamoTaskStore(Table(aws_client("dynamodb", settings), settings.tasks_table))
    task = store.task(keys.owner_pk(event["tenant_id"], event["user_id"]), event["task_id"])
    if task is None or task.get("status") not in ("todo", "in_progress"):
        logger.info("reminder skipped", extra={"task_id": event["task_id"]})
        return {"delivered": False}
    detail = {"tenant_id": event["tenant_id"], "user_id": event["user_id"], "task_id": task["id"],
              "title": task["title"], "due": task.get("due"), "reminder_at": event.get("reminder_at")}
    aws_client("events", settings).put_events(Entries=[{
        "Source": EVENT_SOURCE, "DetailType": "task.reminder.due", "Detail": json.dumps(detail),
        "EventBusName": settings.event_bus_name}])
    return {"delivered": True}
