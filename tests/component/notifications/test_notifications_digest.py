"""The daily digest, in-process against moto with a fixed clock: a member who batches e-mail gets their low-priority
notifications in one e-mail a day at their local digest hour (one one-time schedule per digest), while the rest
of their e-mail goes at once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from crewhouse.core.settings import function_environment, load_settings
from crewhouse.notifications.logic import NotificationService
from crewhouse.notifications.models import Content
from crewhouse.notifications.settings import NotificationsSettings
from crewhouse.notifications.wiring import service_for
from tests.component.notifications.test_notifications_api import ENV, call, schedules, sent_mail
from tests.component.notifications.test_notifications_api import aws as aws

# The evening before Berlin's clocks go forward (2026-03-29, 02:00 -> 03:00): 08:00 there is 06:00 UTC.
EVENING = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)
DIGEST_AT = "2026-03-29T06:00:00Z"


def service() -> NotificationService:
    with function_environment(ENV):
        return service_for(load_settings(NotificationsSettings))


def deliver(svc: NotificationService, title: str, priority: str, now: datetime) -> dict[str, Any]:
    recipient = svc.directory.member("t1", "ann")
    assert recipient is not None
    content = Content(category="file", priority=priority, title=title, link="/files")  # type: ignore[arg-type]
    with function_environment(ENV):
        return svc.deliver("t1", recipient, content, now).model_dump(mode="json")


def test_low_priority_email_waits_for_the_daily_digest(aws: Any) -> None:
    assert call("ann", "PUT", "/me/notification-preferences", {"email_digest": {"hour": 8}})[0] == 200
    svc = service()
    first = deliver(svc, "Old files", "low", EVENING)
    second = deliver(svc, "More old files", "low", EVENING + timedelta(hours=1))
    for waiting in (first, second):
        assert waiting["deliveries"]["email"]["status"] == "deferred"
        assert waiting["deliveries"]["email"]["history"][0]["detail"] == f"daily digest at {DIGEST_AT}"
    urgent = deliver(svc, "Job failed", "normal", EVENING)
    assert urgent["deliveries"]["email"]["status"] == "sent"
    assert [m.subject for m in sent_mail()] == ["Job failed"]
    (schedule,) = schedules()  # one for the digest, made by its first item
    assert schedule["ScheduleExpression"] == "at(2026-03-29T06:00:00)"
    payload = json.loads(schedule["Target"]["Input"])
    assert payload == {"kind": "digest", "tenant_id": "t1", "user_id": "ann", "at": DIGEST_AT}
    # Preferences written meanwhile keep the pending digest.
    assert call("ann", "PUT", "/me/notification-preferences", {"email_digest": {"hour": 8}})[0] == 200

    fired = EVENING.replace(day=29, hour=6, second=3)
    with function_environment(ENV):
        result = svc.on_schedule(payload, fired)
    assert result["delivered"] is True and result["items"] == 2
    digest = sent_mail()[-1]
    assert digest.destinations["ToAddresses"] == ["ann@example.com"]
    assert digest.subject == "Your daily digest: 2 notifications"
    assert digest.body == ("- Old files (https://app.crewhouse.local/files)\n"
                           "- More old files (https://app.crewhouse.local/files)")
    items = {i["id"]: i for i in call("ann", "GET", "/notifications")[1]["items"]}
    for waited in (first, second):
        email = items[waited["id"]]["deliveries"]["email"]
        assert email["status"] == "sent" and email["history"][-1]["detail"] == result["message_id"]
    with function_environment(ENV):  # a repeated schedule run sends nothing
        assert svc.on_schedule(payload, fired)["delivered"] is False
    assert len(sent_mail()) == 2

    # The next low-priority one starts the next day's digest.
    deliver(svc, "Tomorrow's", "low", fired)
    assert sorted(s["ScheduleExpression"] for s in schedules()) == ["at(2026-03-29T06:00:00)",
                                                                  "at(2026-03-30T06:00:00)"]


def test_without_the_digest_preference_low_priority_goes_at_once(aws: Any) -> None:
    sent = deliver(service(), "Old files", "low", EVENING)
    assert sent["deliveries"]["email"]["status"] == "sent" and not schedules()


def test_a_digest_for_a_suppressed_address_is_skipped(aws: Any) -> None:
    assert call("ann", "PUT", "/me/notification-preferences", {"email_digest": {"hour": 8,
                                                                                 "timezone": "UTC"}})[0] == 200
    svc = service()
    waiting = deliver(svc, "Old files", "low", EVENING)
    assert waiting["deliveries"]["email"]["history"][0]["detail"] == "daily digest at 2026-03-29T08:00:00Z"
    svc.store.suppress_email("t1", "ann", {"address": "ann@example.com", "at": "2026-03-28T21:00:00Z"})
    (schedule,) = schedules()
    with function_environment(ENV):
        assert svc.on_schedule(json.loads(schedule["Target"]["Input"]), EVENING + timedelta(hours=12)) == {
            "delivered": False, "items": 1, "message_id": None}
    email = call("ann", "GET", "/notifications")[1]["items"][0]["deliveries"]["email"]
    assert email["status"] == "skipped" and email["error"].startswith("address suppressed after a hard bounce")
    assert sent_mail() == []


def test_a_digest_its_schedule_never_sent_goes_with_the_next_one(aws: Any) -> None:
    assert call("ann", "PUT", "/me/notification-preferences", {"email_digest": {"hour": 8}})[0] == 200
    svc = service()
    deliver(svc, "Stuck", "low", EVENING)  # its schedule (06:00 UTC) fails every retry
    later = deliver(svc, "Next day", "low", datetime(2026, 3, 29, 12, 0, tzinfo=UTC))
    assert later["deliveries"]["email"]["history"][0]["detail"] == "daily digest at 2026-03-30T06:00:00Z"
    assert sorted(s["ScheduleExpression"] for s in schedules()) == ["at(2026-03-29T06:00:00)",
                                                                  "at(2026-03-30T06:00:00)"]
    with function_environment(ENV):
        assert svc.on_schedule({"kind": "digest", "tenant_id": "t1", "user_id": "ann", "at": DIGEST_AT},
                               datetime(2026, 3, 29, 13, tzinfo=UTC))["delivered"] is False  # superseded
        sent = svc.on_schedule({"kind": "digest", "tenant_id": "t1", "user_id": "ann",
                                "at": "2026-03-30T06:00:00Z"}, datetime(2026, 3, 30, 6, tzinfo=UTC))
    assert sent["items"] == 2 and sent_mail()[-1].subject == "Your daily digest: 2 notifications"
