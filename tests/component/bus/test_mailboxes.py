"""The SQS/SNS adapter against moto: inboxes with their DLQs, broadcast and topics with filters, receive, ack,
nack until dead letters, the peek and the redrive, and unprovisioning."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from crewhouse.bus.mailboxes import Mailboxes
from crewhouse.bus.messaging import build_envelope
from crewhouse.bus.settings import BusSettings
from tests.support.mock import mocked_aws

T1, T2 = "6f1c1a52-0000-4000-8000-000000000001", "6f1c1a52-0000-4000-8000-000000000002"
A, B, C = "01jaaaaaaaaaaaaaaaaaaaaaaa", "01jbbbbbbbbbbbbbbbbbbbbbbb", "01jccccccccccccccccccccccc"


@pytest.fixture
def mailboxes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailboxes]:
    with mocked_aws(monkeypatch):
        yield Mailboxes(boto3.client("sqs", region_name="us-east-1"), boto3.client("sns", region_name="us-east-1"),
                        BusSettings(), peek_wait_seconds=0)


def inbox(mailboxes: Mailboxes, tenant: str, agent: str, max_deliveries: int = 3) -> dict[str, Any]:
    return mailboxes.provision(tenant, agent, max_deliveries=max_deliveries, visibility_timeout_seconds=30,
                               retention_seconds=86_400)


def message(payload: Any, **fields: Any) -> dict[str, Any]:
    return build_envelope("direct", "agent:x", payload=payload, sent_at="2026-12-04T06:00:00.000Z",
                          message_id=f"m-{payload}", **fields)


def payloads(received: list[dict[str, Any]]) -> list[Any]:
    return sorted(m["payload"] for m in received)


def drain(mailboxes: Mailboxes, url: str) -> list[dict[str, Any]]:
    return mailboxes.receive(url, wait_seconds=0, max_messages=10)


def test_provision_makes_an_encrypted_inbox_that_dead_letters_and_only_tenant_topics_may_fill(
        mailboxes: Mailboxes) -> None:
    made = inbox(mailboxes, T1, A, max_deliveries=4)
    assert made["queue_url"].endswith(f"/crewhouse-bus-{A}")
    assert made["dead_letter_queue_url"].endswith(f"/crewhouse-bus-{A}-dlq")
    sqs = boto3.client("sqs", region_name="us-east-1")
    attributes = sqs.get_queue_attributes(QueueUrl=made["queue_url"], AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=made["dead_letter_queue_url"], AttributeNames=["All"])["Attributes"]
    assert attributes["SqsManagedSseEnabled"] == "true" and dlq["SqsManagedSseEnabled"] == "true"
    assert attributes["MessageRetentionPeriod"] == "86400" and dlq["MessageRetentionPeriod"] == "1209600"
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": 4}
    [allow, tls] = json.loads(attributes["Policy"])["Statement"]
    assert allow["Principal"] == {"Service": "sns.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
    tenant_hex = T1.replace("-", "")
    assert allow["Condition"] == {"ArnLike": {
        "aws:SourceArn": f"arn:aws:sns:us-east-1:123456789012:crewhouse-bus-{tenant_hex}-*"}}
    assert tls["Effect"] == "Deny"
    subscription = boto3.client("sns", region_name="us-east-1").get_subscription_attributes(
        SubscriptionArn=made["broadcast_subscription_arn"])["Attributes"]
    assert subscription["RawMessageDelivery"] == "true" and subscription["Endpoint"] == attributes["QueueArn"]
    assert subscription["TopicArn"].endswith(f":crewhouse-bus-{tenant_hex}-broadcast")
    assert inbox(mailboxes, T1, A, max_deliveries=4)["queue_url"] == made["queue_url"]  # a retry is harmless


def test_a_broadcast_reaches_every_inbox_of_the_tenant_and_no_other(mailboxes: Mailboxes) -> None:
    a, b, c = inbox(mailboxes, T1, A), inbox(mailboxes, T1, B), inbox(mailboxes, T2, C)
    assert mailboxes.publish(mailboxes.broadcast_topic_arn(T1), message("hello all")) is True
    for mine in (a, b):
        [got] = drain(mailboxes, mine["queue_url"])
        assert got["payload"] == "hello all" and got["id"] == "m-hello all"  # raw: the envelope is the body
    assert drain(mailboxes, c["queue_url"]) == []


def test_a_topic_delivers_what_matches_the_filter(mailboxes: Mailboxes) -> None:
    red, every = inbox(mailboxes, T1, A), inbox(mailboxes, T1, B)
    mailboxes.subscribe(T1, "orders", red["queue_url"], {"color": ["red"]})
    mailboxes.subscribe(T1, "orders", every["queue_url"], {})
    arn = mailboxes.topic_arn(T1, "orders")
    for color in ("red", "blue"):
        mailboxes.publish(arn, message(color, attributes={"color": color}))
    mailboxes.publish(arn, message("plain"))
    assert payloads(drain(mailboxes, red["queue_url"])) == ["red"]
    assert payloads(drain(mailboxes, every["queue_url"])) == ["blue", "plain", "red"]


def test_a_filter_can_be_replaced_and_removed(mailboxes: Mailboxes) -> None:
    mine = inbox(mailboxes, T1, A)
    subscription = mailboxes.subscribe(T1, "orders", mine["queue_url"], {"color": ["red"]})
    mailboxes.set_filter(subscription, {"color": ["blue"]})
    arn = mailboxes.topic_arn(T1, "orders")
    mailboxes.publish(arn, message("red", attributes={"color": "red"}))
    mailboxes.publish(arn, message("blue", attributes={"color": "blue"}))
    assert payloads(drain(mailboxes, mine["queue_url"])) == ["blue"]
    mailboxes.set_filter(subscription, {})
    mailboxes.publish(arn, message("any"))
    assert payloads(drain(mailboxes, mine["queue_url"])) == ["any"]
    mailboxes.unsubscribe(subscription)
    mailboxes.publish(arn, message("after"))
    assert drain(mailboxes, mine["queue_url"]) == []


def test_publishing_to_a_topic_nobody_subscribed_to_drops_the_message(mailboxes: Mailboxes) -> None:
    assert mailboxes.publish(mailboxes.topic_arn(T1, "nobody"), message("x")) is False


def test_receive_counts_deliveries_and_an_acked_message_never_comes_back(mailboxes: Mailboxes) -> None:
    url = inbox(mailboxes, T1, A)["queue_url"]
    for n in range(3):
        mailboxes.send(url, message(n))
    first = mailboxes.receive(url, wait_seconds=0, max_messages=10, visibility_timeout=0)
    assert payloads(first) == [0, 1, 2] and {m["delivery_count"] for m in first} == {1}
    assert all(m["first_received_at"].endswith("Z") and m["receipt"] for m in first)
    again = mailboxes.receive(url, wait_seconds=0, max_messages=10, visibility_timeout=1)
    assert {m["delivery_count"] for m in again} == {2}
    acked = [m for m in again if m["payload"] in (0, 1)]
    assert mailboxes.ack(url, [m["receipt"] for m in acked]) == []
    time.sleep(1.2)  # past the visibility timeout: only what was not acked is back
    assert [(m["payload"], m["delivery_count"]) for m in drain(mailboxes, url)] == [(2, 3)]


def test_batches_report_each_receipt_that_failed(mailboxes: Mailboxes) -> None:
    url = inbox(mailboxes, T1, A)["queue_url"]
    for n in range(12):
        mailboxes.send(url, message(n))
    receipts = [m["receipt"] for m in drain(mailboxes, url)] + [m["receipt"] for m in drain(mailboxes, url)]
    assert len(receipts) == 12
    failed = mailboxes.ack(url, [*receipts[:11], "not-a-receipt"])  # two batches: 10, then 2
    assert [(f["receipt"], f["code"]) for f in failed] == [("not-a-receipt", "ReceiptHandleIsInvalid")]
    assert [f["receipt"] for f in mailboxes.nack(url, ["bogus", receipts[11]], 0)] == ["bogus"]
    assert payloads(drain(mailboxes, url)) == [11]


def test_a_nack_storm_dead_letters_one_message_and_leaves_the_rest(mailboxes: Mailboxes) -> None:
    made = inbox(mailboxes, T1, A, max_deliveries=3)
    url, dlq = made["queue_url"], made["dead_letter_queue_url"]
    mailboxes.send(url, message("poison"))
    counts, handled = [], []
    for n in range(3):
        mailboxes.send(url, message(f"fine-{n}"))  # traffic goes on beside the poison message
        got = drain(mailboxes, url)
        [poison] = [m for m in got if m["payload"] == "poison"]
        counts.append(poison["delivery_count"])
        mailboxes.nack(url, [poison["receipt"]], 0)
        fine = [m for m in got if m["payload"] != "poison"]
        assert mailboxes.ack(url, [m["receipt"] for m in fine]) == []
        handled += [(m["payload"], m["delivery_count"]) for m in fine]
    assert counts == [1, 2, 3]
    assert handled == [("fine-0", 1), ("fine-1", 1), ("fine-2", 1)]
    mailboxes.send(url, message("fine-3"))
    assert payloads(drain(mailboxes, url)) == ["fine-3"]  # this receive moved the poison message instead
    assert mailboxes.approximate_depth(dlq) == 1
    peeked = mailboxes.dead_letters(dlq, 10)
    assert [m["payload"] for m in peeked] == ["poison"] and "receipt" not in peeked[0]
    assert [m["payload"] for m in mailboxes.dead_letters(dlq, 10)] == ["poison"]  # a peek takes nothing

    assert mailboxes.redrive(dlq, url, 100) == 1
    assert mailboxes.dead_letters(dlq, 10) == [] and mailboxes.approximate_depth(dlq) == 0
    [back] = drain(mailboxes, url)
    assert back["payload"] == "poison" and back["delivery_count"] == 1  # a fresh start


def test_redrive_moves_at_most_the_limit(mailboxes: Mailboxes) -> None:
    made = inbox(mailboxes, T1, A)
    sqs = boto3.client("sqs", region_name="us-east-1")
    for n in range(13):
        sqs.send_message(QueueUrl=made["dead_letter_queue_url"], MessageBody=json.dumps(message(n)),
                         MessageAttributes={"color": {"DataType": "String", "StringValue": "red"}})
    assert mailboxes.redrive(made["dead_letter_queue_url"], made["queue_url"], 12) == 12
    assert mailboxes.approximate_depth(made["dead_letter_queue_url"]) == 1
    moved = sqs.receive_message(QueueUrl=made["queue_url"], MaxNumberOfMessages=1, MessageAttributeNames=["All"])
    assert moved["Messages"][0]["MessageAttributes"]["color"]["StringValue"] == "red"  # attributes kept


def test_deprovision_removes_queues_and_subscriptions_and_may_be_repeated(mailboxes: Mailboxes) -> None:
    made = inbox(mailboxes, T1, A)
    topic_subscription = mailboxes.subscribe(T1, "orders", made["queue_url"], {})
    other = inbox(mailboxes, T1, B)
    record = {**made, "subscription_arns": [topic_subscription]}
    mailboxes.deprovision(record)
    mailboxes.deprovision(record)
    sqs, sns = boto3.client("sqs", region_name="us-east-1"), boto3.client("sns", region_name="us-east-1")
    assert sqs.list_queues(QueueNamePrefix=f"crewhouse-bus-{A}").get("QueueUrls", []) == []
    remaining = [s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]]
    assert remaining == [other["broadcast_subscription_arn"]]


def test_a_foreign_body_is_handed_on_as_it_is(mailboxes: Mailboxes) -> None:
    url = inbox(mailboxes, T1, A)["queue_url"]
    boto3.client("sqs", region_name="us-east-1").send_message(QueueUrl=url, MessageBody="plain text")
    [got] = drain(mailboxes, url)
    assert got["kind"] == "unknown" and got["payload"] == "plain text" and got["delivery_count"] == 1
