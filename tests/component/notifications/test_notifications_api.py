"""The notifications API and workers in-process against moto: the inbox, sending (roles, tenancy, templates),
preferences with quiet hours deferring e-mail to a one-time schedule, SES v2 e-mail, and the bus's job events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from crewhouse.core.settings import function_environment
from crewhouse.notifications import workers
from crewhouse.notifications.api import handler
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.mock import mocked_aws

TABLE, PLATFORM, GROUP = "notifications", "platform", "crewhouse-notifications"
ENV = {"NOTIFICATIONS_TABLE": TABLE, "PLATFORM_TABLE": PLATFORM, "AWS_REGION": "us-east-1",
       "CURSOR_SIGNING_KEY": "c" * 32, "IDEMPOTENCY_TABLE": "idempotency", "DELIVERY_SCHEDULE_GROUP": GROUP,
       "DELIVERY_TARGET_ARN": "arn:aws:lambda:us-east-1:123456789012:function:due",
       "DELIVERY_ROLE_ARN": "arn:aws:iam::123456789012:role/scheduler", "SES_CONFIGURATION_SET": "cs"}
SENDER = "no-reply@crewhouse.local"


def keyed_table(dynamodb: Any, name: str, indexes: int) -> None:
    keys = ["PK", "SK"] + [f"GSI{n}{part}" for n in range(1, indexes + 1) for part in ("PK", "SK")]
    gsis = [{"IndexName": f"GSI{n}", "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": f"GSI{n}PK", "KeyType": "HASH"},
                           {"AttributeName": f"GSI{n}SK", "KeyType": "RANGE"}]} for n in range(1, indexes + 1)]
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
                          KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                                     {"AttributeName": "SK", "KeyType": "RANGE"}],
                          **({"GlobalSecondaryIndexes": gsis} if gsis else {}))


def member(dynamodb: Any, tenant: str, user: str, role: str = "member", email: str | None = None,
           timezone: str | None = None) -> None:
    item = {"PK": {"S": f"TENANT#{tenant}"}, "SK": {"S": f"MEMBER#{user}"}, "role": {"S": role},
            "status": {"S": "active"}}
    if email:
        item["email"] = {"S": email}
    dynamodb.put_item(TableName=PLATFORM, Item=item)
    if timezone:
        dynamodb.put_item(TableName=PLATFORM, Item={"PK": {"S": f"PRINCIPAL#{user}"}, "SK": {"S": "PROFILE"},
                                                    "timezone": {"S": timezone}})


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_aws(monkeypatch):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        keyed_table(dynamodb, TABLE, 1)
        keyed_table(dynamodb, PLATFORM, 0)
        dynamodb.create_table(TableName="idempotency", BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress=SENDER)
        boto3.client("scheduler", region_name="us-east-1").create_schedule_group(Name=GROUP)
        member(dynamodb, "t1", "admin", "admin", "admin@example.com")
        member(dynamodb, "t1", "ann", "member", "ann@example.com", "Europe/Berlin")
        member(dynamodb, "t1", "obs", "observer", "obs@example.com")
        member(dynamodb, "t2", "eve", "admin", "eve@example.com")
        yield dynamodb


def call(user: str, method: str, path: str, body: Any = None, *, tenant: str = "t1", query: str = "",
         headers: dict[str, str] | None = None, **claims: str) -> tuple[int, Any]:
    with function_environment(ENV):
        response = handler(http_event(method, path, body=body, claims=claims_for(tenant, user, **claims),
                                      query=query, headers=headers), lambda_context())
    return response["statusCode"], response_json(response)


def sent_mail() -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def schedules() -> list[dict[str, Any]]:
    client = boto3.client("scheduler", region_name="us-east-1")
    return [client.get_schedule(Name=s["Name"], GroupName=GROUP)
            for s in client.list_schedules(GroupName=GROUP)["Schedules"]]


def test_an_admin_sends_and_the_recipient_reads_marks_and_counts(aws: Any) -> None:
    status, sent = call("admin", "POST", "/notifications", {"recipient_id": "ann", "category": "system",
                                                             "title": "Welcome", "body": "Hello", "link": "/tasks"},
                        headers={"Idempotency-Key": "k1"})
    assert status == 201, sent
    notification = sent["notifications"][0]
    assert notification["deliveries"]["in_app"]["status"] == "delivered"
    assert notification["deliveries"]["email"]["status"] == "sent"
    assert notification["deliveries"]["email"]["attempts"] == 1
    mail = sent_mail()
    assert [m.destinations["ToAddresses"] for m in mail] == [["ann@example.com"]]
    assert mail[0].subject == "Welcome" and "https://app.crewhouse.local/tasks" in mail[0].body
    # The same Idempotency-Key answers the first result and sends nothing twice.
    assert call("admin", "POST", "/notifications", {"recipient_id": "ann", "category": "system",
                                                     "title": "Welcome", "body": "Hello", "link": "/tasks"},
                headers={"Idempotency-Key": "k1"})[1] == sent
    assert len(sent_mail()) == 1
    call("admin", "POST", "/notifications/batch", {"recipient_ids": ["ann", "admin"], "category": "mention",
                                                    "template": "mention", "data": {"author": "Bo", "excerpt": "hi"}})
    assert call("ann", "GET", "/notifications/unread-count")[1] == {"unread": 2}
    status, page = call("ann", "GET", "/notifications", query="limit=1")
    assert status == 200 and page["items"][0]["title"] == "Bo mentioned you"  # newest first
    second = call("ann", "GET", "/notifications", query=f"limit=1&cursor={page['next_cursor']}")[1]
    assert second["items"][0]["title"] == "Welcome"
    assert call("ann", "POST", f"/notifications/{notification['id']}/read")[1]["read_at"]
    assert call("ann", "GET", "/notifications/unread-count")[1] == {"unread": 1}
    assert call("ann", "POST", "/notifications/read-all")[1] == {"marked": 1}
    assert call("ann", "GET", "/notifications/unread-count")[1] == {"unread": 0}
    # Someone else's notification is a 404, as a missing one.
    assert call("admin", "POST", f"/notifications/{notification['id']}/read")[0] == 404
    assert call("eve", "POST", f"/notifications/{notification['id']}/read", tenant="t2")[0] == 404


def test_only_admins_and_machine_writers_send_to_their_own_tenant(aws: Any) -> None:
    body = {"recipient_id": "ann", "category": "system", "title": "x"}
    assert call("ann", "POST", "/notifications", body)[0] == 403
    assert call("obs", "POST", "/notifications", body)[0] == 403
    status, problem = call("admin", "POST", "/notifications", {**body, "recipient_id": "eve"})
    assert status == 422 and problem["recipient_id"] == "eve" and "eve" in problem["detail"]
    member(aws, "t1", "robot", "member")
    assert call("robot", "POST", "/notifications", body, scope="crewhouse/jobs.write")[0] == 201
    assert call("robot", "POST", "/notifications", body, scope="crewhouse/jobs.read")[0] == 403
    assert call("admin", "POST", "/notifications", {**body, "category": "gossip"})[0] == 422
    assert call("admin", "POST", "/notifications", {**body, "title": None, "template": "nope"})[0] == 422


def test_quiet_hours_defer_email_to_a_schedule_and_urgent_passes(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)
    local_start = (now - timedelta(hours=1)).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    local_end = (now + timedelta(hours=2)).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    prefs = {"quiet_hours": {"start": local_start.strftime("%H:%M"), "end": local_end.strftime("%H:%M")},
             "categories": {"agent": {"email": False}}}
    assert call("ann", "PUT", "/me/notification-preferences", prefs)[0] == 200
    assert call("ann", "GET", "/me/notification-preferences")[1]["quiet_hours"]["timezone"] is None
    quiet = call("admin", "POST", "/notifications", {"recipient_id": "ann", "category": "task", "title": "later"})[1]
    assert quiet["notifications"][0]["deliveries"]["email"]["status"] == "deferred"
    assert sent_mail() == []
    (schedule,) = schedules()
    payload = json.loads(schedule["Target"]["Input"])
    assert payload["kind"] == "deliver" and schedule["ActionAfterCompletion"] == "DELETE"
    urgent = call("admin", "POST", "/notifications", {"recipient_id": "ann", "category": "job", "priority": "urgent",
                                                       "title": "now"})[1]
    assert urgent["notifications"][0]["deliveries"]["email"]["status"] == "sent"
    opted_out = call("admin", "POST", "/notifications", {"recipient_id": "ann", "category": "agent",
                                                          "priority": "urgent", "title": "x"})[1]
    assert opted_out["notifications"][0]["deliveries"]["email"]["status"] == "skipped"
    # The schedule fires: the deferred e-mail goes out and its history shows both steps.
    with function_environment(ENV):
        assert workers.on_schedule(payload, lambda_context())["delivered"] is True
    (done,) = [n["deliveries"]["email"] for n in call("ann", "GET", "/notifications")[1]["items"]
               if n["id"] == payload["notification_id"]]
    assert done["status"] == "sent" and [h["status"] for h in done["history"]] == ["deferred", "sent"]
    assert len(sent_mail()) == 2


def test_a_send_at_a_time_is_scheduled_and_delivered_when_it_fires(aws: Any) -> None:
    at = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    status, sent = call("admin", "POST", "/notifications", {"recipient_id": "admin", "category": "system",
                                                             "title": "Tomorrow", "send_at": at.isoformat(),
                                                             "recurrence": "FREQ=DAILY;COUNT=2"})
    assert status == 201 and sent["notifications"] == [] and len(sent["scheduled"]) == 1
    (schedule,) = schedules()
    assert schedule["ScheduleExpression"] == f"at({at.strftime('%Y-%m-%dT%H:%M:%S')})"
    with function_environment(ENV):
        result = workers.on_schedule(json.loads(schedule["Target"]["Input"]), lambda_context())
    assert result["delivered"] is True and result["next"] is not None  # the second of two
    assert call("admin", "GET", "/notifications")[1]["items"][0]["title"] == "Tomorrow"


def test_templates_crud_preview_and_locale_fallback(aws: Any) -> None:
    status, problem = call("admin", "POST", "/notification-templates",
                           {"key": "job_failed", "locale": "fr", "subject": "Échec", "body": "{% if x %}oops"})
    assert status == 422 and "line 1" in problem["detail"]
    status, created = call("admin", "POST", "/notification-templates",
                           {"key": "job_failed", "locale": "fr", "subject": "Échec {{ job.id }}", "body": "Non."})
    assert status == 201 and created["version"] == 1
    assert call("ann", "POST", "/notification-templates", {"key": "x", "subject": "s", "body": "b"})[0] == 403
    preview = call("admin", "POST", "/notification-templates/preview",
                   {"key": "job_failed", "locale": "fr-CA", "data": {"job": {"id": "j9"}}})[1]
    assert preview == {"subject": "Échec j9", "body": "Non.", "locale": "fr"}
    assert call("admin", "POST", "/notification-templates/preview",
                {"key": "mention", "locale": "ja", "data": {}})[1]["locale"] == "en"
    stale = call("admin", "PUT", "/notification-templates/job_failed/fr", {"subject": "a", "body": "b"},
                 headers={"If-Match": '"7"'})
    assert stale[0] == 412
    assert call("admin", "PUT", "/notification-templates/job_failed/fr", {"subject": "a", "body": "b"},
                headers={"If-Match": '"1"'})[1]["version"] == 2
    keys = {(t["key"], t["locale"], t["predefined"]) for t in call("admin", "GET", "/notification-templates")[1]}
    assert ("job_failed", "fr", False) in keys and ("mention", "en", True) in keys
    assert call("eve", "GET", "/notification-templates/job_failed/fr", tenant="t2")[0] == 404
    assert call("admin", "DELETE", "/notification-templates/job_failed/fr")[0] == 204


def test_a_job_that_succeeds_notifies_its_owner(aws: Any) -> None:
    event = {"source": "crewhouse.jobs", "detail-type": "job.succeeded", "detail": {
        "job": {"tenant_id": "t1", "user_id": "ann", "job_id": "01JOB", "run": 1}, "type": "research",
        "result": {"note_id": "n1"}}}
    with function_environment(ENV):
        assert workers.on_domain_event(event, lambda_context())["notification_id"]
        assert workers.on_domain_event({**event, "detail": {"job": {"tenant_id": "t1", "user_id": "gone",
                                                                      "job_id": "x"}}},
                                       lambda_context())["notification_id"] is None
    (item,) = call("ann", "GET", "/notifications")[1]["items"]
    assert item["title"] == "Your research job finished" and item["link"] == "/jobs/01JOB"
    assert sent_mail()[0].destinations["ToAddresses"] == ["ann@example.com"]


def test_a_new_in_app_notification_is_announced_for_the_recipients_live_topic(aws: Any) -> None:
    from tests.support.event_inbox import event_inbox, sent_events

    boto3.client("events", region_name="us-east-1").create_event_bus(Name="crewhouse")
    inbox = event_inbox("crewhouse.notifications")
    status, sent = call("admin", "POST", "/notifications", {"recipient_id": "ann", "category": "system",
                                                             "title": "Live", "link": "/tasks"})
    assert status == 201, sent
    (event,) = sent_events(inbox)
    assert event["detail-type"] == "notification.created"
    detail = event["detail"]
    assert (detail["tenant_id"], detail["user_id"]) == ("t1", "ann")
    assert detail["notification"]["id"] == sent["notifications"][0]["id"]
    assert (detail["notification"]["title"], detail["notification"]["link"]) == ("Live", "/tasks")
