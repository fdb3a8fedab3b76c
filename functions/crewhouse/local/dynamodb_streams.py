"""Deliver DynamoDB stream records to Lambda the way Lambda's own stream poller does, against the local moto server.

Covers: moto fires DynamoDB stream event source mappings synchronously inside the write (``StreamShard.add`` in
``moto/dynamodb/models/table.py`` walks ``Table.lambda_event_source_mappings`` and calls
``send_dynamodb_items``). That path runs on the writer's request, resends *every* buffered record on each write,
then empties the buffer whether or not the function failed (the invoke result is always truthy), ignores
``BatchSize``, ``StartingPosition``, ``ReportBatchItemFailures``, ``MaximumRetryAttempts`` and on-failure
destinations, and never retries.

:func:`disable_synchronous_mappings` switches that path off (records then simply accumulate in the shard, where
``dynamodbstreams`` ``GetRecords`` reads them); :class:`DynamoDbStreamPoller` replaces it with real poller
semantics, driven through the public APIs on the endpoint:

* per enabled DynamoDB stream mapping and shard: a checkpoint (last handled ``SequenceNumber``) that starts at
  ``StartingPosition`` -- ``TRIM_HORIZON`` from the oldest record, ``LATEST`` after the records present when the
  poller first sees the mapping (shards found later start at their oldest record, as child shards do on AWS);
* one batch in flight per shard, ``GetRecords`` with ``Limit = min(BatchSize, 1000)``, one ``Invoke``
  (``RequestResponse``) with Lambda's DynamoDB event shape, strictly in sequence order;
* success: the checkpoint moves past the batch; with ``FunctionResponseTypes: [ReportBatchItemFailures]`` it
  moves to just before the lowest reported ``itemIdentifier`` and the rest is retried (an invalid response
  fails the whole batch, as on AWS);
* function error: the same batch is retried on the next round, and nothing behind it is delivered meanwhile;
  after ``MaximumRetryAttempts`` retries (-1 or unset: :data:`UNSET_RETRY_ATTEMPTS`, standing in for AWS's
  "until the record expires") an on-failure record goes to ``DestinationConfig.OnFailure`` (SQS or SNS) and
  the batch is skipped.

Not modelled: ``BisectBatchOnFunctionError``, ``MaximumRecordAgeInSeconds``, ``MaximumBatchingWindowInSeconds``,
``ParallelizationFactor``, ``TumblingWindowInSeconds``, ``FilterCriteria``, parent-before-child shard ordering
(moto has one shard per stream) and S3 on-failure destinations.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from crewhouse.local import patches
from crewhouse.local.polling import EventSourcePoller, TimedCache, Wakeups, hide_synchronous_mappings
from crewhouse.local.sqs_poller import failed_item_ids

log = logging.getLogger(__name__)

_ITERATORS_ATTRIBUTE = "shard_iterators"
_MAX_GET_RECORDS = 1000  # what we ask GetRecords for at most (the API allows 1000; BatchSize goes to 10000)
_MAX_LIVE_ITERATORS = 10_000  # per moto backend; see _BoundedShardIterators
_LAMBDA_MAX_TIMEOUT = 900.0  # seconds; bounds how long one slow function can hold a worker
SHARD_CACHE_SECONDS = 1.0
RECORDS_WRITTEN = Wakeups()  # notified by moto's stream shards as they take in a record
UNSET_RETRY_ATTEMPTS = 10_000  # MaximumRetryAttempts -1/unset: AWS retries until the record expires (24 h)


class _BoundedShardIterators(OrderedDict[str, Any]):
    """moto's ``DynamoDBStreamsBackend.shard_iterators``, keeping only the newest :data:`_MAX_LIVE_ITERATORS`.

    moto stores every iterator it hands out (GetShardIterator *and* each GetRecords' ``NextShardIterator``)
    forever, ~1.6 kB each: polling at 20 Hz would leak ~100 MB an hour per mapping. An evicted iterator answers
    ``ExpiredIteratorException`` -- what AWS says after 15 minutes -- instead of moto's ``KeyError`` (HTTP 500).
    """

    def __init__(self, *args: Any) -> None:
        self._lock = threading.Lock()  # before super().__init__, which stores the initial items through us
        super().__init__(*args)

    def __setitem__(self, key: str, value: Any) -> None:
        with self._lock:
            super().__setitem__(key, value)
            while len(self) > _MAX_LIVE_ITERATORS:
                self.popitem(last=False)

    def __missing__(self, key: str) -> Any:
        from moto.core.exceptions import JsonRESTError

        raise JsonRESTError("ExpiredIteratorException", "Iterator expired or unknown")


class _BoundedIteratorsAttribute:
    """Class-level data descriptor giving each streams backend a :class:`_BoundedShardIterators`."""

    _slot = "_crewhouse_shard_iterators"

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        state = instance.__dict__
        registry = state.get(self._slot)
        if registry is None:  # a backend built before the patch: adopt what it already holds
            registry = state[self._slot] = _BoundedShardIterators(state.pop(_ITERATORS_ATTRIBUTE, {}))
        return registry

    def __set__(self, instance: object, value: Any) -> None:
        instance.__dict__[self._slot] = _BoundedShardIterators(value)


_BOUNDED_ITERATORS = _BoundedIteratorsAttribute()


def disable_synchronous_mappings() -> None:
    """Stop moto from invoking DynamoDB stream mappings inside writes, and bound its iterator store (idempotent).

    ``StreamShard.add`` then finds no mapping to invoke and, its result staying ``None``, keeps the records.
    Only the table's private copy of the mapping is hidden: the Lambda backend still stores it, so
    Create/Get/List/Update/DeleteEventSourceMapping keep working and this poller reads mappings from there.
    Kinesis and SQS mappings live on other classes and are untouched.
    """
    from moto.dynamodb.models.table import StreamShard, Table
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    hide_synchronous_mappings(Table, "stream mappings are delivered by the poller as Lambda's does (batches, "
                                     "checkpoints, retries, on-failure destinations); moto resends every buffered "
                                     "record inside each write and never retries")
    RECORDS_WRITTEN.notify_after(StreamShard, "add", reason="wakes the stream pollers as a record is written (they "
                                                            "back off while idle)")
    patches.patch(DynamoDBStreamsBackend, _ITERATORS_ATTRIBUTE, _BOUNDED_ITERATORS, kind="accuracy",
                  expect="instance_attribute",
                  reason="keeps the newest shard iterators only, an evicted one answering ExpiredIteratorException "
                         "as AWS does (moto keeps every iterator forever and answers an unknown one with HTTP 500)")


@dataclass(frozen=True)
class _StreamMapping:
    uuid: str
    function_arn: str
    stream_arn: str
    batch_size: int
    starting_position: str
    report_item_failures: bool
    max_retry_attempts: int
    on_failure: str | None


@dataclass
class _ShardCheckpoint:
    """Where a mapping stands in one shard; only the mapping's single in-flight task touches it."""

    sequence_number: str | None = None  # last record handled; None: nothing handled yet
    iterator: str | None = None  # reusable iterator at the checkpoint (saves a GetShardIterator per round)
    starting_type: str = "TRIM_HORIZON"  # used while there is neither a sequence number nor an iterator
    attempts: int = 0  # invocations of the batch being retried
    retry_end: int | None = None  # last sequence number of that batch: retries never grow it


@dataclass
class _MappingState:
    shards: dict[str, _ShardCheckpoint] = field(default_factory=dict)  # by shard id
    started: bool = False  # StartingPosition applies to the shards seen the first time only
    problem: str | None = None  # the last warning about the stream itself, so it is not repeated every round


@dataclass(frozen=True)
class _Outcome:
    """How one invocation went: ``failed_from`` is the index of the first record to redeliver (None: none)."""

    failed_from: int | None
    status_code: int = 200
    executed_version: str = "$LATEST"
    function_error: str | None = None


def _attribute_json(value: Any) -> Any:
    """boto3's AttributeValue (``bytes`` for B/BS) -> the JSON form in Lambda events (base64 strings)."""
    if not isinstance(value, Mapping):
        return value
    shaped: dict[str, Any] = {}
    for kind, inner in value.items():
        if kind == "B":
            shaped[kind] = base64.b64encode(inner).decode("ascii")
        elif kind == "BS":
            shaped[kind] = [base64.b64encode(item).decode("ascii") for item in inner]
        elif kind == "M":
            shaped[kind] = {name: _attribute_json(item) for name, item in inner.items()}
        elif kind == "L":
            shaped[kind] = [_attribute_json(item) for item in inner]
        else:
            shaped[kind] = inner
    return shaped


def _epoch_seconds(moment: Any) -> Any:
    """Lambda sends ``ApproximateCreationDateTime`` as epoch seconds; boto3 hands us a datetime."""
    return int(moment.timestamp()) if isinstance(moment, datetime) else moment


def _iso(moment: Any) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(moment, datetime) else str(moment)


def dynamodb_event_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """One ``Records[]`` entry of the event Lambda sends for a stream record (as returned by boto3)."""
    stream = record["dynamodb"]
    shaped: dict[str, Any] = {"ApproximateCreationDateTime": _epoch_seconds(stream.get("ApproximateCreationDateTime"))}
    for image in ("Keys", "NewImage", "OldImage"):
        if image in stream:
            shaped[image] = {name: _attribute_json(value) for name, value in stream[image].items()}
    shaped.update(SequenceNumber=stream["SequenceNumber"], SizeBytes=stream.get("SizeBytes"),
                  StreamViewType=stream.get("StreamViewType"))
    event_record: dict[str, Any] = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": stream_arn.split(":")[3],
        "dynamodb": shaped,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:  # TTL deletions
        event_record["userIdentity"] = dict(record["userIdentity"])
    return event_record


_session_lock = threading.Lock()
_sessions: dict[str, boto3.session.Session] = {}


def _client(service: str, region: str, endpoint_url: str, config: Config) -> Any:
    """Clients share one session per region: a fresh session re-parses the service models (~0.5 s a poller)."""
    with _session_lock:  # sessions are not thread-safe; the clients they make are
        session = _sessions.get(region)
        if session is None:
            session = _sessions[region] = boto3.session.Session(
                aws_access_key_id="test", aws_secret_access_key="test", region_name=region)
        return session.client(service, endpoint_url=endpoint_url, config=config)


def _retry_attempts(raw: Any) -> int:
    if raw is None or int(raw) < 0:
        return UNSET_RETRY_ATTEMPTS
    return int(raw)


def _sequence(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


class DynamoDbStreamPoller(EventSourcePoller):
    """Polls every enabled DynamoDB stream event source mapping on ``endpoint_url`` and invokes its function.

    Use :meth:`start`/:meth:`stop` for a background daemon thread, or :meth:`poll_once` for deterministic
    tests. Each mapping runs as one task on a bounded thread pool (one batch per shard, shards in turn), so a
    slow or failing function delays only its own stream. Constructing a poller disables moto's synchronous
    delivery, which would otherwise deliver every record again on each write. Checkpoints live in this object:
    a new poller starts every mapping over from its ``StartingPosition``.
    """

    def __init__(self, endpoint_url: str, region: str = "us-east-1", interval: float = 0.05,
                 max_concurrency: int = 8) -> None:
        disable_synchronous_mappings()
        self.region = region
        # One attempt for polling calls (the next round is the retry) and for Invoke (a retry would redeliver);
        # a few for the on-failure destination, where giving up loses the record of a skipped batch.
        once = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=10)
        persistent = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=2, read_timeout=10)
        self._lambda = _client("lambda", region, endpoint_url, once)
        self._invoker = _client("lambda", region, endpoint_url, once.merge(Config(read_timeout=_LAMBDA_MAX_TIMEOUT)))
        self._streams = _client("dynamodbstreams", region, endpoint_url, once)
        self._sqs = _client("sqs", region, endpoint_url, persistent)
        self._sns = _client("sns", region, endpoint_url, persistent)
        self._lock = threading.Lock()  # guards the checkpoints
        self._states: dict[str, _MappingState] = {}
        self._shard_caches: dict[str, TimedCache] = {}
        super().__init__("ddb-stream", endpoint_url, interval=interval, max_concurrency=max_concurrency,
                         wakeups=RECORDS_WRITTEN, longest_batch_seconds=_LAMBDA_MAX_TIMEOUT)

    def _list_mappings(self) -> list[tuple[_StreamMapping, bool]]:
        return list(self._listed_mappings())

    def _hand_out(self, listed: list[tuple[_StreamMapping, bool]] | None) -> None:
        with self._lock:
            if listed is not None:
                # Deleted mappings lose their checkpoints; disabled ones keep them for when they are re-enabled.
                known = {mapping.uuid for mapping, _ in listed}
                for gone in self._states.keys() - known:
                    del self._states[gone]
            enabled = [(mapping, self._states.setdefault(mapping.uuid, _MappingState()))
                       for mapping, is_enabled in listed or [] if is_enabled]
        for mapping, state in enabled:
            self._batches.submit(mapping.uuid, self._deliver, mapping, state)

    def _listed_mappings(self) -> Iterator[tuple[_StreamMapping, bool]]:
        """Every DynamoDB stream mapping, with whether it is enabled."""
        for page in self._lambda.get_paginator("list_event_source_mappings").paginate():
            for raw in page.get("EventSourceMappings", []):
                source = raw.get("EventSourceArn", "")
                if source.split(":")[2:3] != ["dynamodb"] or "/stream/" not in source:
                    continue
                on_failure = ((raw.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
                yield _StreamMapping(
                    uuid=raw["UUID"],
                    function_arn=raw["FunctionArn"],
                    stream_arn=source,
                    batch_size=int(raw.get("BatchSize") or 100),
                    starting_position=str(raw.get("StartingPosition") or "TRIM_HORIZON"),
                    report_item_failures="ReportBatchItemFailures" in (raw.get("FunctionResponseTypes") or []),
                    max_retry_attempts=_retry_attempts(raw.get("MaximumRetryAttempts")),
                    on_failure=on_failure or None,
                ), raw.get("State") == "Enabled"

    def _deliver(self, mapping: _StreamMapping, state: _MappingState) -> int:
        """One batch per shard of the mapping's stream; returns the records handed to the function."""
        try:
            label, shard_ids = self._shards(mapping.stream_arn)
        except (BotoCoreError, ClientError) as exc:
            self._problem(state, f"Could not describe stream {mapping.stream_arn} for mapping {mapping.uuid}: {exc}")
            return 0
        if label != mapping.stream_arn.rsplit("/", 1)[-1]:
            # moto resolves stream ARNs by table name alone; on AWS this mapping's stream is gone, not replaced.
            self._problem(state, f"Stream {mapping.stream_arn} of mapping {mapping.uuid} no longer exists "
                                 f"(its table's stream is now {label}); nothing to deliver")
            return 0
        state.problem = None
        delivered = 0
        pinned_all = True
        for shard_id in shard_ids:
            checkpoint = state.shards.get(shard_id)
            if checkpoint is None:
                try:
                    checkpoint = self._new_checkpoint(mapping, shard_id, state.started)
                except (BotoCoreError, ClientError) as exc:
                    log.warning("Could not open %s shard %s for mapping %s: %s",
                                mapping.stream_arn, shard_id, mapping.uuid, exc)
                    pinned_all = False
                    continue
                state.shards[shard_id] = checkpoint
            delivered += self._deliver_shard(mapping, shard_id, checkpoint)
        state.started = state.started or pinned_all
        return delivered

    @staticmethod
    def _problem(state: _MappingState, message: str) -> None:
        """Warn once per lasting problem: a mapping left on a deleted table would otherwise log 20 times a second."""
        log.log(logging.DEBUG if message == state.problem else logging.WARNING, "%s", message)
        state.problem = message

    def _shards(self, stream_arn: str) -> tuple[str, list[str]]:
        """The stream's current label and its shard ids, described at most once a second per stream
        (shards change rarely; describing every stream on every 50 ms round would load the emulator)."""
        cache = self._shard_caches.get(stream_arn)
        if cache is None:
            cache = self._shard_caches[stream_arn] = TimedCache(SHARD_CACHE_SECONDS,
                                                                lambda: self._describe_shards(stream_arn))
        described: tuple[str, list[str]] = cache.get()
        return described

    def _describe_shards(self, stream_arn: str) -> tuple[str, list[str]]:
        shard_ids: list[str] = []
        start: dict[str, str] = {}
        while True:
            description = self._streams.describe_stream(StreamArn=stream_arn, **start)["StreamDescription"]
            shard_ids += [shard["ShardId"] for shard in description.get("Shards", [])]
            if not description.get("LastEvaluatedShardId"):
                return str(description.get("StreamLabel") or stream_arn.rsplit("/", 1)[-1]), shard_ids
            start = {"ExclusiveStartShardId": description["LastEvaluatedShardId"]}

    def _new_checkpoint(self, mapping: _StreamMapping, shard_id: str, started: bool) -> _ShardCheckpoint:
        """``LATEST`` pins an iterator now, so records written before the mapping was seen are never read."""
        if started or mapping.starting_position != "LATEST":
            return _ShardCheckpoint()
        iterator = self._streams.get_shard_iterator(StreamArn=mapping.stream_arn, ShardId=shard_id,
                                                    ShardIteratorType="LATEST")["ShardIterator"]
        return _ShardCheckpoint(iterator=iterator, starting_type="LATEST")

    def _read(self, mapping: _StreamMapping, shard_id: str, checkpoint: _ShardCheckpoint) -> list[dict[str, Any]]:
        """The next batch after the checkpoint (a retry re-reads the same one, never more)."""
        iterator = checkpoint.iterator
        if iterator is None:
            position: dict[str, str] = {"ShardIteratorType": checkpoint.starting_type}
            if checkpoint.sequence_number is not None:
                position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                            "SequenceNumber": checkpoint.sequence_number}
            iterator = self._streams.get_shard_iterator(StreamArn=mapping.stream_arn, ShardId=shard_id,
                                                        **position)["ShardIterator"]
        try:
            response = self._streams.get_records(ShardIterator=iterator,
                                                 Limit=max(1, min(mapping.batch_size, _MAX_GET_RECORDS)))
        except ClientError as exc:
            # Rebuild from the sequence number next round; a pinned LATEST iterator is dropped only once expired,
            # since pinning a new one skips whatever was written in between.
            expired = exc.response.get("Error", {}).get("Code") == "ExpiredIteratorException"
            if checkpoint.sequence_number is not None or expired:
                checkpoint.iterator = None
            raise
        records: list[dict[str, Any]] = response.get("Records", [])
        if checkpoint.retry_end is not None:
            records = [record for record in records if int(_sequence(record)) <= checkpoint.retry_end]
        # Reusable while the batch may be retried; once empty, the next iterator is the cheaper way forward.
        checkpoint.iterator = iterator if records else response.get("NextShardIterator") or iterator
        return records

    def _deliver_shard(self, mapping: _StreamMapping, shard_id: str, checkpoint: _ShardCheckpoint) -> int:
        try:
            records = self._read(mapping, shard_id, checkpoint)
        except (BotoCoreError, ClientError) as exc:
            log.warning("Could not read %s shard %s for mapping %s: %s",
                        mapping.stream_arn, shard_id, mapping.uuid, exc)
            return 0
        if not records:
            checkpoint.attempts, checkpoint.retry_end = 0, None
            return 0
        try:
            outcome = self._invoke(mapping, records)
        except (BotoCoreError, ClientError) as exc:  # the function never ran: retry without counting an attempt
            log.warning("Could not invoke %s with %d record(s) from %s: %s",
                        mapping.function_arn, len(records), mapping.stream_arn, exc)
            return 0
        if outcome.failed_from is None:
            self._advance(checkpoint, _sequence(records[-1]))
            return len(records)
        if outcome.failed_from > 0:  # the records before the first failure are done
            self._advance(checkpoint, _sequence(records[outcome.failed_from - 1]), keep_retry=True)
        remaining = records[outcome.failed_from:]
        checkpoint.attempts += 1
        checkpoint.retry_end = int(_sequence(records[-1]))
        if checkpoint.attempts > mapping.max_retry_attempts:
            self._give_up(mapping, shard_id, remaining, checkpoint.attempts, outcome)
            self._advance(checkpoint, _sequence(records[-1]))
        return len(records)

    @staticmethod
    def _advance(checkpoint: _ShardCheckpoint, sequence_number: str, keep_retry: bool = False) -> None:
        checkpoint.sequence_number = sequence_number
        checkpoint.iterator = None
        if not keep_retry:
            checkpoint.attempts, checkpoint.retry_end = 0, None

    def _invoke(self, mapping: _StreamMapping, records: list[dict[str, Any]]) -> _Outcome:
        event = {"Records": [dynamodb_event_record(record, mapping.stream_arn) for record in records]}
        response = self._invoker.invoke(FunctionName=mapping.function_arn, InvocationType="RequestResponse",
                                        Payload=json.dumps(event).encode("utf-8"))
        payload: bytes = response["Payload"].read()
        status = int(response.get("StatusCode") or 200)
        version = str(response.get("ExecutedVersion") or "$LATEST")
        if response.get("FunctionError"):
            log.warning("%s failed on %d record(s) from %s (batch will be retried): %s", mapping.function_arn,
                        len(records), mapping.stream_arn, payload[:500].decode("utf-8", "replace"))
            return _Outcome(0, status, version, str(response["FunctionError"]))
        if not mapping.report_item_failures:
            return _Outcome(None, status, version)
        sequence_numbers = [_sequence(record) for record in records]
        failed = failed_item_ids(payload, set(sequence_numbers))
        if not failed:
            return _Outcome(None, status, version)
        first = min(index for index, number in enumerate(sequence_numbers) if number in failed)
        log.info("%s reported a failure at record %d of %d from %s; redelivering from there",
                 mapping.function_arn, first + 1, len(records), mapping.stream_arn)
        return _Outcome(first, status, version)

    def _give_up(self, mapping: _StreamMapping, shard_id: str, records: list[dict[str, Any]], attempts: int,
                 outcome: _Outcome) -> None:
        """Retries exhausted: send Lambda's on-failure record (if configured) and let the poller move on."""
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        summary = (f"{len(records)} record(s) {_sequence(records[0])}..{_sequence(records[-1])} of {mapping.stream_arn}"
                   f" after {attempts} attempt(s) of {mapping.function_arn}")
        if mapping.on_failure is None:
            log.warning("Skipping %s: retries exhausted and no on-failure destination", summary)
            return
        response_context: dict[str, Any] = {"statusCode": outcome.status_code,
                                            "executedVersion": outcome.executed_version}
        if outcome.function_error:
            response_context["functionError"] = outcome.function_error
        message = json.dumps({
            "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": mapping.function_arn,
                               "condition": "RetryAttemptsExhausted", "approximateInvokeCount": attempts},
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": _sequence(records[0]),
                "endSequenceNumber": _sequence(records[-1]),
                "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime")),
                "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime")),
                "batchSize": len(records),
                "streamArn": mapping.stream_arn,
            },
        })
        arn = mapping.on_failure.split(":", 5)
        service = arn[2] if len(arn) == 6 else ""
        try:
            if service == "sqs":
                account, name = arn[4], arn[5]
                queue_url = self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
                self._sqs.send_message(QueueUrl=queue_url, MessageBody=message)
            elif service == "sns":
                self._sns.publish(TopicArn=mapping.on_failure, Message=message)
            else:
                log.error("Skipping %s: unsupported on-failure destination %s", summary, mapping.on_failure)
                return
        except (BotoCoreError, ClientError) as exc:
            log.error("Skipping %s: could not notify %s: %s", summary, mapping.on_failure, exc)
            return
        log.warning("Skipping %s: retries exhausted, sent to %s", summary, mapping.on_failure)
