"""Rows for the notifications routes: sending (in-app, e-mail, push, webhook), read marks, push devices, webhooks
and their deliveries, and the tenant's templates.

They run as people of their own (``_people``), not as the cost user: a webhook or a push device turns a channel on
for every notification its owner gets, so one registered for the cost user would change the rows of other modules
that notify it (a job's notification). ``sender`` is the admin of a tenant with two more ``members``; ``sender`` has
one webhook and one push device, made once, so a notification to it goes out on every channel. ``hooks`` (the
admin of a tenant of their own, who is never notified) owns the webhooks and devices the other rows make and remove.

Webhook receivers are HTTP servers on loopback in this process (``tests.support.webhook_receiver``: local mode lets
the SSRF guard allow plain http to loopback), so no delivery goes to the network: each is one POST answered at once
with the status the row set, and its count does not depend on timing. Each prepare ends by aligning the tenant
block of the person whose token the run uses (as the test does for the cost user's) and letting their bucket go
idle, so each request is admitted with one UpdateItem."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crewhouse.notifications.adapters import KmsSecretBox
from tests.cost.catalog import Context, Effect, Metered
from tests.cost.operations.agents_support import align_as, alternate, bearer, new_person, ok, unique
from tests.support.webhook_receiver import WebhookReceiver

UNREAD = 3  # what "mark all read" finds unread
TEMPLATE = {"subject": "Week {{ week }} review", "body": "Hello {{ name }}, {{ count }} tasks are open."}
TEMPLATE_DATA = {"week": 49, "name": "Ada", "count": 4}


@dataclass
class Person:
    user_id: str
    headers: dict[str, str]


@dataclass
class People:
    sender: Person  # admin of the rows' tenant; one webhook (steady receiver) and one apns device
    members: list[Person]  # two more members of that tenant: the batch's recipients
    hooks: Person  # admin of a tenant of their own: the webhooks and devices rows
    steady: WebhookReceiver  # answers 200
    flaky: WebhookReceiver  # answers what the redrive row queues, then 200
    hook: dict[str, Any]  # hooks' webhook kept for the reads (to steady)
    template: str  # sender's tenant's template kept for the reads (locale en)


def _serve() -> WebhookReceiver:
    receiver = WebhookReceiver("/crewhouse")
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()  # ends with the test process
    return receiver


def _member_of(ctx: Context, admin: Person, who: str) -> Person:
    """A new person who accepted ``admin``'s invitation (an active member of the admin's tenant)."""
    person = new_person(ctx, who)
    email, user_id, token = person.email, person.user_id, person.id_token
    code = ok(ctx.api.post("/tenant/invitations", json={"email": email, "role": "member"},
                           headers=admin.headers), 201)["code"]
    ok(ctx.api.post("/invitations/accept", json={"code": code}, headers=bearer(token)))
    return Person(user_id, bearer(token))


def _people(ctx: Context) -> People:
    if "notifications_people" not in ctx.state:
        signed_up = new_person(ctx, "notify-sender")
        sender = Person(signed_up.user_id, bearer(signed_up.id_token))
        members = [_member_of(ctx, sender, f"notify-member{n}") for n in (1, 2)]
        signed_up = new_person(ctx, "notify-hooks")
        hooks = Person(signed_up.user_id, bearer(signed_up.id_token))
        steady, flaky = _serve(), _serve()
        ok(ctx.api.post("/notifications/webhooks", json={"url": steady.url, "description": "sender's"},
                        headers=sender.headers), 201)
        ok(ctx.api.post("/notifications/devices", json={"platform": "apns", "token": unique("sender-phone")},
                        headers=sender.headers), 201)
        hook = ok(ctx.api.post("/notifications/webhooks", json={"url": steady.url, "description": "kept"},
                               headers=hooks.headers), 201)
        for _ in range(2):  # its deliveries list holds something
            assert ok(ctx.api.post(f"/notifications/webhooks/{hook['id']}/test",
                                   headers=hooks.headers))["status"] == "delivered"
        template = unique("weekly")
        ok(ctx.api.post("/notification-templates", json={"key": template, "locale": "en", **TEMPLATE},
                        headers=sender.headers), 201)
        ctx.state["notifications_people"] = People(sender, members, hooks, steady, flaky, hook, template)
    people: People = ctx.state["notifications_people"]
    return people


def _ready(ctx: Context, person: Person) -> None:
    """The person's next request is the 2nd of a tenant block, and their bucket is idle (a request within 50 ms of
    the last one would be admitted with a second UpdateItem)."""
    align_as(ctx, person.headers)
    time.sleep(0.1)


def _etag(ctx: Context, path: str, person: Person) -> str:
    response = ctx.api.get(path, headers=person.headers)
    ok(response)
    return str(response.headers["etag"])


# --- sending and reading ------------------------------------------------------------------------------------


def _send_to_sender(ctx: Context, people: People, title: str) -> dict[str, Any]:
    sent = ok(ctx.api.post("/notifications", json={"recipient_id": people.sender.user_id, "category": "system",
                                                   "title": title, "body": "The quarterly report is ready."},
                           headers=people.sender.headers), 201)
    return dict(sent["notifications"][0])


def _sender_ready(ctx: Context) -> People:
    people = _people(ctx)
    _ready(ctx, people.sender)
    return people


def send(ctx: Context, people: People) -> Effect:
    """To the sender themselves: stored in-app, announced (the live update's fan-out), e-mailed (SES), pushed to
    their one device (SNS) and queued for their one webhook; the worker's signed POST to the loopback receiver (one
    attempt, answered 200) and its records are counted. The worker's KMS Decrypt of the signing secret is cached
    per container for 5 minutes (warm here). SES's delivery event is not: the embedded SES publishes none."""
    notification = _send_to_sender(ctx, people, "Report ready")
    [delivery] = [history["history"][-1]["detail"].removeprefix("delivery ")
                  for channel, history in notification["deliveries"].items() if channel.startswith("webhook:")]
    assert notification["deliveries"]["email"]["status"] == "sent", notification["deliveries"]
    assert [h["status"] for c, h in notification["deliveries"].items() if c.startswith("push:")] == ["sent"]
    return lambda: any(r.headers.get("crewhouse-delivery") == delivery for r in people.steady.received)


def send_batch(ctx: Context, people: People) -> Effect:
    """One notification to two members with the default channels (in-app and e-mail; no device, no webhook)."""
    sent = ok(ctx.api.post("/notifications/batch", json={
        "recipient_ids": [m.user_id for m in people.members], "category": "system", "title": "Office closed Friday",
        "body": "The office is closed on Friday."}, headers=people.sender.headers), 201)
    assert len(sent["notifications"]) == 2, sent
    return None


def _one_unread(ctx: Context) -> tuple[People, str]:
    people = _people(ctx)
    notification = _send_to_sender(ctx, people, "Read me")
    _ready(ctx, people.sender)
    return people, str(notification["id"])


def mark_read(ctx: Context, argument: tuple[People, str]) -> Effect:
    people, notification = argument
    assert ok(ctx.api.post(f"/notifications/{notification}/read", headers=people.sender.headers))["read_at"]
    return None


def _unread(ctx: Context) -> People:
    """Exactly ``UNREAD`` unread notifications: the count of UpdateItems follows them."""
    people = _people(ctx)
    ok(ctx.api.post("/notifications/read-all", headers=people.sender.headers))
    for n in range(UNREAD):
        _send_to_sender(ctx, people, f"Unread {n + 1}")
    _ready(ctx, people.sender)
    return people


def read_all(ctx: Context, people: People) -> Effect:
    assert ok(ctx.api.post("/notifications/read-all", headers=people.sender.headers))["marked"] == UNREAD
    return None


# --- push devices (hooks') ----------------------------------------------------------------------------------


def _no_devices(ctx: Context) -> People:
    """None of hooks' devices left (at most 10 a user)."""
    people = _people(ctx)
    for device in ok(ctx.api.get("/notifications/devices", headers=people.hooks.headers)):
        response = ctx.api.delete(f"/notifications/devices/{device['id']}", headers=people.hooks.headers)
        assert response.status_code == 204, response.text
    return people


def _device_token(ctx: Context) -> tuple[People, str]:
    people = _no_devices(ctx)
    _ready(ctx, people.hooks)
    return people, unique("phone-token")


def register_device(ctx: Context, argument: tuple[People, str]) -> Effect:
    people, token = argument
    ok(ctx.api.post("/notifications/devices", json={"platform": "fcm", "token": token},
                    headers=people.hooks.headers), 201)
    return None


def _device(ctx: Context) -> tuple[People, str]:
    people = _no_devices(ctx)
    device = ok(ctx.api.post("/notifications/devices", json={"platform": "fcm", "token": unique("old-phone")},
                             headers=people.hooks.headers), 201)
    _ready(ctx, people.hooks)
    return people, str(device["id"])


def remove_device(ctx: Context, argument: tuple[People, str]) -> Effect:
    people, device = argument
    response = ctx.api.delete(f"/notifications/devices/{device}", headers=people.hooks.headers)
    assert response.status_code == 204, response.text
    return None


# --- webhooks (hooks') ----------------------------------------------------------------------------------------


def _pruned(ctx: Context) -> People:
    """Only hooks' kept webhook left (at most 10 a user): the rows that make one start from the same list."""
    people = _people(ctx)
    for hook in ok(ctx.api.get("/notifications/webhooks", headers=people.hooks.headers)):
        if hook["id"] != people.hook["id"]:
            response = ctx.api.delete(f"/notifications/webhooks/{hook['id']}",
                                      headers={**people.hooks.headers, "If-Match": f'"{hook["version"]}"'})
            assert response.status_code == 204, response.text
    return people


def _fresh_hook(ctx: Context, url: str) -> tuple[People, dict[str, Any]]:
    people = _pruned(ctx)
    response = ctx.api.post("/notifications/webhooks", json={"url": url, "description": "fresh"},
                            headers=people.hooks.headers)
    hook = {**ok(response, 201), "etag": response.headers["etag"]}
    return people, hook


def _hooks_ready(ctx: Context) -> People:
    people = _pruned(ctx)
    _ready(ctx, people.hooks)
    return people


def create_webhook(ctx: Context, people: People) -> Effect:
    """To the loopback receiver (its SSRF check resolves no name); hooks' preferences name the webhook channel
    already (their first webhook switched it on), so no preferences write."""
    ok(ctx.api.post("/notifications/webhooks", json={"url": people.steady.url, "categories": ["job", "task"]},
                    headers=people.hooks.headers), 201)
    return None


def get_webhook(ctx: Context, people: People) -> Effect:
    ok(ctx.api.get(f"/notifications/webhooks/{people.hook['id']}", headers=people.hooks.headers))
    return None


def _etag_of(path: Callable[[People], str], who: Callable[[People], Person]) -> Callable[[Context], tuple[People, str]]:
    """A prepare for an If-Match write: the resource's current ETag, then its writer made ready."""
    def prepare(ctx: Context) -> tuple[People, str]:
        people = _people(ctx)
        etag = _etag(ctx, path(people), who(people))
        _ready(ctx, who(people))
        return people, etag
    return prepare


_hook_etag = _etag_of(lambda people: f"/notifications/webhooks/{people.hook['id']}", lambda people: people.hooks)


def edit_webhook(ctx: Context, argument: tuple[People, str]) -> Effect:
    people, etag = argument
    hook_note = alternate(ctx, "notifications_hook_note", "CI", "Ops")
    ok(ctx.api.patch(f"/notifications/webhooks/{people.hook['id']}",
                     json={"description": hook_note},
                     headers={**people.hooks.headers, "If-Match": etag}))
    return None


def _hook_to_delete(ctx: Context) -> tuple[People, dict[str, Any]]:
    people, hook = _fresh_hook(ctx, _people(ctx).steady.url)
    _ready(ctx, people.hooks)
    return people, hook


def delete_webhook(ctx: Context, argument: tuple[People, dict[str, Any]]) -> Effect:
    people, hook = argument
    response = ctx.api.delete(f"/notifications/webhooks/{hook['id']}",
                              headers={**people.hooks.headers, "If-Match": hook["etag"]})
    assert response.status_code == 204, response.text
    return None


def deliveries(ctx: Context, people: People) -> Effect:
    page = ok(ctx.api.get(f"/notifications/webhooks/{people.hook['id']}/deliveries", headers=people.hooks.headers))
    assert page["items"], page
    return None


def _hook_to_ping(ctx: Context) -> tuple[People, dict[str, Any]]:
    people, hook = _fresh_hook(ctx, _people(ctx).steady.url)
    _ready(ctx, people.hooks)
    return people, hook


def ping(ctx: Context, argument: tuple[People, dict[str, Any]]) -> Effect:
    """A webhook just registered: its secret is opened (KMS Decrypt) for the first time, then one signed POST to
    the loopback receiver, answered 200 before the API answers."""
    people, hook = argument
    assert ok(ctx.api.post(f"/notifications/webhooks/{hook['id']}/test",
                           headers=people.hooks.headers))["status"] == "delivered"
    return None


def _failed_ping(ctx: Context) -> tuple[People, str, str]:
    """A test ping the flaky receiver answered 500 (a ``failed`` delivery; redrivable like a dead one).

    The ping opened the webhook's secret in the webhooks API function; the functions share this process here, so
    the delivery worker would find it opened, where on AWS it is another function's container: forgotten, so the
    worker's KMS Decrypt is counted (a redrive comes long after the secret's 5 minutes in a container)."""
    people, hook = _fresh_hook(ctx, _people(ctx).flaky.url)
    people.flaky.answers.append(500)
    failed = ok(ctx.api.post(f"/notifications/webhooks/{hook['id']}/test", headers=people.hooks.headers))
    assert failed["status"] == "failed" and not people.flaky.answers, failed
    opened = KmsSecretBox._opened
    for key in [key for key in opened if dict(key[1]).get("webhook_id") == hook["id"]]:
        opened.pop(key, None)
    _ready(ctx, people.hooks)
    return people, str(hook["id"]), str(failed["id"])


def redrive(ctx: Context, argument: tuple[People, str, str]) -> Effect:
    """The API queues it (SQS); the worker's one attempt (the receiver answers 200 now) and its record count."""
    people, hook, delivery = argument
    queued = ok(ctx.api.post(f"/notifications/webhooks/{hook}/deliveries/{delivery}/redrive",
                             headers=people.hooks.headers), 202)
    assert queued["status"] == "queued", queued
    return lambda: sum(r.headers.get("crewhouse-delivery") == delivery for r in people.flaky.received) == 2


# --- templates (sender's tenant) -----------------------------------------------------------------------------


def create_template(ctx: Context, people: People) -> Effect:
    ok(ctx.api.post("/notification-templates", json={"key": unique("standup"), "locale": "en", **TEMPLATE},
                    headers=people.sender.headers), 201)
    return None


def preview(ctx: Context, people: People) -> Effect:
    """The tenant's own template in ``en`` (found at the first locale tried), rendered with the data given."""
    rendered = ok(ctx.api.post("/notification-templates/preview", json={
        "key": people.template, "locale": "en", "data": TEMPLATE_DATA}, headers=people.sender.headers))
    assert rendered["subject"] == "Week 49 review", rendered
    return None


def get_template(ctx: Context, people: People) -> Effect:
    ok(ctx.api.get(f"/notification-templates/{people.template}/en", headers=people.sender.headers))
    return None


_template_etag = _etag_of(lambda people: f"/notification-templates/{people.template}/en", lambda people: people.sender)


def replace_template(ctx: Context, argument: tuple[People, str]) -> Effect:
    people, etag = argument
    week = alternate(ctx, "notifications_week", "Week", "Sprint")
    ok(ctx.api.put(f"/notification-templates/{people.template}/en",
                   json={**TEMPLATE, "subject": f"{week} {{{{ week }}}} review"},
                   headers={**people.sender.headers, "If-Match": etag}))
    return None


def _template_to_delete(ctx: Context) -> tuple[People, str, str]:
    people = _people(ctx)
    key = unique("retired")
    response = ctx.api.post("/notification-templates", json={"key": key, "locale": "en", **TEMPLATE},
                            headers=people.sender.headers)
    ok(response, 201)
    _ready(ctx, people.sender)
    return people, key, str(response.headers["etag"])


def delete_template(ctx: Context, argument: tuple[People, str, str]) -> Effect:
    people, key, etag = argument
    response = ctx.api.delete(f"/notification-templates/{key}/en",
                              headers={**people.sender.headers, "If-Match": etag})
    assert response.status_code == 204, response.text
    return None


def _hooks_only(ctx: Context) -> People:
    people = _people(ctx)
    _ready(ctx, people.hooks)
    return people


METERED = [
    Metered("send a notification (in-app, e-mail, push, webhook)", ("POST /notifications",), send, _sender_ready),
    Metered("send a notification to 2 members (in-app, e-mail)", ("POST /notifications/batch",), send_batch,
            _sender_ready),
    Metered("mark a notification read", ("POST /notifications/{notification_id}/read",), mark_read, _one_unread),
    Metered(f"mark all notifications read ({UNREAD} unread)", ("POST /notifications/read-all",), read_all, _unread),
    Metered("register a push device", ("POST /notifications/devices",), register_device, _device_token),
    Metered("remove a push device", ("DELETE /notifications/devices/{device_id}",), remove_device, _device),
    Metered("register a webhook", ("POST /notifications/webhooks",), create_webhook, _hooks_ready),
    Metered("get a webhook", ("GET /notifications/webhooks/{webhook_id}",), get_webhook, _hooks_only),
    Metered("edit a webhook", ("PATCH /notifications/webhooks/{webhook_id}",), edit_webhook, _hook_etag),
    Metered("delete a webhook", ("DELETE /notifications/webhooks/{webhook_id}",), delete_webhook, _hook_to_delete),
    Metered("a webhook's deliveries", ("GET /notifications/webhooks/{webhook_id}/deliveries",), deliveries,
            _hooks_only),
    Metered("webhook test ping", ("POST /notifications/webhooks/{webhook_id}/test",), ping, _hook_to_ping),
    Metered("redrive a failed webhook delivery",
            ("POST /notifications/webhooks/{webhook_id}/deliveries/{delivery_id}/redrive",), redrive, _failed_ping),
    Metered("create a notification template", ("POST /notification-templates",), create_template, _sender_ready),
    Metered("preview a notification template", ("POST /notification-templates/preview",), preview, _sender_ready),
    Metered("get a notification template", ("GET /notification-templates/{key}/{locale}",), get_template,
            _sender_ready),
    Metered("edit a notification template", ("PUT /notification-templates/{key}/{locale}",), replace_template,
            _template_etag),
    Metered("delete a notification template", ("DELETE /notification-templates/{key}/{locale}",), delete_template,
            _template_to_delete),
]
