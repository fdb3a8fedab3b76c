"""Background handlers of the files context.

- ``on_object_created``: S3 → EventBridge "Object Created" (``uploads/`` only): checks the bytes (size, SHA-256,
  MIME type sniffed from the bytes), settles the quota, makes the thumbnail and runs OCR.
- ``on_scan_result``: GuardDuty Malware Protection "Object Scan Result": clean, infected or unscannable.
- ``on_target_deleted``: ``task.deleted`` / ``note.deleted`` on the crewhouse bus: unlink, and delete files
  that are then attached to nothing.
- ``on_table_changes``: the files table's stream: keeps the shared search index (kind ``file``: file name
  and OCR text) in step with the files.
- ``retention_sweep``: EventBridge Scheduler, daily: the tenants' file-retention policies (below).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from crewhouse.core.aws import aws_client
from crewhouse.core.observability import logger
from crewhouse.core.settings import load_settings
from crewhouse.files.settings import FilesSettings

SEARCH_WEIGHTS = {"filename": 3.0, "text": 1.0}
TARGET_EVENTS = {"task.deleted": ("task", "task_id"), "note.deleted": ("note", "note_id")}


def _service(settings: FilesSettings) -> Any:
    from crewhouse.files.wiring import service_for

    return service_for(settings)


def _ocr(settings: FilesSettings) -> Any:
    from crewhouse.files.ocr import provider_for

    textract = aws_client("textract", settings) if settings.ocr_provider == "textract" else None
    return provider_for(settings.ocr_provider, textract)


@logger.inject_lambda_context(clear_state=True)
def on_object_created(event: dict[str, Any], context: Any, *, service: Any = None, ocr: Any = None) -> dict[str, Any]:
    settings = load_settings(FilesSettings)
    detail = event.get("detail") or {}
    bucket, found = (detail.get("bucket") or {}).get("name"), detail.get("object") or {}
    if bucket != settings.files_bucket:
        return {"result": "ignored"}
    result = (service or _service(settings)).process_upload(found["key"], found.get("version-id"),
                                                           ocr or _ocr(settings))
    logger.info("upload checked", extra={"key": found["key"], "result": result})
    return {"result": result}


@logger.inject_lambda_context(clear_state=True)
def on_scan_result(event: dict[str, Any], context: Any, *, service: Any = None) -> dict[str, Any]:
    settings = load_settings(FilesSettings)
    detail = event.get("detail") or {}
    found = detail.get("s3ObjectDetails") or {}
    if found.get("bucketName") != settings.files_bucket:
        return {"result": "ignored"}
    scan = detail.get("scanResultDetails") or {}
    threats = [str(t.get("name", "unknown")) for t in scan.get("threats") or []]
    result = (service or _service(settings)).apply_scan_result(
        found["objectKey"], found.get("versionId"), str(scan.get("scanResultStatus", "FAILED")), threats)
    logger.info("malware scan recorded", extra={"key": found["objectKey"], "result": result})
    return {"result": result}


@logger.inject_lambda_context(clear_state=True)
def on_target_deleted(event: dict[str, Any], context: Any, *, service: Any = None) -> dict[str, Any]:
    settings = load_settings(FilesSettings)
    kind, id_field = TARGET_EVENTS.get(str(event.get("detail-type")), (None, None))
    detail = event.get("detail") or {}
    if kind is None or not detail.get(id_field or ""):
        return {"deleted": []}
    deleted = (service or _service(settings)).target_deleted(detail["tenant_id"], detail["user_id"], kind,
                                                             detail[id_field])
    logger.info("attachments released", extra={"kind": kind, "target_id": detail[id_field], "deleted": deleted})
    return {"deleted": deleted}


def searchable_text(item: dict[str, Any] | None) -> dict[str, str] | None:
    if not item or item.get("status") != "available":
        return None  # only files one can open are found
    return {"filename": str(item.get("filename", "")), "text": str(item.get("ocr_text") or "")}


def on_table_changes(event: dict[str, Any], context: Any, *, index: Any = None) -> dict[str, Any]:
    from crewhouse.core.dynamo import stream_image

    settings = load_settings(FilesSettings)
    if index is None:
        from crewhouse.search.index import DynamoSearchIndex

        index = DynamoSearchIndex(aws_client("dynamodb", settings), settings.search_table)
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

    def image(record: DynamoDBRecord, which: str) -> dict[str, Any] | None:
        return stream_image(record.raw_event, which)

    def handle(record: DynamoDBRecord) -> None:
        old, new = image(record, "OldImage"), image(record, "NewImage")
        current = new or old
        if not current or not str(current.get("SK", "")).startswith("FILE#"):
            return
        before, after = searchable_text(old), searchable_text(new)
        if before != after:
            index.replace_document(current["PK"], "file", current["id"], before, after, SEARCH_WEIGHTS)

    return dict(process_partial_response(event=event, record_handler=handle, processor=processor, context=context))


@logger.inject_lambda_context(clear_state=True)
def retention_sweep(event: dict[str, Any], context: Any, *, retention: Any = None) -> dict[str, Any]:
    """Delete the files each tenant's retention policy says are due, and warn owners a week before
    (``file.retention.warning`` on the crewhouse bus, one event per user per sweep). The schedule's input is
    ``{}`` (every enabled tenant); ``{"tenant_id": …}`` sweeps one tenant (by hand, or in tests).

    AWS requests a sweep makes (page sizes: ``crewhouse.files.store``):

    - once: 1 Query of GSI1 per 1 MB of enabled policies (thousands of tenants);
    - per tenant: 1 Query of GSI2 per 100 due files (at least 1) and 1 per ~1 MB of files in the warning
      window (at least 1): 2 Queries for a tenant with nothing to do;
    - per deleted file: 1 UpdateItem (the claim, conditional on ``last_opened_at``, returns the item), 1 S3
      DeleteObject (+1 for a thumbnail, +1 AbortMultipartUpload for an unfinished multipart upload), 1
      TransactWriteItems (the item and the owner's quota counters); per task or note it is attached to, 1
      GetItem of that task or note and 1 TransactWriteItems (the link and the target's list);
      so 3 requests for a plain file, 4 for an image with a thumbnail;
    - per user warned: 1/10 PutEvents (10 entries a request); per file warned: 1 conditional UpdateItem
      (``warned_for``), once per file per warning window.

    Deleting is safe to interrupt and to repeat (see ``Retention.sweep``); it stops a minute before the
    function's timeout (between pages of 100 files), and the next day's sweep takes up what is still due.
    """
    from crewhouse.files.wiring import retention_for

    settings = load_settings(FilesSettings)
    retention = retention or retention_for(settings, with_events=True)
    tenant_id = event.get("tenant_id") if isinstance(event, dict) else None

    def remaining() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000 if context is not None else 1e9

    margin = min(60.0, remaining() / 4)  # a minute of a 15-minute function: the last page's deletes finish

    def time_left() -> float:
        return remaining() - margin

    report = retention.sweep(tenant_id=str(tenant_id) if tenant_id else None, time_left=time_left)
    result = {"tenants": report.tenants, "deleted": report.deleted, "skipped": report.skipped,
              "warned_users": report.warned_users, "warned_files": report.warned_files, "complete": report.complete}
    logger.info("retention sweep", extra={**result, "deleted": len(report.deleted), "skipped": len(report.skipped)})
    return result
