"""The notifications service: who may send, to whom, what (templates), when (now, at a time, recurring,
after quiet hours) and through which channels (preferences); the inbox; the bus's events as notifications.

Pure: it talks to ports (the store, the directory of members and profiles, the mailer, the scheduler)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ulid import ULID

from crewhouse.core.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationProblem
from crewhouse.core.etag import require_version
from crewhouse.core.identity import Identity
from crewhouse.notifications import templates
from crewhouse.notifications.models import (
    MAX_DEVICES,
    BatchSend,
    Content,
    DeliveryHistory,
    Device,
    DeviceRegister,
    EmailSuppression,
    Notification,
    NotificationSend,
    Preferences,
    PreferencesView,
    Preview,
    Rendered,
    ScheduledSend,
    Sent,
    Template,
    TemplateBody,
    TemplateCreate,
)
from crewhouse.notifications.quiet_hours import next_local_hour, quiet_until
from crewhouse.notifications.webhooks import WebhookService

Item = dict[str, Any]
Resume = dict[str, Any]
# A send this close to now (or in the past) goes out at once rather than through a schedule.
IMMEDIATE_WITHIN = timedelta(seconds=30)
MIN_RECURRENCE = timedelta(hours=1)
MAX_READ_ALL = 1000


class NotificationStore(Protocol):
    def add(self, tenant_id: str, user_id: str, item: Item, *, listed: bool) -> None: ...
    def get(self, tenant_id: str, user_id: str, notification_id: str) -> Item | None: ...
    def page(self, tenant_id: str, user_id: str, *, limit: int, start: Resume | None,
             unread_only: bool) -> tuple[list[Item], Resume | None]: ...
    def unread_count(self, tenant_id: str, user_id: str) -> int: ...
    def unread_ids(self, tenant_id: str, user_id: str, limit: int) -> list[str]: ...
    def mark_read(self, tenant_id: str, user_id: str, notification_id: str, at: str) -> Item | None: ...
    def record_delivery(self, tenant_id: str, user_id: str, notification_id: str, channel: str,
                        history: Item) -> None: ...
    def template(self, tenant_id: str, key: str, locale: str) -> Item | None: ...
    def templates(self, tenant_id: str) -> list[Item]: ...
    def add_template(self, tenant_id: str, item: Item) -> None: ...
    def replace_template(self, tenant_id: str, item: Item, expected_version: int) -> None: ...
    def delete_template(self, tenant_id: str, key: str, locale: str) -> None: ...
    def preferences(self, tenant_id: str, user_id: str) -> Item | None: ...
    def put_preferences(self, tenant_id: str, user_id: str, item: Item) -> None: ...
    def suppress_email(self, tenant_id: str, user_id: str, suppression: Item | None) -> None: ...
    def add_device(self, tenant_id: str, user_id: str, device: Item, *, at_most: int) -> bool: ...
    def remove_device(self, tenant_id: str, user_id: str, device_id: str) -> bool: ...
    def add_digest_item(self, tenant_id: str, user_id: str, entry: Item, at: str, *,
                        due_again: bool = False) -> bool: ...
    def take_digest(self, tenant_id: str, user_id: str, at: str, count: int) -> bool: ...
    def add_pending(self, tenant_id: str, item: Item) -> None: ...
    def pending(self, tenant_id: str, pending_id: str) -> Item | None: ...
    def update_pending(self, tenant_id: str, item: Item) -> None: ...
    def delete_pending(self, tenant_id: str, pending_id: str) -> None: ...


@dataclass(frozen=True)
class Recipient:
    user_id: str
    email: str | None
    timezone: str | None = None
    locale: str | None = None


class Directory(Protocol):
    def member(self, tenant_id: str, user_id: str) -> Recipient | None:
        """An active member of the tenant with their address and profile; None for anyone else."""


class Mailer(Protocol):
    def send(self, to: str, subject: str, text: str, tags: Mapping[str, str] | None = None) -> str:
        """Send; the provider's message id. ``tags`` come back on the provider's delivery events."""


class Schedules(Protocol):
    def at(self, name: str, when: datetime, payload: Mapping[str, Any]) -> None: ...


class EndpointGone(Exception):
    """The push endpoint is disabled (the platform refused its token) or no longer exists."""


class TokenTaken(Exception):
    """The device token is registered to another user (or the same user in another tenant)."""


class Pusher(Protocol):
    """Mobile push (SNS platform endpoints of the deployer's FCM and APNs platform applications)."""

    def platforms(self) -> tuple[str, ...]:
        """The platforms configured in this deployment (none: push is off)."""

    def register(self, platform: str, token: str, user_data: str) -> str:
        """The endpoint ARN of the token (the same one when registered again); TokenTaken when another owns it."""

    def publish(self, endpoint_arn: str, platform: str, title: str, body: str, data: Mapping[str, str]) -> str:
        """The message id; EndpointGone when the endpoint is disabled or missing."""

    def delete(self, endpoint_arn: str) -> None: ...


class Owners(Protocol):
    """Who a bus event is for when its detail does not name them: read by key in the owning context."""

    def agent_owner(self, tenant_id: str, agent_id: str) -> str | None:
        """The user who registered the agent (None: unknown, or registered by another agent)."""

    def execution_starter(self, tenant_id: str, execution_id: str) -> str | None:
        """The user who started the flow execution (None: unknown)."""


@dataclass(frozen=True)
class EventNotice:
    """A bus event as a notification: whose (``user_id``, or the owner of ``owner_of`` to look up), what, and
    a ``deadline`` past which quiet hours may not defer the e-mail (a flow approval that would expire unseen)."""

    tenant_id: str
    user_id: str | None
    content: Content
    owner_of: tuple[str, str] | None = None  # ("agent", id) or ("execution", id)
    deadline: datetime | None = None


@dataclass
class NotificationService:
    store: NotificationStore
    directory: Directory
    mailer: Mailer
    schedules: Schedules
    app_url: str = "https://app.crewhouse.local"
    webhooks: WebhookService | None = None  # the webhook channel (None: not configured in this function)
    owners: Owners | None = None  # the recipients of events that do not name them (agent.offline, approvals)
    # Puts (detail type, detail) on the bus: a new in-app notification reaches the recipient's live `notifications`
    # topic (crewhouse.core.events.Announcer.publish; a lost event is only a missed live update).
    announce: Callable[[str, Mapping[str, Any]], bool] | None = None
    pusher: Pusher | None = None  # mobile push (None: not configured in this function)

    # --- the inbox -----------------------------------------------------------------------------------------

    def inbox(self, identity: Identity, *, limit: int, start: Resume | None,
              unread_only: bool = False) -> tuple[list[Notification], Resume | None]:
        items, resume = self.store.page(identity.tenant_id, identity.user_id, limit=limit, start=start,
                                        unread_only=unread_only)
        return [Notification.model_validate(i) for i in items], resume

    def unread(self, identity: Identity) -> int:
        return self.store.unread_count(identity.tenant_id, identity.user_id)

    def one(self, identity: Identity, notification_id: str) -> Notification:
        item = self.store.get(identity.tenant_id, identity.user_id, notification_id)
        if item is None:
            raise NotFound("No such notification.")
        return Notification.model_validate(item)

    def mark_read(self, identity: Identity, notification_id: str, now: datetime) -> Notification:
        item = self.store.mark_read(identity.tenant_id, identity.user_id, notification_id, _iso(now))
        if item is None:
            raise NotFound("No such notification.")
        return Notification.model_validate(item)

    def mark_all_read(self, identity: Identity, now: datetime) -> int:
        ids = self.store.unread_ids(identity.tenant_id, identity.user_id, MAX_READ_ALL)
        for notification_id in ids:
            self.store.mark_read(identity.tenant_id, identity.user_id, notification_id, _iso(now))
        return len(ids)

    # --- sending -------------------------------------------------------------------------------------------

    def send(self, identity: Identity, request: NotificationSend | BatchSend, now: datetime) -> Sent:
        require_sender(identity)
        ids = [request.recipient_id] if isinstance(request, NotificationSend) else list(dict.fromkeys(
            request.recipient_ids))
        recipients = []
        for user_id in ids:
            recipient = self.directory.member(identity.tenant_id, user_id)
            if recipient is None:
                raise ValidationProblem(f"The recipient {user_id} is not a member of this tenant.",
                                        slug="unknown-recipient", recipient_id=user_id,
                                        errors=[{"path": "body.recipient_id", "message": f"{user_id} is not a "
                                                 "member of this tenant", "type": "unknown_recipient"}])
            recipients.append(recipient)
        self._template_source(identity.tenant_id, request.template, None, request.category)  # 422 early
        first = _first_occurrence(request.send_at, request.recurrence, request.timezone, now)
        content = Content.model_validate(request.model_dump(include=set(Content.model_fields)))
        sent = Sent()
        if first is None or first <= now + IMMEDIATE_WITHIN:
            for recipient in recipients:
                sent.notifications.append(self.deliver(identity.tenant_id, recipient, content, now,
                                                       sender_id=identity.user_id))
            if not request.recurrence:
                return sent
            first = _next_occurrence(request.recurrence, request.send_at or now, request.timezone, now)
            if first is None:
                return sent
        for recipient in recipients:
            pending_id = str(ULID())
            pending = {"id": pending_id, "recipient_id": recipient.user_id, "content": content.model_dump(),
                       "send_at": _iso(first), "recurrence": request.recurrence, "timezone": request.timezone,
                       "anchor": _iso(request.send_at or now), "sender_id": identity.user_id, "runs": 0,
                       "created_at": _iso(now)}
            self.store.add_pending(identity.tenant_id, pending)
            self.schedules.at(_schedule_name("s", pending_id, 0), first,
                              {"kind": "send", "tenant_id": identity.tenant_id, "pending_id": pending_id})
            sent.scheduled.append(ScheduledSend(id=pending_id, recipient_id=recipient.user_id, send_at=first,
                                                recurrence=request.recurrence))
        return sent

    def deliver(self, tenant_id: str, recipient: Recipient, content: Content, now: datetime, *,
                sender_id: str | None = None, deadline: datetime | None = None) -> Notification:
        """Store the notification (in-app unless opted out) and send or defer its e-mail, per preferences."""
        subject, body = content.title or "", content.body
        if content.template:
            subject, body, _ = self._render(tenant_id, content.template, recipient.locale, content.data,
                                            content.category)
        prefs, kept = self._preferences_kept(tenant_id, recipient.user_id)
        suppressed = EmailSuppression.model_validate(kept[SUPPRESSION]) if kept.get(SUPPRESSION) else None
        devices = dict(kept.get(DEVICES) or {})
        notification_id = str(ULID())
        deliveries: dict[str, DeliveryHistory] = {}
        in_app = prefs.allows("in_app", content.category)
        deliveries["in_app"] = _history("delivered" if in_app else "skipped", now,
                                        error=None if in_app else "opted out")
        email_wanted = prefs.allows("email", content.category)
        deferred_until = self._quiet_until(prefs, recipient, content, now) if email_wanted else None
        if deferred_until is not None and deadline is not None and deferred_until >= deadline:
            deferred_until = None  # after the quiet hours it would be too late: it goes now
        digest_at = None  # low priority, and the member batches it: the day's digest e-mail (not quiet hours)
        pending_at = _parsed(kept.get(DIGEST_AT))
        overdue = pending_at is not None and pending_at < now - DIGEST_OVERDUE  # its schedule never sent it
        if content.priority == "low" and prefs.email_digest is not None and email_wanted:
            digest_at = (None if overdue else pending_at) or next_local_hour(
                now, prefs.email_digest.hour, prefs.email_digest.timezone or recipient.timezone or "UTC")
        if not email_wanted:
            deliveries["email"] = _history("skipped", now, error="opted out")
        elif not recipient.email:
            deliveries["email"] = _history("skipped", now, error="no e-mail address")
        elif _suppressed(suppressed, recipient.email):
            deliveries["email"] = _history("skipped", now, error=_suppressed(suppressed, recipient.email))
        elif digest_at is not None:
            deliveries["email"] = _history("deferred", now, detail=f"daily digest at {_iso(digest_at)}",
                                           attempted=False)
        elif deferred_until is not None:
            deliveries["email"] = _history("deferred", now, detail=f"quiet hours until {_iso(deferred_until)}",
                                           attempted=False)
        planned: dict[str, str] = {}  # webhook id -> delivery id (looked up only when the channel is on)
        if self.webhooks is not None and prefs.allows("webhook", content.category):
            planned = self.webhooks.planned(tenant_id, recipient.user_id, content.category)
            for hook_id, delivery_id in planned.items():  # quiet hours are for people: a webhook gets it now
                deliveries[f"webhook:{hook_id}"] = _history("queued", now, detail=f"delivery {delivery_id}",
                                                            attempted=False)
        if devices and self.pusher is not None and prefs.allows("push", content.category):
            # Before the notification is stored, so each device's outcome is in its one PutItem.
            deliveries.update(self._push(tenant_id, recipient, devices, content, notification_id, subject, body,
                                         prefs, now))
        notification = Notification(id=notification_id, category=content.category, priority=content.priority,
                                    title=subject[:200], body=body, link=content.link, template=content.template,
                                    created_at=now, sender_id=sender_id, deliveries=deliveries)
        self.store.add(tenant_id, recipient.user_id, _dump(notification), listed=in_app)
        if in_app and self.announce is not None:
            self.announce("notification.created", {
                "tenant_id": tenant_id, "user_id": recipient.user_id,
                "notification": {"id": notification.id, "category": notification.category,
                                 "priority": notification.priority, "title": notification.title,
                                 "link": notification.link, "created_at": _iso(now)}})
        if planned and self.webhooks is not None:
            self.webhooks.enqueue(tenant_id, recipient.user_id, planned, notification, now)
        email = deliveries.get("email")  # none yet: it goes now
        if email is not None and email.status == "deferred" and digest_at is not None:
            entry = {"id": notification_id, "title": notification.title, "link": notification.link,
                     "category": notification.category, "created_at": _iso(now)}
            if self.store.add_digest_item(tenant_id, recipient.user_id, entry, _iso(digest_at), due_again=overdue):
                self.schedules.at(_schedule_name("g", notification_id, 0), digest_at,
                                  {"kind": "digest", "tenant_id": tenant_id, "user_id": recipient.user_id,
                                   "at": _iso(digest_at)})
        elif email is not None and email.status == "deferred" and deferred_until is not None:
            self.schedules.at(_schedule_name("d", notification_id, 0), deferred_until,
                              {"kind": "deliver", "tenant_id": tenant_id, "user_id": recipient.user_id,
                               "notification_id": notification_id, "channel": "email"})
        elif email is None and recipient.email:
            notification = self._email(tenant_id, recipient, notification, now)
        return notification

    def _push(self, tenant_id: str, recipient: Recipient, devices: Mapping[str, Item], content: Content,
              notification_id: str, title: str, body: str, prefs: Preferences,
              now: datetime) -> dict[str, DeliveryHistory]:
        """Publish to each of the recipient's devices: ``push:<device id>`` histories. Quiet hours skip push (a
        buzz after the window would be stale; the notification waits in the inbox). A disabled or vanished
        endpoint is deleted and the device removed."""
        assert self.pusher is not None
        quiet = self._quiet_until(prefs, recipient, content, now)
        data = {"notification_id": notification_id, "category": content.category, "link": content.link or ""}
        histories: dict[str, DeliveryHistory] = {}
        for device_id, device in devices.items():
            channel = f"push:{device_id}"
            if quiet is not None:
                histories[channel] = _history("skipped", now, error=f"quiet hours until {_iso(quiet)}",
                                              attempted=False)
                continue
            try:
                message_id = self.pusher.publish(device["endpoint_arn"], device["platform"], title[:200], body,
                                                 data)
                histories[channel] = _history("sent", now, detail=message_id)
            except EndpointGone as exc:
                self._forget_device(tenant_id, recipient.user_id, device_id, device["endpoint_arn"])
                histories[channel] = _history("failed", now, error=f"endpoint disabled, device removed: {exc}"[:300])
            except Exception as exc:  # recorded; the other devices and channels go on
                histories[channel] = _history("failed", now, error=str(exc).splitlines()[0][:300]
                                              or type(exc).__name__)
        return histories

    def _forget_device(self, tenant_id: str, user_id: str, device_id: str, endpoint_arn: str) -> None:
        assert self.pusher is not None
        self.store.remove_device(tenant_id, user_id, device_id)
        self.pusher.delete(endpoint_arn)

    # --- mobile push devices ---------------------------------------------------------------------------------

    def _require_push(self, platform: str | None = None) -> Pusher:
        if self.pusher is None or not self.pusher.platforms():
            raise ServiceUnavailable("Mobile push is not configured in this deployment.", slug="push-disabled")
        if platform is not None and platform not in self.pusher.platforms():
            raise ValidationProblem(f"Push to {platform} is not configured in this deployment.",
                                    slug="push-platform-disabled",
                                    errors=[{"path": "body.platform", "message": f"{platform} is not configured",
                                             "type": "push_platform_disabled"}])
        return self.pusher

    def devices(self, identity: Identity) -> list[Device]:
        devices = self._preferences_record(identity.tenant_id, identity.user_id)[2]
        return sorted((Device.model_validate(d) for d in devices.values()), key=lambda d: (d.created_at, d.id))

    def register_device(self, identity: Identity, request: DeviceRegister, now: datetime) -> tuple[Device, bool]:
        """The device (created: True) or the same one registered before (False)."""
        pusher = self._require_push(request.platform)
        device_id = device_id_of(request.platform, request.token)
        existing = self._preferences_record(identity.tenant_id, identity.user_id)[2]
        if device_id in existing:
            return Device.model_validate(existing[device_id]), False
        if len(existing) >= MAX_DEVICES:
            raise Conflict(f"At most {MAX_DEVICES} devices per user: remove one first.", slug="too-many-devices")
        user_data = json.dumps({"tenant_id": identity.tenant_id, "user_id": identity.user_id},
                               separators=(",", ":"))
        try:
            endpoint_arn = pusher.register(request.platform, request.token, user_data)
        except TokenTaken as exc:
            raise Conflict("This device token is registered to another account: remove it there first.",
                           slug="device-taken") from exc
        device = {"id": device_id, "platform": request.platform, "token_hint": request.token[-8:],
                  "endpoint_arn": endpoint_arn, "created_at": _iso(now)}
        if not self.store.add_device(identity.tenant_id, identity.user_id, device, at_most=MAX_DEVICES):
            raise Conflict(f"At most {MAX_DEVICES} devices per user: remove one first.", slug="too-many-devices")
        return Device.model_validate(device), True

    def remove_device(self, identity: Identity, device_id: str) -> None:
        pusher = self._require_push()
        device = self._preferences_record(identity.tenant_id, identity.user_id)[2].get(device_id)
        if device is None or not self.store.remove_device(identity.tenant_id, identity.user_id, device_id):
            raise NotFound("No such device.")
        pusher.delete(device["endpoint_arn"])

    def _quiet_until(self, prefs: Preferences, recipient: Recipient, content: Content,
                     now: datetime) -> datetime | None:
        quiet = prefs.quiet_hours
        if quiet is None or content.priority == "urgent":
            return None
        return quiet_until(now, quiet.start, quiet.end, quiet.timezone or recipient.timezone or "UTC")

    def _email(self, tenant_id: str, recipient: Recipient, notification: Notification,
               now: datetime) -> Notification:
        previous = notification.deliveries.get("email")
        link = _absolute(self.app_url, notification.link)
        text = notification.body + (f"\n\n{link}" if link else "")
        try:
            message_id = self.mailer.send(recipient.email or "", notification.title, text,
                                          tags=email_tags(tenant_id, recipient.user_id, notification.id))
            history = _history("sent", now, detail=message_id, previous=previous)
        except Exception as exc:  # recorded on the notification; the caller decides whether to retry
            history = _history("failed", now, error=str(exc).splitlines()[0][:300] or type(exc).__name__,
                               previous=previous)
        notification.deliveries["email"] = history
        self.store.record_delivery(tenant_id, recipient.user_id, notification.id, "email",
                                   history.model_dump(mode="json"))
        return notification

    # --- schedules firing ----------------------------------------------------------------------------------

    def on_schedule(self, payload: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        kind, tenant_id = payload.get("kind"), str(payload.get("tenant_id") or "")
        if kind == "deliver":
            user_id, notification_id = str(payload["user_id"]), str(payload["notification_id"])
            item = self.store.get(tenant_id, user_id, notification_id)
            recipient = self.directory.member(tenant_id, user_id)
            if item is None or recipient is None or not recipient.email:
                return {"delivered": False}
            notification = Notification.model_validate(item)
            if notification.deliveries.get("email") and notification.deliveries["email"].status == "sent":
                return {"delivered": False}  # a repeated schedule run
            reason = _suppressed(self._preferences_item(tenant_id, user_id)[1], recipient.email)
            if reason:  # the address bounced hard while the e-mail waited
                history = _history("skipped", now, error=reason, previous=notification.deliveries.get("email"),
                                   attempted=False)
                self.store.record_delivery(tenant_id, user_id, notification_id, "email",
                                           history.model_dump(mode="json"))
                return {"delivered": False}
            notification = self._email(tenant_id, recipient, notification, now)
            return {"delivered": notification.deliveries["email"].status == "sent"}
        if kind == "digest":
            return self._send_digest(tenant_id, str(payload["user_id"]), str(payload["at"]), now)
        if kind == "send":
            pending = self.store.pending(tenant_id, str(payload["pending_id"]))
            if pending is None:
                return {"delivered": False}
            recipient = self.directory.member(tenant_id, pending["recipient_id"])
            delivered = None
            if recipient is not None:  # a member who left gets nothing, and the recurrence ends
                delivered = self.deliver(tenant_id, recipient, Content.model_validate(pending["content"]), now,
                                         sender_id=pending.get("sender_id"))
            following = None
            if recipient is not None and pending.get("recurrence"):
                following = _next_occurrence(pending["recurrence"], _parse(pending["anchor"]),
                                             pending.get("timezone"), max(now, _parse(pending["send_at"])))
            if following is None:
                self.store.delete_pending(tenant_id, pending["id"])
            else:
                runs = int(pending.get("runs", 0)) + 1
                self.store.update_pending(tenant_id, {**pending, "send_at": _iso(following), "runs": runs})
                self.schedules.at(_schedule_name("s", pending["id"], runs), following,
                                  {"kind": "send", "tenant_id": tenant_id, "pending_id": pending["id"]})
            return {"delivered": delivered is not None, "notification_id": delivered.id if delivered else None,
                    "next": _iso(following) if following else None}
        raise ValueError(f"unknown schedule payload kind {kind!r}")

    def _send_digest(self, tenant_id: str, user_id: str, at: str, now: datetime) -> dict[str, Any]:
        """The day's digest: one e-mail listing the low-priority notifications that waited for it (each one's
        e-mail history then says ``sent`` with the digest's message id, or why it was skipped)."""
        items: list[Item] = []
        kept: Item = {}
        for _ in range(3):  # a notification added between the read and the clear: read again
            _, kept = self._preferences_kept(tenant_id, user_id)
            items = list(kept.get(DIGEST_ITEMS) or [])
            if kept.get(DIGEST_AT) != at or not items:
                return {"delivered": False}  # a repeated schedule run: already sent
            if self.store.take_digest(tenant_id, user_id, at, len(items)):
                break
        else:
            return {"delivered": False, "reason": "the digest kept changing"}  # the schedule's retry sends it
        recipient = self.directory.member(tenant_id, user_id)
        suppressed = EmailSuppression.model_validate(kept[SUPPRESSION]) if kept.get(SUPPRESSION) else None
        reason = ("not a member" if recipient is None else "no e-mail address" if not recipient.email
                  else _suppressed(suppressed, recipient.email))
        status, error, message_id = "skipped", reason, None
        if reason is None and recipient is not None:
            shown = items[:MAX_DIGEST_SHOWN]
            data = {"items": [{"title": i.get("title"), "link": _absolute(self.app_url, i.get("link")),
                               "category": i.get("category")} for i in shown],
                    "count": len(items), "more": len(items) - len(shown)}
            subject, text, _ = self._render(tenant_id, "digest", recipient.locale, data, None)
            try:
                message_id = self.mailer.send(recipient.email or "", subject, text,
                                              tags=email_tags(tenant_id, user_id, str(items[0]["id"])))
                status, error = "sent", None
            except Exception as exc:  # recorded on each; the items are not queued again
                status, error = "failed", str(exc).splitlines()[0][:300] or type(exc).__name__
        for entry in items:
            stored = self.store.get(tenant_id, user_id, str(entry["id"]))
            if stored is None:
                continue
            previous = Notification.model_validate(stored).deliveries.get("email")
            history = _history(status, now, error=error, detail=message_id, previous=previous,
                               attempted=status != "skipped")
            self.store.record_delivery(tenant_id, user_id, str(entry["id"]), "email",
                                       history.model_dump(mode="json"))
        return {"delivered": status == "sent", "items": len(items), "message_id": message_id}

    # --- the bus's events ----------------------------------------------------------------------------------

    def on_event(self, event: Mapping[str, Any], now: datetime) -> Notification | None:
        """A domain event of the ``crewhouse`` bus as a notification for its owner (None when it has none)."""
        notice = event_content(event)
        if notice is None:
            return None
        user_id = notice.user_id
        if user_id is None and notice.owner_of is not None and self.owners is not None:
            kind, ident = notice.owner_of
            user_id = (self.owners.agent_owner(notice.tenant_id, ident) if kind == "agent"
                       else self.owners.execution_starter(notice.tenant_id, ident))
        if not user_id:
            return None
        recipient = self.directory.member(notice.tenant_id, user_id)
        if recipient is None:  # not (or no longer) a member of the event's tenant
            return None
        return self.deliver(notice.tenant_id, recipient, notice.content, now, deadline=notice.deadline)

    # --- templates -----------------------------------------------------------------------------------------

    def list_templates(self, identity: Identity) -> list[Template]:
        require_template_admin(identity)
        own = {(i["key"], i["locale"]): _template(i) for i in self.store.templates(identity.tenant_id)}
        shipped = {(key, locale): Template(key=key, locale=locale, subject=s, body=b, predefined=True)
                   for key, versions in templates.PREDEFINED.items() for locale, (s, b) in versions.items()}
        return [v for _, v in sorted({**shipped, **own}.items())]

    def get_template(self, identity: Identity, key: str, locale: str) -> Template:
        require_template_admin(identity)
        item = self.store.template(identity.tenant_id, key, locale)
        if item is not None:
            return _template(item)
        shipped = templates.PREDEFINED.get(key, {}).get(locale)
        if shipped is None:
            raise NotFound("No such template.")
        return Template(key=key, locale=locale, subject=shipped[0], body=shipped[1], predefined=True)

    def create_template(self, identity: Identity, request: TemplateCreate, now: datetime) -> Template:
        require_template_admin(identity)
        templates.check(request.subject, request.body)
        item = {**request.model_dump(), "version": 1, "updated_at": _iso(now)}
        self.store.add_template(identity.tenant_id, item)
        return _template(item)

    def replace_template(self, identity: Identity, key: str, locale: str, request: TemplateBody,
                         if_match: str | None, now: datetime) -> Template:
        require_template_admin(identity)
        current = self.store.template(identity.tenant_id, key, locale)
        if current is None:
            raise NotFound("No such template of this tenant (create it with POST to override a predefined one).")
        require_version(if_match, int(current["version"]))
        templates.check(request.subject, request.body)
        item = {**current, **request.model_dump(), "version": int(current["version"]) + 1, "updated_at": _iso(now)}
        self.store.replace_template(identity.tenant_id, item, int(current["version"]))
        return _template(item)

    def delete_template(self, identity: Identity, key: str, locale: str, if_match: str | None) -> None:
        require_template_admin(identity)
        current = self.store.template(identity.tenant_id, key, locale)
        if current is None:
            raise NotFound("No such template of this tenant.")
        require_version(if_match, int(current["version"]))
        self.store.delete_template(identity.tenant_id, key, locale)

    def preview(self, identity: Identity, request: Preview) -> Rendered:
        require_template_admin(identity)
        if request.key is not None and (request.subject is None or request.body is None):
            subject, body, locale = self._render(identity.tenant_id, request.key, request.locale, request.data, None)
            return Rendered(subject=subject, body=body, locale=locale)
        templates.check(request.subject or "", request.body or "")
        subject, body = templates.render(request.subject or "", request.body or "", request.data)
        return Rendered(subject=subject, body=body, locale=request.locale)

    def _template_source(self, tenant_id: str, key: str | None, locale: str | None,
                         category: str | None) -> tuple[str, str, str] | None:
        if key is None:
            return None
        for candidate in templates.locale_chain(locale):
            own = self.store.template(tenant_id, key, candidate)
            if own is not None:
                return own["subject"], own["body"], candidate
            shipped = templates.PREDEFINED.get(key, {}).get(candidate)
            if shipped is not None:
                return (*shipped, candidate)
        raise ValidationProblem(f"No template {key!r} exists (predefined or this tenant's).", slug="unknown-template",
                                errors=[{"path": "body.template", "message": f"unknown template {key!r}",
                                         "type": "unknown_template"}])

    def _render(self, tenant_id: str, key: str, locale: str | None, data: Mapping[str, Any],
                category: str | None) -> tuple[str, str, str]:
        source = self._template_source(tenant_id, key, locale, category)
        assert source is not None
        subject, body = templates.render(source[0], source[1], data)
        return subject, body, source[2]

    # --- preferences ---------------------------------------------------------------------------------------

    def _preferences_record(self, tenant_id: str, user_id: str) -> tuple[
            Preferences, EmailSuppression | None, dict[str, Item]]:
        """The member's preferences, the suppression of their address (a hard bounce or a complaint set it) and
        their push devices by id: one GetItem."""
        prefs, kept = self._preferences_kept(tenant_id, user_id)
        suppressed = kept.get(SUPPRESSION)
        return (prefs, EmailSuppression.model_validate(suppressed) if suppressed else None,
                dict(kept.get(DEVICES) or {}))

    def _preferences_kept(self, tenant_id: str, user_id: str) -> tuple[Preferences, Item]:
        """The preferences, and the attributes of their item the member does not write (:data:`KEPT`)."""
        item = dict(self.store.preferences(tenant_id, user_id) or {})
        kept = {name: item.pop(name) for name in KEPT if name in item}
        return Preferences.model_validate(item) if item else Preferences(), kept

    def _preferences_item(self, tenant_id: str, user_id: str) -> tuple[Preferences, EmailSuppression | None]:
        return self._preferences_record(tenant_id, user_id)[:2]

    def _preferences(self, tenant_id: str, user_id: str) -> Preferences:
        return self._preferences_item(tenant_id, user_id)[0]

    def preferences(self, identity: Identity) -> PreferencesView:
        prefs, suppressed = self._preferences_item(identity.tenant_id, identity.user_id)
        return PreferencesView(**prefs.model_dump(), email_suppressed=suppressed)

    def set_preferences(self, identity: Identity, preferences: Preferences) -> PreferencesView:
        # Not the preferences' to change: the suppression, the devices and a pending digest are kept.
        _, kept = self._preferences_kept(identity.tenant_id, identity.user_id)
        suppressed = EmailSuppression.model_validate(kept[SUPPRESSION]) if kept.get(SUPPRESSION) else None
        self.store.put_preferences(identity.tenant_id, identity.user_id,
                                   {**preferences.model_dump(mode="json"), **kept})
        return PreferencesView(**preferences.model_dump(), email_suppressed=suppressed)

    def lift_suppression(self, identity: Identity) -> None:
        """The member says their mailbox works again: e-mail goes to the address once more."""
        _, suppressed = self._preferences_item(identity.tenant_id, identity.user_id)
        if suppressed is None:
            raise NotFound("Your e-mail address is not suppressed.")
        self.store.suppress_email(identity.tenant_id, identity.user_id, None)

    # --- SES delivery events ---------------------------------------------------------------------------------

    def on_email_event(self, event: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """An SES event of the configuration set (delivered, bounced, complained) on the notification's e-mail
        history, found by the tags it was sent with and checked against the message id stored when it was sent.
        A hard (``Permanent``) bounce or a complaint suppresses the address: later e-mail to it is skipped, saying
        why."""
        detail = event.get("detail") or {}
        if not isinstance(detail, Mapping):
            return {"recorded": False, "reason": "no detail"}
        kind = str(detail.get("eventType") or detail.get("notificationType") or "")
        status = EMAIL_EVENT_STATUS.get(kind)
        mail = detail.get("mail") or {}
        ref = email_reference(mail.get("tags") or {}) if isinstance(mail, Mapping) else None
        message_id = str(mail.get("messageId") or "") if isinstance(mail, Mapping) else ""
        if status is None or ref is None or not message_id:
            return {"recorded": False, "reason": "not a notification's e-mail event"}
        tenant_id, user_id, notification_id = ref
        item = self.store.get(tenant_id, user_id, notification_id)
        if item is None:
            return {"recorded": False, "reason": "no such notification"}
        previous = Notification.model_validate(item).deliveries.get("email")
        if previous is None or not any(h.detail == message_id for h in previous.history):
            return {"recorded": False, "reason": "the message id is not this notification's"}
        if any(h.status == status and h.detail == message_id for h in previous.history):
            return {"recorded": False, "reason": "already recorded"}  # EventBridge delivers at least once
        facts = detail.get(kind[:1].lower() + kind[1:]) or {}
        facts = facts if isinstance(facts, Mapping) else {}
        at = _parsed(facts.get("timestamp")) or now
        error, suppress = _email_event_error(kind, facts)
        history = _history(status, at, error=error, detail=message_id, previous=previous, attempted=False)
        self.store.record_delivery(tenant_id, user_id, notification_id, "email", history.model_dump(mode="json"))
        result: dict[str, Any] = {"recorded": True, "status": status, "notification_id": notification_id}
        if suppress:
            suppression = EmailSuppression(address=suppress, at=at, reason=error, notification_id=notification_id,
                                           cause="complaint" if kind == "Complaint" else "bounce")
            self.store.suppress_email(tenant_id, user_id, suppression.model_dump(mode="json"))
            result["suppressed"] = suppress
        return result


# --- rules ---------------------------------------------------------------------------------------------------

def is_machine_writer(identity: Identity) -> bool:
    """A client-credentials caller (a machine client of the user pool) holding a write scope of the API."""
    return identity.can_write and any(s.startswith("crewhouse/") and s.endswith(".write") for s in identity.scopes)


def require_sender(identity: Identity) -> Identity:
    if (identity.has_role("admin") and identity.can_write) or is_machine_writer(identity):
        return identity
    raise Forbidden("Only tenant admins and machine clients with a write scope may send notifications.",
                    slug="send-forbidden")


def require_template_admin(identity: Identity) -> Identity:
    if identity.has_role("admin"):
        return identity
    raise Forbidden("Only a tenant admin may manage notification templates.", slug="admin-only")


def event_content(event: Mapping[str, Any]) -> EventNotice | None:
    """The notification a bus event of this context's rules stands for (None for any other or a malformed one)."""
    detail_type = str(event.get("detail-type") or "")
    detail = event.get("detail") or {}
    if not isinstance(detail, Mapping):
        return None
    if detail_type in ("job.succeeded", "job.failed"):
        job = detail.get("job") or {}
        if not isinstance(job, Mapping) or not all(job.get(k) for k in ("tenant_id", "user_id", "job_id")):
            return None
        job_data = {"id": job["job_id"], "type": detail.get("type")}
        if detail_type == "job.succeeded":
            data = {"job": job_data, "result": _mapping(detail.get("result"))}
            content = Content(category="job", priority="normal", template="job_succeeded", data=data,
                              link=f"/jobs/{job['job_id']}")
        else:
            error = _mapping(detail.get("error"))
            message = error.get("message") or error.get("Cause") or error.get("Error")
            data = {"job": job_data, "error": {"message": str(message)[:300] if message else None}}
            content = Content(category="job", priority="urgent", template="job_failed", data=data,
                              link=f"/jobs/{job['job_id']}")
        return EventNotice(str(job["tenant_id"]), str(job["user_id"]), content)
    if detail_type == "task.reminder.due":
        if not all(detail.get(k) for k in ("tenant_id", "user_id", "task_id")):
            return None
        data = {"task": {"id": detail["task_id"], "title": detail.get("title") or "A task", "due": detail.get("due")}}
        return EventNotice(str(detail["tenant_id"]), str(detail["user_id"]), Content(
            category="task", priority="normal", template="task_reminder", data=data,
            link=f"/tasks/{detail['task_id']}"))
    if detail_type == "flow.approval_requested":
        return _approval_notice(detail)
    if detail_type == "agent.offline":
        if not all(detail.get(k) for k in ("tenant_id", "agent_id")):
            return None
        agent = {"id": detail["agent_id"], "name": detail.get("name") or None,
                 "last_heartbeat_at": detail.get("last_heartbeat_at") or None}
        # Normal, not urgent: the sweep announces each transition once, and nothing is lost by reading it after
        # the quiet hours (the agent's messages wait in its inbox); an owner who wants it at night says so.
        return EventNotice(str(detail["tenant_id"]), None, Content(
            category="agent", priority="normal", template="agent_offline", data={"agent": agent},
            link=f"/agents/{detail['agent_id']}"), owner_of=("agent", str(detail["agent_id"])))
    if detail_type == "file.retention.warning":
        return _retention_notice(detail)
    return None


def _approval_notice(detail: Mapping[str, Any]) -> EventNotice | None:
    """``flow.approval_requested`` (crewhouse.flows.runner): for the execution's starter, named by the detail's
    ``started_by`` when the producer gives it, else looked up by the execution's key. Normal priority, but quiet
    hours never hold it past ``expires_at``: an approval that would expire unseen is sent at once."""
    if not all(detail.get(k) for k in ("tenant_id", "flow_id", "execution_id")):
        return None
    expires_at = _parsed(detail.get("expires_at"))
    data = {"flow": {"id": detail["flow_id"], "name": detail.get("flow_name") or None},
            "execution": {"id": detail["execution_id"]}, "node_id": detail.get("node_id"),
            "prompt": str(detail.get("prompt") or "")[:2000] or None,
            "expires_at": _iso(expires_at) if expires_at else None}
    starter = detail.get("started_by") or detail.get("user_id")
    return EventNotice(str(detail["tenant_id"]), str(starter) if starter else None, Content(
        category="flow", priority="normal", template="flow_approval_needed", data=data,
        link=f"/flows/{detail['flow_id']}/executions/{detail['execution_id']}"),
        owner_of=None if starter else ("execution", str(detail["execution_id"])), deadline=expires_at)


MAX_FILES_SHOWN = 50


def _retention_notice(detail: Mapping[str, Any]) -> EventNotice | None:
    """``file.retention.warning`` (crewhouse.files.retention): the owner's files that the sweep deletes from
    ``delete_after`` unless opened. Low priority (a week's notice: quiet hours and a digest suit it)."""
    files = detail.get("files")
    if not all(detail.get(k) for k in ("tenant_id", "user_id", "delete_after")) or not isinstance(files, list):
        return None
    shown = []
    for entry in files[:MAX_FILES_SHOWN]:
        if not isinstance(entry, Mapping) or not entry.get("file_id"):
            continue
        shown.append({"id": str(entry["file_id"]), "filename": str(entry.get("filename") or entry["file_id"]),
                      "size": _size_text(entry.get("size")), "last_opened_at": entry.get("last_opened_at"),
                      "delete_after": entry.get("delete_after") or detail["delete_after"]})
    more = detail.get("more")
    more = (more if isinstance(more, int) and more > 0 else 0) + max(0, len(files) - MAX_FILES_SHOWN)
    if not shown:
        return None
    data = {"files": shown, "more": more, "count": len(shown) + more, "delete_after": detail["delete_after"]}
    return EventNotice(str(detail["tenant_id"]), str(detail["user_id"]), Content(
        category="file", priority="low", template="file_retention_warning", data=data, link="/files"))


def _size_text(size: Any) -> str:
    if not isinstance(size, int | float) or size < 0:
        return "size unknown"
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover


def _parsed(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = _parse(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- e-mail tags and SES events --------------------------------------------------------------------------------

SUPPRESSION = "email_suppressed"
DEVICES = "devices"
DIGEST_ITEMS, DIGEST_AT = "digest_items", "digest_at"
KEPT = (SUPPRESSION, DEVICES, DIGEST_ITEMS, DIGEST_AT)  # on the preferences item, not written by the member
MAX_DIGEST_SHOWN = 50
# Scheduler retries a failing schedule for an hour: a digest still pending well after is sent with the next one.
DIGEST_OVERDUE = timedelta(hours=2)


def device_id_of(platform: str, token: str) -> str:
    """Stable per platform and token, so registering a token again finds the device it already is."""
    import hashlib

    return "d" + hashlib.sha256(f"{platform}:{token}".encode()).hexdigest()[:24]
EMAIL_EVENT_STATUS = {"Delivery": "delivered", "Bounce": "bounced", "Complaint": "complained"}
TAG_TENANT, TAG_USER, TAG_NOTIFICATION = "crewhouse-tenant", "crewhouse-user", "crewhouse-notification"
_TAG_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _tag_value(value: str) -> str:
    """SES tag values allow letters, digits, ``_`` and ``-`` only: anything else is sent base32-encoded."""
    if value and len(value) <= 256 and set(value) <= _TAG_SAFE:
        return value
    import base64

    return "b32_" + base64.b32encode(value.encode()).decode().rstrip("=")


def _from_tag(value: str) -> str:
    if not value.startswith("b32_"):
        return value
    import base64

    encoded = value[4:]
    return base64.b32decode(encoded + "=" * (-len(encoded) % 8)).decode()


def email_tags(tenant_id: str, user_id: str, notification_id: str) -> dict[str, str]:
    """The tags a notification's e-mail is sent with: SES puts them on its delivery events (``mail.tags``), so
    the consumer finds the notification by key, with no index and no lookup item written per e-mail."""
    return {TAG_TENANT: _tag_value(tenant_id), TAG_USER: _tag_value(user_id),
            TAG_NOTIFICATION: _tag_value(notification_id)}


def email_reference(tags: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(tenant, user, notification) from an SES event's ``mail.tags`` (each a list of values), else None."""
    found = []
    for name in (TAG_TENANT, TAG_USER, TAG_NOTIFICATION):
        values = tags.get(name)
        value = values[0] if isinstance(values, list) and values else values
        if not isinstance(value, str) or not value:
            return None
        try:
            found.append(_from_tag(value))
        except ValueError:
            return None
    return found[0], found[1], found[2]


def _email_event_error(kind: str, facts: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(what the history says, the address to suppress: a hard bounce's or a complaint's recipient) of an SES
    event. A complaint suppresses like a hard bounce: mailing on risks the sender's reputation for everyone."""
    if kind == "Bounce":
        recipients = [r for r in facts.get("bouncedRecipients") or [] if isinstance(r, Mapping)]
        first = recipients[0] if recipients else {}
        diagnostic = str(first.get("diagnosticCode") or first.get("status") or "")[:200]
        bounce_type = str(facts.get("bounceType") or "Undetermined")
        error = f"{bounce_type} bounce ({facts.get('bounceSubType') or 'General'})" + (
            f": {diagnostic}" if diagnostic else "")
        hard = bounce_type == "Permanent" and first.get("emailAddress")
        return error, str(first["emailAddress"]) if hard else None
    if kind == "Complaint":
        feedback = facts.get("complaintFeedbackType")
        complainants = [r for r in facts.get("complainedRecipients") or [] if isinstance(r, Mapping)]
        address = complainants[0].get("emailAddress") if complainants else None
        return ("the recipient marked it as spam" + (f" ({feedback})" if feedback else ""),
                str(address) if address else None)
    return None, None


def _suppressed(suppression: EmailSuppression | None, address: str | None) -> str | None:
    """Why e-mail to ``address`` is skipped (its hard bounce), or None."""
    if suppression is None or not address or suppression.address.strip().lower() != address.strip().lower():
        return None
    cause = "a complaint" if suppression.cause == "complaint" else "a hard bounce"
    return f"address suppressed after {cause} on {_iso(suppression.at)}"


def _mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            loaded = json.loads(value)
        except ValueError:
            return {"message": value}
        return dict(loaded) if isinstance(loaded, Mapping) else {"message": value}
    return {}


# --- time ----------------------------------------------------------------------------------------------------

def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _rule(recurrence: str, anchor: datetime, timezone: str | None) -> Any:
    from zoneinfo import ZoneInfo

    from dateutil.rrule import rrulestr

    zone = ZoneInfo(timezone or "UTC")
    local_anchor = anchor.astimezone(zone).replace(tzinfo=None)  # wall time: DST keeps the local hour
    try:
        rule = rrulestr(recurrence.removeprefix("RRULE:"), dtstart=local_anchor)
    except (ValueError, TypeError) as exc:
        raise ValidationProblem(f"The recurrence is not a valid RRULE: {exc}.", slug="invalid-recurrence") from exc
    return rule, zone


def _first_occurrence(send_at: datetime | None, recurrence: str | None, timezone: str | None,
                      now: datetime) -> datetime | None:
    if recurrence is None:
        return send_at.astimezone(UTC) if send_at else None
    anchor = send_at or now
    rule, _ = _rule(recurrence, anchor, timezone)
    occurrences = [o for _, o in zip(range(3), rule, strict=False)]
    if len(occurrences) >= 2 and occurrences[1] - occurrences[0] < MIN_RECURRENCE:
        raise ValidationProblem("A recurrence repeats at most hourly.", slug="invalid-recurrence")
    if not occurrences:
        raise ValidationProblem("The recurrence has no occurrence.", slug="invalid-recurrence")
    return _next_occurrence(recurrence, anchor, timezone, now - IMMEDIATE_WITHIN, inclusive=True)


def _next_occurrence(recurrence: str, anchor: datetime, timezone: str | None, after: datetime, *,
                     inclusive: bool = False) -> datetime | None:
    rule, zone = _rule(recurrence, anchor, timezone)
    local_after = after.astimezone(zone).replace(tzinfo=None)
    found = rule.after(local_after, inc=inclusive)
    return found.replace(tzinfo=zone).astimezone(UTC) if found else None


def _schedule_name(kind: str, ident: str, run: int) -> str:
    return f"n{kind}-{ident}-{run}"


def _history(status: str, now: datetime, *, error: str | None = None, detail: str | None = None,
             previous: DeliveryHistory | None = None, attempted: bool = True) -> DeliveryHistory:
    attempts = (previous.attempts if previous else 0) + (1 if attempted else 0)
    history = list(previous.history) if previous else []
    history.append({"at": now, "status": status, "error": error, "detail": detail})  # type: ignore[arg-type]
    return DeliveryHistory.model_validate({"status": status, "attempts": attempts, "error": error,
                                           "updated_at": now, "history": history})


def _dump(notification: Notification) -> Item:
    return notification.model_dump(mode="json")


def _template(item: Mapping[str, Any]) -> Template:
    return Template.model_validate({k: item[k] for k in ("key", "locale", "subject", "body", "version", "updated_at")
                                    if k in item})


def _absolute(base: str, link: str | None) -> str | None:
    if not link:
        return None
    return link if link.startswith("https://") else base.rstrip("/") + link


def recipients_of(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))
