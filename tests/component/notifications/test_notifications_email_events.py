"""SES's events of the configuration set (moto publishes none: the events/ samples stand in) on the notification's
e-mail history: found by the tags the e-mail was sent with and checked against its stored message id; a hard
bounce or a complaint suppresses the address, so later e-mail to it is skipped and says why, until the member lifts
it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from crewhouse.core.settings import function_environment
from crewhouse.notifications import workers
from crewhouse.notifications.logic import email_reference, email_tags
from tests.component.notifications.test_notifications_api import ENV, call, sent_mail
from tests.component.notifications.test_notifications_api import aws as aws
from tests.support.events import lambda_context

EVENTS = Path(__file__).resolve().parents[3] / "events"


def sample(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / f"notifications-ses-{name}.json").read_text()))


def notify(title: str) -> dict[str, Any]:
    status, sent = call("admin", "POST", "/notifications", {"recipient_id": "ann", "category": "system",
                                                             "title": title, "body": "Hello"})
    assert status == 201, sent
    return dict(sent["notifications"][0])


def about(event: dict[str, Any], notification: dict[str, Any], tenant: str = "t1", user: str = "ann",
          message_id: str | None = None) -> dict[str, Any]:
    """The sample, for this notification's e-mail (its tags and the message id SES answered)."""
    event = copy.deepcopy(event)
    mail = event["detail"]["mail"]
    mail["tags"].update({k: [v] for k, v in email_tags(tenant, user, notification["id"]).items()})
    mail["messageId"] = message_id or notification["deliveries"]["email"]["history"][-1]["detail"]
    return event


def consume(event: dict[str, Any]) -> dict[str, Any]:
    with function_environment(ENV):
        return workers.on_email_event(event, lambda_context())


def email_history(notification_id: str, user: str = "ann") -> dict[str, Any]:
    items = call(user, "GET", "/notifications")[1]["items"]
    return dict(next(i for i in items if i["id"] == notification_id)["deliveries"]["email"])


def test_the_email_is_sent_with_the_tags_its_events_come_back_with(aws: Any) -> None:
    notify("Tagged")
    assert email_reference({k: [v] for k, v in email_tags("t1", "ann", "01N").items()}) == ("t1", "ann", "01N")
    odd = email_tags("tenant.with/odd+chars", "ann@x", "01N")
    assert all(set(v) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") for v in odd.values())
    assert email_reference({k: [v] for k, v in odd.items()}) == ("tenant.with/odd+chars", "ann@x", "01N")
    assert email_reference({"crewhouse-tenant": ["t1"]}) is None
    assert sent_mail()  # moto accepts EmailTags (and keeps no tags: the consumer is tested with samples)


def test_delivered_then_complained_are_recorded_once_each_on_the_history(aws: Any) -> None:
    notification = notify("Delivered")
    delivered = about(sample("delivered"), notification)
    assert consume(delivered) == {"recorded": True, "status": "delivered", "notification_id": notification["id"]}
    assert consume(delivered)["recorded"] is False  # EventBridge delivers at least once
    assert consume(about(sample("complaint"), notification))["status"] == "complained"
    history = email_history(notification["id"])
    assert [h["status"] for h in history["history"]] == ["sent", "delivered", "complained"]
    assert history["status"] == "complained" and history["attempts"] == 1
    assert history["history"][1]["at"] == "2026-11-27T09:00:07.902000Z"
    assert history["history"][2]["error"] == "the recipient marked it as spam (abuse)"


def test_a_complaint_suppresses_the_address_like_a_hard_bounce(aws: Any) -> None:
    notification = notify("Spam to them")
    assert consume(about(sample("complaint"), notification))["suppressed"] == "ann@example.com"
    suppressed = call("ann", "GET", "/me/notification-preferences")[1]["email_suppressed"]
    assert suppressed["address"] == "ann@example.com" and suppressed["cause"] == "complaint"
    mails = len(sent_mail())
    later = notify("After the complaint")
    assert later["deliveries"]["email"]["status"] == "skipped" and len(sent_mail()) == mails
    assert later["deliveries"]["email"]["error"].startswith("address suppressed after a complaint on 2026-11-27")
    assert call("ann", "DELETE", "/me/notification-preferences/email-suppression")[0] == 204
    assert notify("Lifted")["deliveries"]["email"]["status"] == "sent"


def test_an_event_that_is_not_this_notifications_changes_nothing(aws: Any) -> None:
    notification = notify("Mine")
    for event in (about(sample("bounced"), notification, message_id="someone-elses-message"),
                  about(sample("bounced"), notification, tenant="t2"),  # another tenant's key: no such notification
                  about(sample("bounced"), {"id": "01NOPE"}, message_id="x"),
                  sample("bounced"),  # the sample's own tags name nobody here
                  {**sample("bounced"), "detail": {**sample("bounced")["detail"], "eventType": "Open"}}):
        assert consume(event)["recorded"] is False
    assert [h["status"] for h in email_history(notification["id"])["history"]] == ["sent"]
    assert call("ann", "GET", "/me/notification-preferences")[1]["email_suppressed"] is None


def test_a_hard_bounce_suppresses_the_address_until_lifted(aws: Any) -> None:
    assert call("ann", "PUT", "/me/notification-preferences", {"categories": {"job": {"email": False}}})[0] == 200
    first = notify("Bounces")
    bounced = about(sample("bounced"), first)
    bounced["detail"]["bounce"]["bouncedRecipients"][0]["emailAddress"] = "ANN@example.com"
    assert consume(bounced)["suppressed"] == "ANN@example.com"
    history = email_history(first["id"])
    assert history["status"] == "bounced"
    assert history["error"] == "Permanent bounce (General): smtp; 550 5.1.1 user unknown"
    prefs = call("ann", "GET", "/me/notification-preferences")[1]
    assert prefs["email_suppressed"]["address"] == "ANN@example.com"
    assert prefs["email_suppressed"]["notification_id"] == first["id"]
    assert prefs["categories"] == {"job": {"email": False}}  # the member's own preferences are kept

    # Later e-mail to that address is skipped, saying why; the inbox still gets it.
    mails = len(sent_mail())
    later = notify("After the bounce")
    assert later["deliveries"]["email"]["status"] == "skipped"
    assert later["deliveries"]["email"]["error"].startswith("address suppressed after a hard bounce on 2026-11-27")
    assert later["deliveries"]["in_app"]["status"] == "delivered" and len(sent_mail()) == mails

    # Changing one's preferences keeps the suppression (it is not the member's to write) ...
    put = call("ann", "PUT", "/me/notification-preferences", {"channels": {"in_app": True, "email": True}})
    assert put[0] == 200 and put[1]["email_suppressed"]["address"] == "ANN@example.com"
    resent = call("ann", "PUT", "/me/notification-preferences", {**put[1], "email_suppressed": None})  # read-only
    assert resent[0] == 200 and resent[1]["email_suppressed"]["address"] == "ANN@example.com"
    # ... a soft bounce suppresses nothing, and lifting it sends e-mail again; lifting twice is a 404.
    assert call("ann", "DELETE", "/me/notification-preferences/email-suppression")[0] == 204
    assert call("ann", "DELETE", "/me/notification-preferences/email-suppression")[0] == 404
    soft_target = notify("Soft")
    soft = about(sample("bounced"), soft_target)
    soft["detail"]["bounce"]["bounceType"] = "Transient"
    assert "suppressed" not in consume(soft)
    assert notify("Again")["deliveries"]["email"]["status"] == "sent"
    assert call("eve", "DELETE", "/me/notification-preferences/email-suppression", tenant="t2")[0] == 404


def test_a_deferred_email_is_skipped_when_the_address_bounced_meanwhile(aws: Any) -> None:
    assert call("ann", "PUT", "/me/notification-preferences", {
        "quiet_hours": {"start": "00:00", "end": "23:59", "timezone": "UTC"}})[0] == 200
    waiting = notify("Waits")
    assert waiting["deliveries"]["email"]["status"] == "deferred"
    status, urgent = call("admin", "POST", "/notifications", {"recipient_id": "ann", "category": "system",
                                                               "title": "Now", "priority": "urgent"})
    sent = urgent["notifications"][0]  # urgent passes the quiet hours: sent, and then it bounces
    assert status == 201 and sent["deliveries"]["email"]["status"] == "sent"
    assert consume(about(sample("bounced"), sent))["suppressed"] == "ann@example.com"
    with function_environment(ENV):
        fired = workers.on_schedule({"kind": "deliver", "tenant_id": "t1", "user_id": "ann",
                                     "notification_id": waiting["id"], "channel": "email"}, lambda_context())
    assert fired == {"delivered": False}
    history = email_history(waiting["id"])
    assert [h["status"] for h in history["history"]] == ["deferred", "skipped"]
    assert history["error"].startswith("address suppressed after a hard bounce")
