"""The bus's SQS and SNS: the only module that calls them.

- an external agent's inbox is a standard queue ``<prefix>-<agent id>`` (SSE) with its dead-letter queue
  ``<prefix>-<agent id>-dlq``: SQS moves a message there after ``max_deliveries`` receives;
- a tenant's topics are SNS topics ``<prefix>-<tenant hex>-broadcast`` and ``<prefix>-<tenant hex>-t-<topic>``,
  delivering raw (the envelope is the SQS body) to the subscribed queues; a queue's policy lets only its own
  tenant's topics send to it.

boto3 is not imported here: the clients are passed in, and errors are told apart by their code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from crewhouse.bus.messaging import Filter, iso, serialize
from crewhouse.bus.settings import BusSettings

Item = dict[str, Any]
DEAD_LETTER_RETENTION_SECONDS = 14 * 86_400  # SQS's maximum: an admin has two weeks to look and redrive
SQS_BATCH = 10
GONE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NotFound",
                        "NotFoundException"})
SYSTEM_ATTRIBUTES = ["ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp"]
# Topic ARNs share "arn:<partition>:sns:<region>:<account>:"; learnt once per container from a CreateTopic answer.
_sns_arn_bases: dict[str, str] = {}


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code") or "")


def _chunks(items: Sequence[str], size: int = SQS_BATCH) -> Iterable[tuple[int, Sequence[str]]]:
    for begin in range(0, len(items), size):
        yield begin, items[begin:begin + size]


def tenant_hex(tenant_id: str) -> str:
    return tenant_id.replace("-", "")


class Mailboxes:
    def __init__(self, sqs: Any, sns: Any, settings: BusSettings, *, peek_wait_seconds: int = 1) -> None:
        self._sqs = sqs
        self._sns = sns
        self._prefix = settings.bus_resource_prefix
        self._region = settings.aws_region
        # A short poll samples only some SQS servers and may miss messages; a 1 s long poll asks them all.
        self._peek_wait = peek_wait_seconds

    # --- names ----------------------------------------------------------------------------------------------

    def queue_name(self, agent_id: str) -> str:
        return f"{self._prefix}-{agent_id}"

    def broadcast_topic_name(self, tenant_id: str) -> str:
        return f"{self._prefix}-{tenant_hex(tenant_id)}-broadcast"

    def topic_name(self, tenant_id: str, topic: str) -> str:
        return f"{self._prefix}-{tenant_hex(tenant_id)}-t-{topic}"

    def _create_topic(self, name: str) -> str:
        """CreateTopic is idempotent: the topic's ARN, the topic made when missing."""
        arn = str(self._sns.create_topic(Name=name)["TopicArn"])
        _sns_arn_bases[self._region] = arn[:len(arn) - len(name)]
        return arn

    def _topic_arn(self, name: str, tenant_id: str) -> str:
        """A topic's ARN without a request, once the container knows the account (else one CreateTopic)."""
        base = _sns_arn_bases.get(self._region)
        if base is None:
            self._create_topic(self.broadcast_topic_name(tenant_id))
            base = _sns_arn_bases[self._region]
        return base + name

    def broadcast_topic_arn(self, tenant_id: str) -> str:
        return self._topic_arn(self.broadcast_topic_name(tenant_id), tenant_id)

    def topic_arn(self, tenant_id: str, topic: str) -> str:
        return self._topic_arn(self.topic_name(tenant_id, topic), tenant_id)

    def _queue_arn(self, queue_url: str) -> str:
        attributes = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        return str(attributes["QueueArn"])

    # --- an agent's inbox -----------------------------------------------------------------------------------

    def provision(self, tenant_id: str, agent_id: str, *, max_deliveries: int, visibility_timeout_seconds: int,
                  retention_seconds: int) -> dict[str, Any]:
        """The agent's DLQ and queue, and its subscription to the tenant's broadcast topic (safe to repeat)."""
        name = self.queue_name(agent_id)
        dlq_url = self._sqs.create_queue(QueueName=f"{name}-dlq", Attributes={
            "SqsManagedSseEnabled": "true", "MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_SECONDS)})["QueueUrl"]
        dlq_arn = self._queue_arn(dlq_url)
        arn_head = dlq_arn.rsplit(":", 1)[0]  # arn:<partition>:sqs:<region>:<account>
        queue_arn = f"{arn_head}:{name}"
        _, partition, _, region, account = arn_head.split(":")
        tenant_topics = f"arn:{partition}:sns:{region}:{account}:{self._prefix}-{tenant_hex(tenant_id)}-*"
        queue_url = self._sqs.create_queue(QueueName=name, Attributes={
            "SqsManagedSseEnabled": "true",
            "MessageRetentionPeriod": str(retention_seconds),
            "VisibilityTimeout": str(visibility_timeout_seconds),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_deliveries}),
            "Policy": json.dumps(_queue_policy(queue_arn, tenant_topics)),
        })["QueueUrl"]
        # Only this inbox may dead-letter into its DLQ.
        self._sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"RedriveAllowPolicy": json.dumps(
            {"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn]})})
        topic_arn = self._create_topic(self.broadcast_topic_name(tenant_id))
        subscription_arn = self._sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"},
            ReturnSubscriptionArn=True)["SubscriptionArn"]
        return {"queue_url": queue_url, "dead_letter_queue_url": dlq_url,
                "broadcast_subscription_arn": subscription_arn}

    def deprovision(self, record: Mapping[str, Any]) -> None:
        """Unsubscribe the broadcast and every topic subscription given, delete the queue and its DLQ; what is
        already gone is skipped, so a half-done registration or unregistration can be repeated."""
        arns = [record.get("broadcast_subscription_arn"), *(record.get("subscription_arns") or [])]
        for arn in arns:
            if arn:
                self.unsubscribe(str(arn))
        for url in (record.get("queue_url"), record.get("dead_letter_queue_url")):
            if url:
                self._tolerate_gone(lambda u=url: self._sqs.delete_queue(QueueUrl=u))

    def _tolerate_gone(self, call: Any) -> None:
        try:
            call()
        except Exception as exc:
            if _error_code(exc) not in GONE_CODES:
                raise

    # --- sending --------------------------------------------------------------------------------------------

    def send(self, queue_url: str, envelope: Mapping[str, Any]) -> str:
        return str(self._sqs.send_message(QueueUrl=queue_url, MessageBody=serialize(envelope))["MessageId"])

    def publish(self, topic_arn: str, envelope: Mapping[str, Any]) -> bool:
        """Publish with the envelope's attributes as SNS message attributes (what filter policies match); False
        when the topic does not exist, that is when nobody ever subscribed to it."""
        attributes = {name: {"DataType": "String", "StringValue": value}
                      for name, value in (envelope.get("attributes") or {}).items()}
        try:
            self._sns.publish(TopicArn=topic_arn, Message=serialize(envelope), MessageAttributes=attributes)
        except Exception as exc:
            if _error_code(exc) in GONE_CODES:
                return False
            raise
        return True

    # --- topic subscriptions --------------------------------------------------------------------------------

    def subscribe(self, tenant_id: str, topic: str, queue_url: str, filter: Filter) -> str:
        topic_arn = self._create_topic(self.topic_name(tenant_id, topic))
        attributes = {"RawMessageDelivery": "true"}
        if filter:
            attributes["FilterPolicy"] = json.dumps(dict(filter))
        return str(self._sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=self._queue_arn(queue_url),
                                       Attributes=attributes, ReturnSubscriptionArn=True)["SubscriptionArn"])

    def set_filter(self, subscription_arn: str, filter: Filter) -> None:
        """Replace the filter; ``{}`` is SNS's way of removing it (every message then matches)."""
        self._sns.set_subscription_attributes(SubscriptionArn=subscription_arn, AttributeName="FilterPolicy",
                                              AttributeValue=json.dumps(dict(filter)))

    def unsubscribe(self, subscription_arn: str) -> None:
        self._tolerate_gone(lambda: self._sns.unsubscribe(SubscriptionArn=subscription_arn))

    # --- receiving ------------------------------------------------------------------------------------------

    def _receive_raw(self, queue_url: str, *, wait_seconds: int, max_messages: int,
                     visibility_timeout: int | None, with_attributes: bool = False) -> list[Item]:
        request: Item = {"QueueUrl": queue_url, "MaxNumberOfMessages": max(1, min(max_messages, SQS_BATCH)),
                         "WaitTimeSeconds": wait_seconds, "MessageSystemAttributeNames": SYSTEM_ATTRIBUTES}
        if visibility_timeout is not None:
            request["VisibilityTimeout"] = visibility_timeout
        if with_attributes:
            request["MessageAttributeNames"] = ["All"]
        return list(self._sqs.receive_message(**request).get("Messages") or [])

    def receive(self, queue_url: str, *, wait_seconds: int, max_messages: int,
                visibility_timeout: int | None = None) -> list[Item]:
        """Up to ``max_messages`` (≤ 10) envelopes, each with its ``receipt``, ``delivery_count`` (this one
        included) and ``first_received_at``; a long poll of ``wait_seconds`` (≤ 20) when the inbox is empty."""
        raw = self._receive_raw(queue_url, wait_seconds=wait_seconds, max_messages=max_messages,
                                visibility_timeout=visibility_timeout)
        return [{**received(message), "receipt": message["ReceiptHandle"]} for message in raw]

    def ack(self, queue_url: str, receipts: Sequence[str]) -> list[Item]:
        """Delete the messages (10 a request); the receipts that failed, with SQS's reason."""
        failed: list[Item] = []
        for begin, chunk in _chunks(receipts):
            response = self._sqs.delete_message_batch(
                QueueUrl=queue_url, Entries=[{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(chunk)])
            failed += _failures(response, receipts, begin)
        return failed

    def nack(self, queue_url: str, receipts: Sequence[str], delay_seconds: int) -> list[Item]:
        """Make the messages visible again after ``delay_seconds`` (0: at once); the receipts that failed."""
        failed: list[Item] = []
        for begin, chunk in _chunks(receipts):
            response = self._sqs.change_message_visibility_batch(
                QueueUrl=queue_url, Entries=[{"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": delay_seconds}
                                             for i, r in enumerate(chunk)])
            failed += _failures(response, receipts, begin)
        return failed

    # --- dead letters ---------------------------------------------------------------------------------------

    def dead_letters(self, dlq_url: str, max_messages: int) -> list[Item]:
        """A look at up to 10 dead letters that takes none of them: VisibilityTimeout=0 leaves each visible at
        once, so a peek neither hides messages from a redrive nor from the next peek (the DLQ has no redrive
        policy, so the receive counts this adds move nothing)."""
        raw = self._receive_raw(dlq_url, wait_seconds=self._peek_wait, max_messages=max_messages,
                                visibility_timeout=0)
        return [received(message) for message in raw]

    def redrive(self, dlq_url: str, queue_url: str, limit: int) -> int:
        """Move up to ``limit`` dead letters back to the inbox (receive, send, then delete what was sent), so
        the count is known when the call returns; how many moved."""
        moved = 0
        while moved < limit:
            # Hidden for a minute while in hand: a failed send leaves the message to come back in the DLQ.
            batch = self._receive_raw(dlq_url, wait_seconds=self._peek_wait, max_messages=limit - moved,
                                      visibility_timeout=60, with_attributes=True)
            if not batch:
                break
            sent = self._sqs.send_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "MessageBody": m["Body"], **_message_attributes(m)} for i, m in enumerate(batch)])
            done = [batch[int(entry["Id"])] for entry in sent.get("Successful") or []]
            if done:
                self._sqs.delete_message_batch(QueueUrl=dlq_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
            moved += len(done)
            if len(done) < len(batch):
                break  # the inbox refused some: stop rather than loop on them
        return moved

    def approximate_depth(self, queue_url: str) -> int:
        attributes = self._sqs.get_queue_attributes(QueueUrl=queue_url,
                                                    AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages") or 0)


def _queue_policy(queue_arn: str, tenant_topics: str) -> dict[str, Any]:
    """SNS may deliver into the inbox only from this tenant's topics; nothing reaches it without TLS."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "TenantTopicsOnly", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
         "Action": "sqs:SendMessage", "Resource": queue_arn,
         "Condition": {"ArnLike": {"aws:SourceArn": tenant_topics}}},
        {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": queue_arn,
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ]}


def received(message: Mapping[str, Any]) -> Item:
    """The envelope of an SQS message, with how often it was delivered and when first."""
    try:
        envelope = json.loads(message["Body"])
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict):  # not written by the bus: hand it on as it is
        envelope = {"id": message["MessageId"], "kind": "unknown", "payload": message["Body"]}
    attributes = message.get("Attributes") or {}
    first_ms = attributes.get("ApproximateFirstReceiveTimestamp")
    return {**envelope, "delivery_count": int(attributes.get("ApproximateReceiveCount") or 1),
            "first_received_at": iso(datetime.fromtimestamp(int(first_ms) / 1000, UTC)) if first_ms else None}


def _message_attributes(message: Mapping[str, Any]) -> Item:
    """A received message's attributes as SendMessage takes them."""
    kept = {name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
            for name, value in (message.get("MessageAttributes") or {}).items()}
    return {"MessageAttributes": kept} if kept else {}


def _failures(response: Mapping[str, Any], receipts: Sequence[str], begin: int) -> list[Item]:
    return [{"receipt": receipts[begin + int(entry["Id"])], "code": entry.get("Code"),
             "detail": entry.get("Message")} for entry in response.get("Failed") or []]
