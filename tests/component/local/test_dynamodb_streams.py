"""DynamoDB stream -> Lambda event source mappings on the local moto server, delivered by DynamoDbStreamPoller."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from crewhouse.local import dynamodb_streams
from crewhouse.local.dynamodb_streams import DynamoDbStreamPoller, disable_synchronous_mappings
from tests.component.local.gap_filler_support import create_function, receive_all, unique, wait_for
from tests.support import sample_handlers
from tests.support.moto_server import client, free_port, running_moto_server


@dataclass
class Wiring:
    table: str
    stream_arn: str
    function_name: str = ""
    mapping_uuid: str = ""

    def batches(self) -> list[list[dict[str, Any]]]:
        return sample_handlers.stream_batches(self.function_name)

    def pks(self) -> list[list[str]]:
        """Each delivered batch as its items' ``pk``s."""
        return [[record["dynamodb"]["Keys"]["pk"]["S"] for record in batch] for batch in self.batches()]

    def delivered(self) -> list[str]:
        """Every delivered ``pk``, in delivery order."""
        return [pk for batch in self.pks() for pk in batch]


class Cloud:
    """Creates stream-enabled tables, functions and mappings on the moto endpoint."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.ddb = client("dynamodb", endpoint)
        self.lam = client("lambda", endpoint)
        self.sqs = client("sqs", endpoint)

    def table(self, view: str = "NEW_AND_OLD_IMAGES") -> Wiring:
        name = unique("stream")
        description = self.ddb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": view})["TableDescription"]
        return Wiring(name, description["LatestStreamArn"])

    def map(self, wiring: Wiring, handler: str, **mapping: Any) -> Wiring:
        wiring.function_name, _ = create_function(self.endpoint, handler)
        mapping.setdefault("StartingPosition", "TRIM_HORIZON")
        wiring.mapping_uuid = self.lam.create_event_source_mapping(
            EventSourceArn=wiring.stream_arn, FunctionName=wiring.function_name, **mapping)["UUID"]
        return wiring

    def wire(self, handler: str, **mapping: Any) -> Wiring:
        return self.map(self.table(), handler, **mapping)

    def put(self, wiring: Wiring, *keys: str, **attributes: dict[str, str]) -> None:
        for key in keys:
            self.ddb.put_item(TableName=wiring.table, Item={"pk": {"S": key}, **attributes})


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with running_moto_server() as url:
        yield url


@pytest.fixture
def cloud(endpoint: str) -> Cloud:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
    return Cloud(endpoint)


@pytest.fixture
def poller(cloud: Cloud) -> Iterator[DynamoDbStreamPoller]:
    instance = DynamoDbStreamPoller(cloud.endpoint, interval=0.01)
    yield instance
    instance.stop()


def drain(poller: DynamoDbStreamPoller, rounds: int = 20) -> list[int]:
    """poll_once until a round delivers nothing; returns what each round delivered."""
    delivered: list[int] = []
    while len(delivered) < rounds and (not delivered or delivered[-1]):
        delivered.append(poller.poll_once())
    return delivered


def test_writes_no_longer_invoke_the_function(cloud: Cloud) -> None:
    disable_synchronous_mappings()
    disable_synchronous_mappings()  # idempotent
    wiring = cloud.wire("record_stream")

    cloud.put(wiring, "a", "b", "c")

    assert wiring.batches() == []
    listed = cloud.lam.list_event_source_mappings(EventSourceArn=wiring.stream_arn)["EventSourceMappings"]
    assert [(m["UUID"], m["State"]) for m in listed] == [(wiring.mapping_uuid, "Enabled")]
    # The records stay in the shard (moto empties it only after a synchronous delivery).
    streams = client("dynamodbstreams", cloud.endpoint)
    [shard] = streams.describe_stream(StreamArn=wiring.stream_arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=wiring.stream_arn, ShardId=shard["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert len(streams.get_records(ShardIterator=iterator)["Records"]) == 3

    poller = DynamoDbStreamPoller(cloud.endpoint)
    try:
        assert poller.poll_once() == 3
        assert poller.poll_once() == 0
    finally:
        poller.stop()
    assert wiring.pks() == [["a", "b", "c"]]


def test_insert_modify_remove_arrive_in_order_with_lambdas_event_shape(
        cloud: Cloud, poller: DynamoDbStreamPoller) -> None:
    wiring = cloud.wire("record_stream")
    before = time.time()
    cloud.ddb.put_item(TableName=wiring.table, Item={"pk": {"S": "k"}, "blob": {"B": b"\x00\x01"},
                                                     "n": {"N": "1"}})
    cloud.ddb.update_item(TableName=wiring.table, Key={"pk": {"S": "k"}}, UpdateExpression="SET n = :two",
                          ExpressionAttributeValues={":two": {"N": "2"}})
    cloud.ddb.delete_item(TableName=wiring.table, Key={"pk": {"S": "k"}})
    after = time.time()

    assert poller.poll_once() == 3

    [records] = wiring.batches()
    assert [record["eventName"] for record in records] == ["INSERT", "MODIFY", "REMOVE"]
    for record in records:
        assert record.keys() == {"eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb",
                                 "eventSourceARN"}
        assert (record["eventVersion"], record["eventSource"], record["awsRegion"], record["eventSourceARN"]) == (
            "1.1", "aws:dynamodb", "us-east-1", wiring.stream_arn)
        stream = record["dynamodb"]
        assert isinstance(stream["ApproximateCreationDateTime"], int)
        assert int(before) <= stream["ApproximateCreationDateTime"] <= after
        assert stream["Keys"] == {"pk": {"S": "k"}}
        assert stream["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert isinstance(stream["SizeBytes"], int) and stream["SizeBytes"] > 0
    blob = base64.b64encode(b"\x00\x01").decode()
    inserted, modified, removed = (record["dynamodb"] for record in records)
    assert inserted["NewImage"] == {"pk": {"S": "k"}, "blob": {"B": blob}, "n": {"N": "1"}}
    assert "OldImage" not in inserted
    assert modified["OldImage"] == inserted["NewImage"]
    assert modified["NewImage"] == {"pk": {"S": "k"}, "blob": {"B": blob}, "n": {"N": "2"}}
    assert removed["OldImage"] == modified["NewImage"]
    assert "NewImage" not in removed
    numbers = [int(record["dynamodb"]["SequenceNumber"]) for record in records]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    assert len({record["eventID"] for record in records}) == 3


def test_batch_size_is_honoured_and_every_record_arrives_once_in_order(
        cloud: Cloud, poller: DynamoDbStreamPoller) -> None:
    wiring = cloud.wire("record_stream", BatchSize=10)
    written = [f"k{i:02d}" for i in range(25)]
    cloud.put(wiring, *written)

    assert drain(poller) == [10, 10, 5, 0]

    assert [len(batch) for batch in wiring.pks()] == [10, 10, 5]
    assert wiring.delivered() == written


def test_a_failing_batch_is_retried_and_blocks_the_records_behind_it(
        cloud: Cloud, poller: DynamoDbStreamPoller) -> None:
    wiring = cloud.wire("raise_on_failing_stream", BatchSize=2)
    cloud.put(wiring, "k0", "k1")
    cloud.put(wiring, "k2", fail_times={"N": "2"})
    cloud.put(wiring, "k3", "k4")

    assert drain(poller) == [2, 2, 2, 2, 1, 0]

    assert wiring.pks() == [["k0", "k1"], ["k2", "k3"], ["k2", "k3"], ["k2", "k3"], ["k4"]]
    retried = wiring.batches()[1:4]
    assert retried[0] == retried[1] == retried[2]  # the very same records, not re-read ones


def test_a_retried_batch_does_not_take_in_records_written_since(cloud: Cloud, poller: DynamoDbStreamPoller) -> None:
    wiring = cloud.wire("raise_on_failing_stream", BatchSize=10)
    cloud.put(wiring, "k0")
    cloud.put(wiring, "k1", fail_times={"N": "1"})
    assert poller.poll_once() == 2

    cloud.put(wiring, "k2")

    assert drain(poller) == [2, 1, 0]
    assert wiring.pks() == [["k0", "k1"], ["k0", "k1"], ["k2"]]


def test_exhausted_retries_go_to_the_on_failure_destination_and_the_poller_moves_on(
        cloud: Cloud, poller: DynamoDbStreamPoller) -> None:
    queue_url = cloud.sqs.create_queue(QueueName=unique("on-failure"))["QueueUrl"]
    queue_arn = cloud.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    wiring = cloud.wire("raise_on_failing_stream", BatchSize=2, MaximumRetryAttempts=2,
                        DestinationConfig={"OnFailure": {"Destination": queue_arn}})
    cloud.put(wiring, "k0", "k1")
    cloud.put(wiring, "k2", fail_times={"N": "99"})
    cloud.put(wiring, "k3", "k4")

    assert drain(poller) == [2, 2, 2, 2, 1, 0]  # one try + two retries of [k2, k3], then k4

    assert wiring.pks() == [["k0", "k1"], ["k2", "k3"], ["k2", "k3"], ["k2", "k3"], ["k4"]]
    [message] = receive_all(cloud.sqs, queue_url, expected=1)
    record = json.loads(message["Body"])
    failed = wiring.batches()[1]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].endswith(f":function:{wiring.function_name}")
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    info = record["DDBStreamBatchInfo"]
    assert info["shardId"].startswith("shardId-")
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (
        failed[0]["dynamodb"]["SequenceNumber"], failed[1]["dynamodb"]["SequenceNumber"])
    assert (info["batchSize"], info["streamArn"]) == (2, wiring.stream_arn)
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")
    assert info["approximateArrivalOfLastRecord"].endswith("Z")


def test_reported_item_failure_redelivers_from_that_record_only(
        cloud: Cloud, poller: DynamoDbStreamPoller) -> None:
    wiring = cloud.wire("report_failing_stream", FunctionResponseTypes=["ReportBatchItemFailures"])
    cloud.put(wiring, "r1", "r2")
    cloud.put(wiring, "r3", fail_times={"N": "1"})
    cloud.put(wiring, "r4", "r5")

    assert drain(poller) == [5, 3, 0]

    assert wiring.pks() == [["r1", "r2", "r3", "r4", "r5"], ["r3", "r4", "r5"]]


def test_reported_failures_are_ignored_without_the_response_type(
        cloud: Cloud, poller: DynamoDbStreamPoller) -> None:
    wiring = cloud.wire("report_failing_stream")
    cloud.put(wiring, "r1")
    cloud.put(wiring, "r2", fail_times={"N": "1"})

    assert drain(poller) == [2, 0]
    assert wiring.pks() == [["r1", "r2"]]


def test_an_invalid_item_identifier_fails_the_whole_batch(cloud: Cloud, poller: DynamoDbStreamPoller) -> None:
    wiring = cloud.wire("report_unknown_stream", FunctionResponseTypes=["ReportBatchItemFailures"],
                        MaximumRetryAttempts=1)
    cloud.put(wiring, "a", "b")

    assert drain(poller) == [2, 2, 0]  # no destination: skipped after one retry
    cloud.put(wiring, "c")
    assert poller.poll_once() == 1
    assert wiring.pks() == [["a", "b"], ["a", "b"], ["c"]]


@pytest.mark.parametrize(("position", "expected"), [("LATEST", ["new"]), ("TRIM_HORIZON", ["old-1", "old-2", "new"])])
def test_starting_position(cloud: Cloud, poller: DynamoDbStreamPoller, position: str, expected: list[str]) -> None:
    wiring = cloud.table()
    cloud.put(wiring, "old-1", "old-2")
    cloud.map(wiring, "record_stream", StartingPosition=position)
    poller.poll_once()  # the poller sees the mapping
    cloud.put(wiring, "new")

    drain(poller)

    assert wiring.delivered() == expected


def test_disabled_mappings_are_not_polled_and_resume_from_their_checkpoint(
        cloud: Cloud, poller: DynamoDbStreamPoller) -> None:
    wiring = cloud.wire("record_stream")
    cloud.put(wiring, "a")
    assert poller.poll_once() == 1
    cloud.lam.update_event_source_mapping(UUID=wiring.mapping_uuid, Enabled=False)
    cloud.put(wiring, "b")

    assert poller.poll_once() == 0

    cloud.lam.update_event_source_mapping(UUID=wiring.mapping_uuid, Enabled=True)
    assert drain(poller) == [1, 0]
    assert wiring.pks() == [["a"], ["b"]]


def test_a_mapping_on_a_replaced_stream_gets_nothing_and_warns_once(
        cloud: Cloud, poller: DynamoDbStreamPoller, caplog: pytest.LogCaptureFixture) -> None:
    old = cloud.wire("record_stream")
    cloud.ddb.delete_table(TableName=old.table)
    cloud.ddb.create_table(
        TableName=old.table, BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    cloud.put(old, "on-the-new-stream")
    caplog.set_level(logging.WARNING, logger="crewhouse.local.dynamodb_streams")

    assert [poller.poll_once() for _ in range(3)] == [0, 0, 0]

    assert old.batches() == []
    [warning] = [record for record in caplog.records if record.name == "crewhouse.local.dynamodb_streams"]
    assert f"Stream {old.stream_arn} of mapping {old.mapping_uuid} no longer exists" in warning.getMessage()


def test_background_thread_delivers_and_stops_cleanly(cloud: Cloud) -> None:
    wiring = cloud.wire("record_stream", BatchSize=5)
    with DynamoDbStreamPoller(cloud.endpoint, interval=0.01):
        cloud.put(wiring, *(f"k{i:02d}" for i in range(12)))
        wait_for(lambda: len(wiring.delivered()) >= 12)

    names = {thread.name for thread in threading.enumerate()}
    assert not any(name.startswith("crewhouse-ddb-stream") for name in names)
    assert wiring.delivered() == [f"k{i:02d}" for i in range(12)]


def test_moto_forgets_old_shard_iterators(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    disable_synchronous_mappings()
    monkeypatch.setattr(dynamodb_streams, "_MAX_LIVE_ITERATORS", 3)
    wiring = cloud.table()
    streams = client("dynamodbstreams", cloud.endpoint)
    [shard] = streams.describe_stream(StreamArn=wiring.stream_arn)["StreamDescription"]["Shards"]
    iterators = [streams.get_shard_iterator(StreamArn=wiring.stream_arn, ShardId=shard["ShardId"],
                                            ShardIteratorType="LATEST")["ShardIterator"] for _ in range(4)]

    assert streams.get_records(ShardIterator=iterators[-1])["Records"] == []
    with pytest.raises(ClientError) as raised:
        streams.get_records(ShardIterator=iterators[0])
    assert raised.value.response["Error"]["Code"] == "ExpiredIteratorException"


def test_endpoint_errors_are_logged_and_do_not_kill_the_thread(caplog: pytest.LogCaptureFixture) -> None:
    poller = DynamoDbStreamPoller(f"http://127.0.0.1:{free_port()}", interval=0.01)  # nothing listens there
    caplog.set_level(logging.WARNING, logger="crewhouse.local.dynamodb_streams")
    try:
        assert poller.poll_once() == 0
        poller.start()
        wait_for(lambda: len(caplog.records) >= 3)
        assert poller._loop.alive
    finally:
        poller.stop()
    assert all("Could not list event source mappings" in record.getMessage() for record in caplog.records)
