"""Deliver SQS messages to Lambda the way Lambda's own SQS poller does, against the local moto server.

Covers: moto fires SQS event source mappings synchronously inside ``SendMessage`` (``Queue.add_message`` in
``moto/sqs/models.py`` walks ``self.lambda_event_source_mappings``). That path runs on the sender's request,
invokes the function once per *message* (``BatchSize`` never shapes a batch), ignores ``batchItemFailures``,
makes failed messages visible again at once and retries (or dead-letters) them only when some later message
happens to be sent, and keeps firing after the mapping is deleted, because the queue holds its own copy.

:func:`disable_synchronous_mappings` switches that path off; :class:`SqsEventSourcePoller` replaces it with
real poller semantics, driven entirely through the public APIs on the endpoint:

* per enabled SQS mapping: ``ReceiveMessage`` (up to ``min(BatchSize, 10)``, no long polling; the queue's own
  visibility timeout applies), one ``Invoke`` (``RequestResponse``) with Lambda's SQS event shape;
* function error: nothing is deleted, the messages come back after the visibility timeout;
* success: everything is deleted, except -- with ``FunctionResponseTypes: [ReportBatchItemFailures]`` -- the
  ``batchItemFailures[].itemIdentifier`` messages (an invalid response fails the whole batch, as on AWS);
* dead-lettering is left to moto, which moves a message to the ``RedrivePolicy`` target on the receive after
  its ``maxReceiveCount``-th one.

Not modelled: ``MaximumBatchingWindowInSeconds`` (so batches never exceed 10), ``ScalingConfig``,
``FilterCriteria`` and FIFO's "stop at the first failed message of a group".
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from crewhouse.local.polling import EventSourcePoller, Wakeups, hide_synchronous_mappings

log = logging.getLogger(__name__)

_MAX_RECEIVE = 10  # SQS's ReceiveMessage limit
_LAMBDA_MAX_TIMEOUT = 900.0  # seconds; bounds how long one slow function can hold a worker
MESSAGES_SENT = Wakeups()  # notified by moto's queues as they take in a message


def disable_synchronous_mappings() -> None:
    """Stop moto from invoking SQS event source mappings inside ``SendMessage`` (idempotent).

    Only the queue's private copy is hidden: the Lambda backend still stores the mapping, so
    Create/Get/List/Update/DeleteEventSourceMapping keep working and this poller reads them from there.
    """
    from moto.sqs.models import Queue

    hide_synchronous_mappings(Queue, "SQS mappings are delivered by the poller as Lambda's does (batches, "
                                     "batchItemFailures, visibility timeout retries); moto invokes once per message "
                                     "inside SendMessage, even after the mapping is deleted")
    MESSAGES_SENT.notify_after(Queue, "add_message", reason="wakes the SQS pollers as a message arrives (they back off "
                                                            "while idle)")


@dataclass(frozen=True)
class _SqsMapping:
    uuid: str
    function_arn: str
    queue_arn: str
    batch_size: int
    report_item_failures: bool


def _lambda_message_attribute(attribute: Mapping[str, Any]) -> dict[str, Any]:
    """boto3's ``{"StringValue", "BinaryValue": bytes, ...}`` -> Lambda's camelCase, base64 binary shape."""
    shaped: dict[str, Any] = {}
    if "StringValue" in attribute:
        shaped["stringValue"] = attribute["StringValue"]
    if "BinaryValue" in attribute:
        shaped["binaryValue"] = base64.b64encode(attribute["BinaryValue"]).decode("ascii")
    shaped["stringListValues"] = list(attribute.get("StringListValues", []))
    shaped["binaryListValues"] = [base64.b64encode(v).decode("ascii") for v in attribute.get("BinaryListValues", [])]
    shaped["dataType"] = attribute["DataType"]
    return shaped


def sqs_event_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """One ``Records[]`` entry of the event Lambda sends for an SQS message (as returned by boto3)."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_item_ids(payload: bytes, batch_ids: set[str]) -> set[str]:
    """The messageIds a ``ReportBatchItemFailures`` response keeps on the queue.

    Follows AWS: a null/empty response or a null/empty ``batchItemFailures`` is full success; anything
    unparseable, or an ``itemIdentifier`` that is missing, empty or not in the batch, fails the whole batch.
    """
    if not payload.strip():
        return set()
    try:
        response = json.loads(payload)
    except ValueError:
        return set(batch_ids)
    if response is None:
        return set()
    if not isinstance(response, dict):
        return set(batch_ids)
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(batch_ids)
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in batch_ids:
            return set(batch_ids)
        failed.add(identifier)
    return failed


class SqsEventSourcePoller(EventSourcePoller):
    """Polls every enabled SQS event source mapping on ``endpoint_url`` and invokes its function.

    Batches run on a bounded thread pool, one in flight per mapping, so a slow function delays only its own
    queue. Constructing a poller disables moto's synchronous delivery, which would otherwise deliver every
    message a second time.
    """

    def __init__(self, endpoint_url: str, region: str = "us-east-1", interval: float = 0.05,
                 max_concurrency: int = 8) -> None:
        disable_synchronous_mappings()
        self.region = region
        session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=region)
        # One attempt for polling calls (the next round is the retry) and for Invoke (a retry would redeliver);
        # a few for DeleteMessageBatch, where giving up means a duplicate delivery.
        once = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=10)
        self._lambda = session.client("lambda", endpoint_url=endpoint_url, config=once)
        self._invoker = session.client("lambda", endpoint_url=endpoint_url, config=once.merge(
            Config(read_timeout=_LAMBDA_MAX_TIMEOUT)))
        self._sqs = session.client("sqs", endpoint_url=endpoint_url, config=once)
        self._sqs_delete = session.client("sqs", endpoint_url=endpoint_url, config=Config(
            retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=2, read_timeout=10))
        self._queue_urls: dict[str, str] = {}
        super().__init__("sqs", endpoint_url, interval=interval, max_concurrency=max_concurrency,
                         wakeups=MESSAGES_SENT, longest_batch_seconds=_LAMBDA_MAX_TIMEOUT)

    def _list_mappings(self) -> list[_SqsMapping]:
        return list(self._sqs_mappings())

    def _hand_out(self, listed: list[_SqsMapping] | None) -> None:
        for mapping in listed or []:
            self._batches.submit(mapping.uuid, self._deliver, mapping)

    def _sqs_mappings(self) -> Iterator[_SqsMapping]:
        for page in self._lambda.get_paginator("list_event_source_mappings").paginate():
            for raw in page.get("EventSourceMappings", []):
                source = raw.get("EventSourceArn", "")
                if source.split(":")[2:3] != ["sqs"] or raw.get("State") != "Enabled":
                    continue
                yield _SqsMapping(
                    uuid=raw["UUID"],
                    function_arn=raw["FunctionArn"],
                    queue_arn=source,
                    batch_size=int(raw.get("BatchSize") or _MAX_RECEIVE),
                    report_item_failures="ReportBatchItemFailures" in (raw.get("FunctionResponseTypes") or []),
                )

    def _queue_url(self, queue_arn: str) -> str:
        url = self._queue_urls.get(queue_arn)
        if url is None:
            _, _, _, _, account, name = queue_arn.split(":", 5)
            url = self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            self._queue_urls[queue_arn] = url
        return url

    def _deliver(self, mapping: _SqsMapping) -> int:
        """Receive one batch, invoke the function, delete what succeeded; returns the batch size."""
        try:
            queue_url = self._queue_url(mapping.queue_arn)
            messages: list[dict[str, Any]] = self._sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=max(1, min(mapping.batch_size, _MAX_RECEIVE)),
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        except (BotoCoreError, ClientError) as exc:
            self._queue_urls.pop(mapping.queue_arn, None)  # the queue may have been deleted and recreated
            log.warning("Could not receive from %s for mapping %s: %s", mapping.queue_arn, mapping.uuid, exc)
            return 0
        if not messages:
            return 0
        try:
            to_delete = self._invoke(mapping, messages)
            if to_delete:
                self._delete(queue_url, to_delete)
        except (BotoCoreError, ClientError) as exc:
            log.warning("Delivering %d message(s) from %s to %s failed: %s",
                        len(messages), mapping.queue_arn, mapping.function_arn, exc)
        return len(messages)

    def _invoke(self, mapping: _SqsMapping, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Invoke the function with the batch; returns the messages to delete."""
        event = {"Records": [sqs_event_record(message, mapping.queue_arn) for message in messages]}
        response = self._invoker.invoke(FunctionName=mapping.function_arn, InvocationType="RequestResponse",
                                        Payload=json.dumps(event).encode("utf-8"))
        payload: bytes = response["Payload"].read()
        if response.get("FunctionError"):
            log.warning("%s failed on %d message(s) from %s (left for retry): %s", mapping.function_arn,
                        len(messages), mapping.queue_arn, payload[:500].decode("utf-8", "replace"))
            return []
        if not mapping.report_item_failures:
            return messages
        failed = failed_item_ids(payload, {message["MessageId"] for message in messages})
        if failed:
            log.info("%s reported %d of %d message(s) as failed", mapping.function_arn, len(failed), len(messages))
        return [message for message in messages if message["MessageId"] not in failed]

    def _delete(self, queue_url: str, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), _MAX_RECEIVE):
            chunk = messages[start:start + _MAX_RECEIVE]
            response = self._sqs_delete.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(chunk)
            ])
            for failure in response.get("Failed", []):
                log.warning("Could not delete message from %s: %s", queue_url, failure)
