"""The webhooks API and the delivery worker in-process against moto (DynamoDB, KMS, SQS) and a receiver on
loopback (local mode allows plain http to loopback): registration with every problem named, the secret once and
KMS-encrypted under its encryption context, tenancy, observers, If-Match, a signed delivery from a notification,
retries through SQS with delays, the dead-letter list and a redrive."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from crewhouse.core.settings import function_environment
from crewhouse.notifications import webhooks_api, workers
from crewhouse.notifications.api import handler as notifications_handler
from crewhouse.notifications.webhooks import verify
from tests.component.notifications.test_notifications_api import ENV as NOTIFICATIONS_ENV
from tests.component.notifications.test_notifications_api import keyed_table, member
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.mock import mocked_aws
from tests.support.webhook_receiver import WebhookReceiver, serving


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with serving() as found:
        yield found


ENV: dict[str, str] = {}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_aws(monkeypatch):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        keyed_table(dynamodb, "notifications", 1)
        keyed_table(dynamodb, "platform", 0)
        dynamodb.create_table(TableName="idempotency", BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="webhooks")["QueueUrl"]
        boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress="no-reply@crewhouse.local")
        for tenant, user, role in (("t1", "admin", "admin"), ("t1", "ann", "member"), ("t1", "bob", "member"),
                                   ("t1", "obs", "observer"), ("t2", "eve", "admin")):
            member(dynamodb, tenant, user, role)
        ENV.clear()
        ENV.update({**NOTIFICATIONS_ENV, "WEBHOOK_QUEUE_URL": queue, "WEBHOOK_KEY_ID": key, "CREWHOUSE_LOCAL": "true",
                    "WEBHOOK_RETRY_BASE_SECONDS": "0"})
        yield sqs


def call(user: str, method: str, path: str, body: Any = None, *, tenant: str = "t1", query: str = "",
         headers: dict[str, str] | None = None, api: Any = webhooks_api.handler) -> tuple[int, Any, dict[str, str]]:
    with function_environment(ENV):
        response = api(http_event(method, path, body=body, claims=claims_for(tenant, user), query=query,
                                  headers=headers), lambda_context())
    return response["statusCode"], response_json(response), response.get("headers") or {}


def drain(sqs: Any) -> list[dict[str, Any]]:
    """Run the worker over the queue until it is empty (delays are 0 here); its batch answers."""
    answers: list[dict[str, Any]] = []
    url = ENV["WEBHOOK_QUEUE_URL"]
    for _ in range(20):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages")
        if not messages:
            return answers
        records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                    "attributes": m["Attributes"], "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:webhooks",
                    "awsRegion": "us-east-1"} for m in messages]
        with function_environment(ENV):
            answer = workers.deliver_webhooks({"Records": records}, lambda_context("worker"))
        answers.append(answer)
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for n, m in enumerate(messages)
                                                        if m["MessageId"] not in failed] or [])
    raise AssertionError("the queue never emptied")


def test_registration_answers_the_secret_once_and_keeps_it_encrypted(aws: Any, receiver: WebhookReceiver) -> None:
    status, created, headers = call("ann", "POST", "/notifications/webhooks",
                                    {"url": receiver.url, "description": "mine", "categories": ["job"]})
    assert status == 201, created
    assert created["secret"].startswith("whsec_") and headers["etag"] == '"1"'
    assert headers["location"] == f"/notifications/webhooks/{created['id']}"
    status, listed, _ = call("ann", "GET", "/notifications/webhooks")
    assert status == 200 and [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0] and listed[0]["secret_hint"] == created["secret"][:10]
    status, one, headers = call("ann", "GET", f"/notifications/webhooks/{created['id']}")
    assert status == 200 and "secret" not in one and headers["etag"] == '"1"'
    raw = boto3.client("dynamodb", region_name="us-east-1").scan(TableName="notifications")["Items"]
    assert created["secret"] not in json.dumps(raw)
    (hook,) = [i for i in raw if i["SK"]["S"].startswith("W#")]
    kms = boto3.client("kms", region_name="us-east-1")
    blob = base64.b64decode(hook["secret_sealed"]["S"])
    context = {"tenant_id": "t1", "user_id": "ann", "webhook_id": created["id"]}
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"].decode() == created["secret"]
    with pytest.raises(Exception, match="InvalidCiphertext"):  # moved to another user: KMS refuses
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={**context, "user_id": "bob"})


@pytest.mark.parametrize(("url", "reason"), [
    ("http://2130706433/hook", "127.0.0.1"),  # decimal IPv4 of loopback, http: allowed only to loopback...
    ("https://10.0.0.5/hook", "private"),
    ("https://169.254.169.254/latest/meta-data/", "metadata"),
    ("https://[::ffff:192.168.0.1]/", "private"),
    ("https://[fe80::1]/", "link-local"),
    ("https://[fd00:ec2::254]/", "metadata"),
    ("ftp://hooks.example/", "https"),
])
def test_a_refused_url_is_a_422_naming_every_problem(aws: Any, url: str, reason: str) -> None:
    status, problem, _ = call("ann", "POST", "/notifications/webhooks", {"url": url, "categories": ["job", "nope"]})
    assert status == 422, problem
    assert problem["type"].endswith("invalid-webhook")
    paths = [e["path"] for e in problem["errors"]]
    assert paths == ["body.categories.1"] if url.startswith("http://2130706433") else paths == [
        "body.url", "body.categories.1"]
    if not url.startswith("http://2130706433"):
        assert reason in problem["detail"]


def test_outside_local_mode_plain_http_and_loopback_are_refused(aws: Any, receiver: WebhookReceiver) -> None:
    ENV["CREWHOUSE_LOCAL"] = "false"
    for url in (receiver.url, "http://2130706433/hook", "https://2130706433/hook", "https://[::1]/"):
        status, problem, _ = call("ann", "POST", "/notifications/webhooks", {"url": url})
        assert status == 422 and problem["errors"][0]["path"] == "body.url", (url, problem)
        assert "loopback" in problem["detail"] or "plain http" in problem["detail"]


def test_tenancy_observers_and_if_match(aws: Any, receiver: WebhookReceiver) -> None:
    _, created, _ = call("ann", "POST", "/notifications/webhooks", {"url": receiver.url})
    path = f"/notifications/webhooks/{created['id']}"
    for user, tenant in (("bob", "t1"), ("admin", "t1"), ("eve", "t2")):
        assert call(user, "GET", path, tenant=tenant)[0] == 404
        assert call(user, "PATCH", path, {"enabled": False}, tenant=tenant)[0] == 404
        assert call(user, "POST", f"{path}/test", tenant=tenant)[0] == 404
        assert call(user, "GET", f"{path}/deliveries", tenant=tenant)[0] == 404
        assert call(user, "DELETE", path, tenant=tenant)[0] == 404
        assert call(user, "GET", "/notifications/webhooks", tenant=tenant)[1] == []
    assert call("obs", "POST", "/notifications/webhooks", {"url": receiver.url})[0] == 403
    assert call("obs", "GET", "/notifications/webhooks")[0] == 200
    status, changed, headers = call("ann", "PATCH", path, {"enabled": False, "url": "https://10.1.1.1/"},
                                    headers={"If-Match": '"1"'})
    assert status == 422 and "private" in changed["detail"]  # the new URL is checked again
    assert call("ann", "PATCH", path, {"enabled": False}, headers={"If-Match": '"9"'})[0] == 412
    status, changed, headers = call("ann", "PATCH", path, {"enabled": False}, headers={"If-Match": '"1"'})
    assert status == 200 and changed["enabled"] is False and headers["etag"] == '"2"'
    assert call("ann", "DELETE", path, headers={"If-Match": '"1"'})[0] == 412
    assert call("ann", "DELETE", path, headers={"If-Match": '"2"'})[0] == 204
    assert call("ann", "GET", path)[0] == 404


def test_a_notification_is_delivered_signed_and_failures_end_dead_then_redrive(aws: Any,
                                                                              receiver: WebhookReceiver) -> None:
    _, hook, _ = call("ann", "POST", "/notifications/webhooks", {"url": receiver.url, "categories": ["system"]})
    status, sent, _ = call("admin", "POST", "/notifications", {"recipient_id": "ann", "category": "system",
                                                                "title": "Hello", "body": "World"},
                           api=notifications_handler)
    assert status == 201, sent
    notification = sent["notifications"][0]
    assert notification["deliveries"][f"webhook:{hook['id']}"]["status"] == "queued"
    drain(aws)
    (only,) = receiver.received
    path, headers, body = only.path, only.headers, only.body
    assert path == "/hook" and headers["crewhouse-event"] == "notification.created"
    assert verify(hook["secret"], headers["crewhouse-signature"], body, now=int(time.time()))
    payload = json.loads(body)
    assert payload["id"] == headers["crewhouse-delivery"]
    assert payload["data"]["notification"]["title"] == "Hello"
    # The notification's delivery history names the attempt.
    inbox = call("ann", "GET", "/notifications", api=notifications_handler)[1]["items"]
    assert inbox[0]["deliveries"][f"webhook:{hook['id']}"]["status"] == "delivered"

    # A receiver that fails: four retries, then the dead-letter list.
    receiver.answers = [500] * 5
    call("admin", "POST", "/notifications", {"recipient_id": "ann", "category": "system", "title": "Again"},
         api=notifications_handler)
    drain(aws)
    assert len(receiver.received) == 6
    status, dead, _ = call("ann", "GET", f"/notifications/webhooks/{hook['id']}/deliveries", query="status=dead")
    assert status == 200 and len(dead["items"]) == 1
    letter = dead["items"][0]
    assert (letter["attempts"], letter["status_code"], len(letter["history"])) == (5, 500, 5)
    assert letter["error"] == "the receiver answered HTTP 500"
    assert call("bob", "POST", f"/notifications/webhooks/{hook['id']}/deliveries/{letter['id']}/redrive")[0] == 404
    assert call("obs", "POST", f"/notifications/webhooks/{hook['id']}/deliveries/{letter['id']}/redrive")[0] == 403
    status, redriven, _ = call("ann", "POST", f"/notifications/webhooks/{hook['id']}/deliveries/{letter['id']}/redrive")
    assert status == 202 and redriven["status"] == "queued"
    assert call("ann", "POST", f"/notifications/webhooks/{hook['id']}/deliveries/{letter['id']}/redrive")[0] == 409
    drain(aws)
    assert json.loads(receiver.received[-1].body)["id"] == letter["id"]
    page = call("ann", "GET", f"/notifications/webhooks/{hook['id']}/deliveries", query="limit=1")[1]
    assert page["items"][0]["status"] == "delivered" and page["items"][0]["attempts"] == 6  # newest first
    older = call("ann", "GET", f"/notifications/webhooks/{hook['id']}/deliveries",
                 query=f"limit=1&cursor={page['next_cursor']}")[1]
    assert older["items"][0]["id"] != page["items"][0]["id"]
    assert call("bob", "GET", f"/notifications/webhooks/{hook['id']}/deliveries",  # bound to ann and this list
                query=f"limit=1&cursor={page['next_cursor']}")[0] == 400


def test_a_category_the_webhook_does_not_take_and_an_opted_out_channel_send_nothing(aws: Any,
                                                                                    receiver: WebhookReceiver) -> None:
    call("ann", "POST", "/notifications/webhooks", {"url": receiver.url, "categories": ["job"]})
    call("admin", "POST", "/notifications", {"recipient_id": "ann", "category": "system", "title": "x"},
         api=notifications_handler)
    prefs = call("ann", "GET", "/me/notification-preferences", api=notifications_handler)[1]
    assert prefs["channels"]["webhook"] is True
    prefs["channels"]["webhook"] = False
    assert call("ann", "PUT", "/me/notification-preferences", prefs, api=notifications_handler)[0] == 200
    call("admin", "POST", "/notifications", {"recipient_id": "ann", "category": "job", "title": "y"},
         api=notifications_handler)
    assert drain(aws) == [] and receiver.received == []


def test_the_test_ping_reports_the_receivers_answer(aws: Any, receiver: WebhookReceiver) -> None:
    _, hook, _ = call("ann", "POST", "/notifications/webhooks", {"url": receiver.url})
    receiver.answers = [410]
    status, ping, _ = call("ann", "POST", f"/notifications/webhooks/{hook['id']}/test")
    assert status == 200 and (ping["status"], ping["status_code"], ping["event"]) == ("failed", 410, "ping")
    status, ping, _ = call("ann", "POST", f"/notifications/webhooks/{hook['id']}/test")
    assert ping["status"] == "delivered"
    headers, body = receiver.received[-1].headers, receiver.received[-1].body
    assert verify(hook["secret"], headers["crewhouse-signature"], body, now=int(time.time()))
    assert drain(aws) == []  # a ping is not retried
