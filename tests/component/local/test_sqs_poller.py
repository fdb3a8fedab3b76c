"""SQS -> Lambda event source mappings on the local moto server, delivered by SqsEventSourcePoller."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import threading
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from crewhouse.local.sqs_poller import SqsEventSourcePoller, disable_synchronous_mappings
from tests.support import sample_handlers
from tests.support.moto_server import client, free_port, running_moto_server

HANDLERS = "tests.support.sample_handlers"


@dataclass
class Wiring:
    function_name: str
    queue_url: str
    queue_arn: str
    mapping_uuid: str
    dlq_url: str | None = None

    def batches(self) -> list[list[dict[str, Any]]]:
        return sample_handlers.sqs_batches(self.function_name)

    def bodies(self) -> list[str]:
        return [record["body"] for batch in self.batches() for record in batch]


class Cloud:
    """Creates queue + function + mapping on the moto endpoint."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.sqs = client("sqs", endpoint)
        self.lam = client("lambda", endpoint)
        self.role = client("iam", endpoint).create_role(
            RoleName="sqs-poller-test", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("placeholder.py", "")
        self.code = archive.getvalue()

    def wire(self, handler: str, *, batch_size: int = 10, visibility: int = 1, report_failures: bool = False,
             max_receive_count: int | None = None) -> Wiring:
        name = f"{handler.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
        attributes = {"VisibilityTimeout": str(visibility)}
        dlq_url = None
        if max_receive_count is not None:
            dlq_url = self.sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
            dlq_arn = self.queue_arn(dlq_url)
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn,
                                                      "maxReceiveCount": max_receive_count})
        queue_url = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self.lam.create_function(FunctionName=name, Runtime="python3.11", Role=self.role,
                                 Handler=f"{HANDLERS}.{handler}", Code={"ZipFile": self.code})
        queue_arn = self.queue_arn(queue_url)
        mapping = self.lam.create_event_source_mapping(
            EventSourceArn=queue_arn, FunctionName=name, BatchSize=batch_size,
            FunctionResponseTypes=["ReportBatchItemFailures"] if report_failures else [])
        return Wiring(name, queue_url, queue_arn, mapping["UUID"], dlq_url)

    def queue_arn(self, queue_url: str) -> str:
        return str(self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
                   ["Attributes"]["QueueArn"])

    def send(self, queue_url: str, *bodies: str) -> None:
        for body in bodies:
            self.sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    def counts(self, queue_url: str) -> tuple[int, int]:
        """(visible, in flight) messages on the queue."""
        attributes = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def wait_for(condition: Callable[[], Any], timeout: float = 3.0, step: float = 0.02) -> Any:
    """Poll ``condition`` until truthy; returns its value (fails the test on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(step)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with running_moto_server() as url:
        yield url


@pytest.fixture
def cloud(endpoint: str) -> Cloud:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
    return Cloud(endpoint)


@pytest.fixture
def poller(cloud: Cloud) -> Iterator[SqsEventSourcePoller]:
    instance = SqsEventSourcePoller(cloud.endpoint, interval=0.01)
    yield instance
    instance.stop()


def test_send_message_no_longer_invokes_the_function(cloud: Cloud) -> None:
    disable_synchronous_mappings()
    disable_synchronous_mappings()  # idempotent
    wiring = cloud.wire("record_sqs")

    cloud.send(wiring.queue_url, "a", "b", "c")

    assert wiring.batches() == []
    assert cloud.counts(wiring.queue_url) == (3, 0)
    listed = cloud.lam.list_event_source_mappings(EventSourceArn=wiring.queue_arn)["EventSourceMappings"]
    assert [(m["UUID"], m["State"]) for m in listed] == [(wiring.mapping_uuid, "Enabled")]

    poller = SqsEventSourcePoller(cloud.endpoint)
    try:
        assert poller.poll_once() == 3
    finally:
        poller.stop()
    assert sorted(wiring.bodies()) == ["a", "b", "c"]


@pytest.mark.parametrize(("batch_size", "largest"), [(4, 4), (25, 10)])
def test_batches_honour_batch_size_and_deliver_everything_once(
        cloud: Cloud, poller: SqsEventSourcePoller, batch_size: int, largest: int) -> None:
    wiring = cloud.wire("record_sqs", batch_size=batch_size)
    sent = [f"m{i}" for i in range(25)]
    cloud.send(wiring.queue_url, *sent)

    rounds = [poller.poll_once() for _ in range(10)]

    sizes = [len(batch) for batch in wiring.batches()]
    assert sum(rounds) == 25
    assert max(sizes) == largest
    assert sorted(wiring.bodies()) == sorted(sent)
    assert len({record["messageId"] for batch in wiring.batches() for record in batch}) == 25
    assert cloud.counts(wiring.queue_url) == (0, 0)


def test_event_has_lambdas_sqs_shape(cloud: Cloud, poller: SqsEventSourcePoller) -> None:
    wiring = cloud.wire("record_sqs")
    cloud.sqs.send_message(QueueUrl=wiring.queue_url, MessageBody="hello", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "greeting"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    })

    assert poller.poll_once() == 1

    [[record]] = wiring.batches()
    assert record["body"] == "hello"
    assert record["md5OfBody"] == hashlib.md5(b"hello").hexdigest()
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == wiring.queue_arn
    assert record["awsRegion"] == "us-east-1"
    assert record["receiptHandle"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp", "SenderId"} <= record["attributes"].keys()
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "greeting", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": base64.b64encode(b"\x00\x01").decode(), "stringListValues": [],
                 "binaryListValues": [], "dataType": "Binary"},
    }


def test_partial_batch_failure_redelivers_only_reported_messages(
        cloud: Cloud, poller: SqsEventSourcePoller) -> None:
    wiring = cloud.wire("report_failed_sqs", report_failures=True)
    cloud.send(wiring.queue_url, "ok-0", "ok-1", "ok-2", "fail-0", "fail-1")

    assert poller.poll_once() == 5
    assert cloud.counts(wiring.queue_url) == (0, 2)  # successes deleted, failures in flight
    assert poller.poll_once() == 0  # failures stay hidden for the visibility timeout

    # The two come back when their visibility timeouts end, which on a busy machine may be two polls apart.
    received = [0]

    def both_back() -> bool:
        received[0] += poller.poll_once()
        return received[0] >= 2

    wait_for(both_back)
    assert received[0] == 2
    retried = [record for batch in wiring.batches()[1:] for record in batch]
    assert sorted(record["body"] for record in retried) == ["fail-0", "fail-1"]
    assert {record["attributes"]["ApproximateReceiveCount"] for record in retried} == {"2"}
    assert wiring.bodies().count("ok-0") == 1


def test_reported_failures_are_ignored_without_the_response_type(
        cloud: Cloud, poller: SqsEventSourcePoller) -> None:
    wiring = cloud.wire("report_failed_sqs", report_failures=False)
    cloud.send(wiring.queue_url, "ok-0", "fail-0")

    assert poller.poll_once() == 2
    assert cloud.counts(wiring.queue_url) == (0, 0)


def test_invalid_item_identifier_fails_the_whole_batch(cloud: Cloud, poller: SqsEventSourcePoller) -> None:
    wiring = cloud.wire("report_unknown_sqs", report_failures=True)
    cloud.send(wiring.queue_url, "a", "b", "c")

    assert poller.poll_once() == 3
    assert cloud.counts(wiring.queue_url) == (0, 3)


def test_function_error_retries_then_dead_letters(cloud: Cloud, poller: SqsEventSourcePoller) -> None:
    wiring = cloud.wire("raise_sqs", max_receive_count=2)
    assert wiring.dlq_url is not None
    cloud.send(wiring.queue_url, "poison")

    assert poller.poll_once() == 1
    assert cloud.counts(wiring.queue_url) == (0, 1)  # not deleted, hidden until the visibility timeout
    assert poller.poll_once() == 0
    assert wait_for(poller.poll_once) == 1  # second (and last) attempt

    # The next receive after maxReceiveCount moves it to the DLQ instead of delivering it.
    dead = wait_for(lambda: poller.poll_once() == 0 and cloud.sqs.receive_message(
        QueueUrl=wiring.dlq_url, MessageSystemAttributeNames=["All"]).get("Messages"))
    assert [message["Body"] for message in dead] == ["poison"]
    assert [batch[0]["attributes"]["ApproximateReceiveCount"] for batch in wiring.batches()] == ["1", "2"]
    assert cloud.counts(wiring.queue_url) == (0, 0)


def test_disabled_mappings_are_not_polled(cloud: Cloud, poller: SqsEventSourcePoller) -> None:
    wiring = cloud.wire("record_sqs")
    cloud.lam.update_event_source_mapping(UUID=wiring.mapping_uuid, Enabled=False)
    cloud.send(wiring.queue_url, "a")

    assert poller.poll_once() == 0
    assert cloud.counts(wiring.queue_url) == (1, 0)


def test_a_slow_function_does_not_hold_up_other_mappings(cloud: Cloud, poller: SqsEventSourcePoller) -> None:
    slow = cloud.wire("gated_sqs")
    fast = cloud.wire("record_sqs")
    cloud.send(slow.queue_url, "slow")
    cloud.send(fast.queue_url, "fast")
    sample_handlers.sqs_gate.clear()
    try:
        # The round waits out the whole timeout for the gated batch, so the timeout is what the fast
        # function gets on a loaded machine (0.5 s was not always enough in CI).
        assert poller.poll_once(timeout=5.0) == 1
        assert fast.bodies() == ["fast"]
        assert slow.batches() == []
    finally:
        sample_handlers.sqs_gate.set()
    assert wait_for(poller.poll_once) == 1  # the slow batch is counted once it finishes
    assert slow.bodies() == ["slow"]


def test_background_thread_delivers_and_stops_cleanly(cloud: Cloud) -> None:
    wiring = cloud.wire("record_sqs")
    with SqsEventSourcePoller(cloud.endpoint, interval=0.01):
        cloud.send(wiring.queue_url, *(f"m{i}" for i in range(12)))
        wait_for(lambda: len(wiring.bodies()) == 12)
        wait_for(lambda: cloud.counts(wiring.queue_url) == (0, 0))

    names = {thread.name for thread in threading.enumerate()}
    assert not any(name.startswith("crewhouse-sqs") for name in names)
    assert sorted(wiring.bodies()) == sorted(f"m{i}" for i in range(12))


def test_endpoint_errors_are_logged_and_do_not_kill_the_thread(caplog: pytest.LogCaptureFixture) -> None:
    poller = SqsEventSourcePoller(f"http://127.0.0.1:{free_port()}", interval=0.01)  # nothing listens there
    caplog.set_level(logging.WARNING, logger="crewhouse.local.sqs_poller")
    try:
        assert poller.poll_once() == 0
        poller.start()
        wait_for(lambda: len(caplog.records) >= 3)
        assert poller._loop.alive
    finally:
        poller.stop()
    assert all("Could not list event source mappings" in record.getMessage() for record in caplog.records)
