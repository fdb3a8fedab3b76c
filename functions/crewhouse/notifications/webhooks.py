"""The webhook channel: a user's HTTPS endpoints, each delivery signed and retried, then dead-lettered.

- **Registration** checks the URL with the SSRF guard (https to a public address after DNS resolution; plain http to
  loopback only in local mode) and names every problem of a request at once (URL, categories). A user has at most
  :data:`MAX_WEBHOOKS`.
- **The signing secret** (``whsec_`` and 43 random URL-safe characters) is answered once, by the create. It is
  stored only encrypted, with KMS ``Encrypt`` directly under the notifications' own customer-managed key and the
  encryption context ``{tenant_id, user_id, webhook_id}`` (KMS refuses to decrypt under any other, so a ciphertext
  copied to another record opens nowhere; the roles may use the key only with those context keys). Why not the
  alternatives: ``crewhouse.providers.envelope`` is the providers context's private module (the context-boundary
  rule forbids importing it), it names LLM provider keys in its associated data, and envelope encryption adds
  nothing for a 49-byte secret, which fits KMS's 4 KB plaintext limit; the providers' key lives in the crews nested
  stack and is not in ``Shared``. A Secrets Manager secret per webhook (as the tool registry's http tools) would cost
  $0.40 a month each, where one key costs $1 a month for all. Lists and reads show ``secret_hint`` (its first 10
  characters) only.
- **A delivery** is one POST of a JSON body with ``Crewhouse-Signature: t=<unix>,v1=<hex>`` (HMAC-SHA256 with the
  secret over ``f"{t}.{body}"``), ``Crewhouse-Delivery: <id>`` and ``Crewhouse-Event``; a 2xx answer delivers it.
  Through the guard's :func:`crewhouse.core.ssrf.post` (every hop checked, the checked address is the one
  connected to). A failed attempt is sent again from SQS after :func:`retry_delay` (exponential, equal jitter,
  at most 900 s, SQS's longest delay); after :data:`MAX_ATTEMPTS` the delivery is ``dead``: listed with
  ``status=dead`` and redriven by the user. Delivery is at least once: a receiver deduplicates by
  ``Crewhouse-Delivery``.
- **Which notifications**: the user's preferences allow the ``webhook`` channel for the category, and each enabled
  webhook whose categories include it (all when it names none) gets a delivery. The notification's delivery
  history keeps one entry per webhook (``webhook:<id>``) with its attempts and errors.

Pure: the store, KMS, SQS and the HTTP client are ports.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from ulid import ULID

from crewhouse.core.errors import Conflict, NotFound, ValidationProblem
from crewhouse.core.etag import require_version
from crewhouse.core.identity import Identity
from crewhouse.notifications.models import (
    CATEGORIES,
    Notification,
    Preferences,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookDelivery,
    WebhookPatch,
)

Item = dict[str, Any]
Resume = dict[str, Any]
SECRET_PREFIX = "whsec_"
HINT_CHARS = 10
MAX_WEBHOOKS = 10
MAX_ATTEMPTS = 5
MAX_DELAY_SECONDS = 900  # SQS's longest DelaySeconds
HISTORY_KEPT = 20  # attempts kept on a delivery item
DELIVERY_DAYS = 30  # a delivery item's lifetime (TTL)
SIGNATURE_HEADER, DELIVERY_HEADER, EVENT_HEADER = "Crewhouse-Signature", "Crewhouse-Delivery", "Crewhouse-Event"
USER_AGENT = "Crewhouse-Webhooks/1.0"
RETRYABLE = ("queued", "retrying")
REDRIVABLE = ("dead", "failed")


# --- signatures and backoff (pure) ------------------------------------------------------------------------------

def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: str) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` under ``secret`` (its UTF-8 bytes)."""
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: str) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(secret: str, header: str, body: str, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does: the header's ``v1`` matches and its ``t`` is within ``tolerance`` seconds of now."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), parts.get("v1", ""))


def retry_delay(failed_attempts: int, base_seconds: float, *, rng: random.Random | None = None) -> float:
    """Seconds before the next attempt after ``failed_attempts`` failures: exponential (``base * 2**(n-1)``),
    capped at 900 s, with equal jitter (a uniform draw from the upper half, so retries of many deliveries spread
    out but none comes sooner than half the step)."""
    step = min(float(MAX_DELAY_SECONDS), base_seconds * 2 ** max(0, failed_attempts - 1))
    return (rng or random).uniform(step / 2, step)


# --- ports ---------------------------------------------------------------------------------------------------

class WebhookStore(Protocol):
    def webhooks(self, tenant_id: str, user_id: str) -> list[Item]: ...
    def webhook(self, tenant_id: str, user_id: str, webhook_id: str) -> Item | None: ...
    def add_webhook(self, tenant_id: str, user_id: str, item: Item) -> None: ...
    def replace_webhook(self, tenant_id: str, user_id: str, item: Item, expected_version: int) -> None: ...
    def delete_webhook(self, tenant_id: str, user_id: str, webhook_id: str, expected_version: int) -> None: ...
    def add_delivery(self, tenant_id: str, user_id: str, item: Item) -> None: ...
    def delivery(self, tenant_id: str, user_id: str, webhook_id: str, delivery_id: str) -> Item | None: ...
    def put_delivery(self, tenant_id: str, user_id: str, item: Item) -> None: ...
    def deliveries(self, tenant_id: str, user_id: str, webhook_id: str, *, limit: int, start: Resume | None,
                   status: str | None) -> tuple[list[Item], Resume | None]: ...
    def preferences(self, tenant_id: str, user_id: str) -> Item | None: ...
    def put_preferences(self, tenant_id: str, user_id: str, item: Item) -> None: ...
    def record_delivery(self, tenant_id: str, user_id: str, notification_id: str, channel: str,
                        history: Item) -> None: ...


class SecretBox(Protocol):
    def seal(self, secret: str, context: dict[str, str]) -> str:
        """The secret encrypted under ``context`` (text, for the item)."""
        ...

    def open(self, sealed: str, context: dict[str, str]) -> str: ...


class DeliveryQueue(Protocol):
    def send(self, message: Mapping[str, Any], delay_seconds: int) -> None: ...


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Receivers(Protocol):
    def check(self, url: str) -> str | None:
        """Why the SSRF guard refuses ``url`` (after DNS resolution), or None."""
        ...

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer: ...


# --- the service ---------------------------------------------------------------------------------------------

@dataclass
class WebhookService:
    store: WebhookStore
    box: SecretBox
    queue: DeliveryQueue
    receivers: Receivers
    retry_base_seconds: float = 30.0
    max_attempts: int = MAX_ATTEMPTS
    app_url: str = "https://app.crewhouse.local"
    rng: random.Random = field(default_factory=random.Random)

    # --- registration --------------------------------------------------------------------------------------

    def create(self, identity: Identity, request: WebhookCreate, now: datetime) -> WebhookCreated:
        categories = self._check(url=request.url, categories=request.categories)
        existing = self.store.webhooks(identity.tenant_id, identity.user_id)
        if len(existing) >= MAX_WEBHOOKS:
            raise Conflict(f"A user has at most {MAX_WEBHOOKS} webhooks; delete one first.", slug="too-many-webhooks")
        webhook_id, secret = str(ULID()), new_secret()
        sealed = self.box.seal(secret, _context(identity.tenant_id, identity.user_id, webhook_id))
        item = {"id": webhook_id, "url": request.url, "description": request.description, "categories": categories,
                "enabled": request.enabled, "secret_hint": secret[:HINT_CHARS], "secret_sealed": sealed,
                "version": 1, "created_at": _iso(now), "updated_at": _iso(now)}
        self.store.add_webhook(identity.tenant_id, identity.user_id, item)
        self._turn_channel_on(identity)
        return WebhookCreated(**_view(item).model_dump(), secret=secret)

    def _turn_channel_on(self, identity: Identity) -> None:
        """The webhook channel starts on with the first webhook, unless the preferences name it already."""
        prefs = self.store.preferences(identity.tenant_id, identity.user_id) or Preferences().model_dump(mode="json")
        channels = dict(prefs.get("channels") or {})
        if "webhook" not in channels:
            self.store.put_preferences(identity.tenant_id, identity.user_id,
                                       {**prefs, "channels": {**channels, "webhook": True}})

    def all(self, identity: Identity) -> list[Webhook]:
        items = self.store.webhooks(identity.tenant_id, identity.user_id)
        return [_view(i) for i in sorted(items, key=lambda i: i["id"])]

    def get(self, identity: Identity, webhook_id: str) -> Webhook:
        return _view(self._webhook(identity, webhook_id))

    def update(self, identity: Identity, webhook_id: str, request: WebhookPatch, if_match: str | None,
               now: datetime) -> Webhook:
        current = self._webhook(identity, webhook_id)
        require_version(if_match, int(current["version"]))
        given = request.model_fields_set
        categories = self._check(url=request.url if "url" in given else None,
                                 categories=request.categories if "categories" in given else None,
                                 check_categories="categories" in given)
        item = dict(current)
        if "url" in given and request.url is not None:
            item["url"] = request.url
        if "description" in given and request.description is not None:
            item["description"] = request.description
        if "categories" in given:
            item["categories"] = categories
        if "enabled" in given and request.enabled is not None:
            item["enabled"] = request.enabled
        item.update(version=int(current["version"]) + 1, updated_at=_iso(now))
        self.store.replace_webhook(identity.tenant_id, identity.user_id, item, int(current["version"]))
        return _view(item)

    def delete(self, identity: Identity, webhook_id: str, if_match: str | None) -> None:
        current = self._webhook(identity, webhook_id)
        require_version(if_match, int(current["version"]))
        self.store.delete_webhook(identity.tenant_id, identity.user_id, webhook_id, int(current["version"]))

    def _webhook(self, identity: Identity, webhook_id: str) -> Item:
        item = self.store.webhook(identity.tenant_id, identity.user_id, webhook_id)
        if item is None:
            raise NotFound("No such webhook.")
        return item

    def _check(self, *, url: str | None, categories: Sequence[str] | None,
               check_categories: bool = True) -> list[str] | None:
        """The categories as stored (None: all); :class:`ValidationProblem` naming every problem."""
        problems: list[dict[str, str]] = []
        if url is not None:
            reason = _url_shape(url) or self.receivers.check(url)
            if reason:
                problems.append({"path": "body.url", "message": f"refused: {reason}", "type": "unsafe_url"})
        wanted: list[str] | None = None
        if check_categories and categories is not None:
            for index, category in enumerate(categories):
                if category not in CATEGORIES:
                    problems.append({"path": f"body.categories.{index}", "type": "unknown_category",
                                     "message": f"unknown category {category!r} (one of {', '.join(CATEGORIES)})"})
            wanted = [c for c in CATEGORIES if c in categories]
            if not categories:
                problems.append({"path": "body.categories", "type": "empty_categories",
                                 "message": "name at least one category, or leave categories out for all"})
        if problems:
            raise ValidationProblem("The webhook is not valid: " + "; ".join(p["message"] for p in problems) + ".",
                                    slug="invalid-webhook", errors=problems)
        return wanted

    # --- deliveries: the list, the test ping, redrive -------------------------------------------------------

    def deliveries(self, identity: Identity, webhook_id: str, *, limit: int, start: Resume | None,
                   status: str | None) -> tuple[list[WebhookDelivery], Resume | None]:
        self._webhook(identity, webhook_id)
        items, resume = self.store.deliveries(identity.tenant_id, identity.user_id, webhook_id, limit=limit,
                                              start=start, status=status)
        return [_delivery_view(i) for i in items], resume

    def test(self, identity: Identity, webhook_id: str, now: datetime) -> WebhookDelivery:
        """A ``ping`` sent now, once (no retries), recorded as a delivery: ``delivered`` or ``failed``."""
        webhook = self._webhook(identity, webhook_id)
        delivery_id = str(ULID())
        body = _json({"id": delivery_id, "type": "ping", "created_at": _iso(now),
                      "data": {"webhook_id": webhook_id, "message": "Crewhouse webhook test"}})
        delivery = _new_delivery(delivery_id, webhook_id, "ping", body, None, now)
        self.store.add_delivery(identity.tenant_id, identity.user_id, delivery)
        answer = self._post(identity.tenant_id, identity.user_id, webhook, delivery, 1, now)
        delivery = _after_attempt(delivery, answer, 1, now, status="delivered" if answer.ok else "failed")
        self.store.put_delivery(identity.tenant_id, identity.user_id, delivery)
        return _delivery_view(delivery)

    def redrive(self, identity: Identity, webhook_id: str, delivery_id: str, now: datetime) -> WebhookDelivery:
        webhook = self._webhook(identity, webhook_id)
        item = self.store.delivery(identity.tenant_id, identity.user_id, webhook_id, delivery_id)
        if item is None:
            raise NotFound("No such delivery.")
        if item["status"] not in REDRIVABLE:
            raise Conflict(f"Only a dead or failed delivery is redriven; this one is {item['status']}.",
                           slug="not-dead", status_now=item["status"])
        if not webhook.get("enabled", True):
            raise Conflict("The webhook is disabled; enable it (PATCH) before redriving.", slug="webhook-disabled")
        item = {**item, "status": "queued", "next_attempt_at": _iso(now), "updated_at": _iso(now)}
        self.store.put_delivery(identity.tenant_id, identity.user_id, item)
        self.queue.send(_message(identity.tenant_id, identity.user_id, webhook_id, delivery_id, 1), 0)
        return _delivery_view(item)

    # --- fan-out (called by NotificationService.deliver) -------------------------------------------------------

    def planned(self, tenant_id: str, user_id: str, category: str) -> dict[str, str]:
        """A new delivery id for each of the user's enabled webhooks that take ``category``: webhook id -> it."""
        return {w["id"]: str(ULID()) for w in sorted(self.store.webhooks(tenant_id, user_id), key=lambda w: w["id"])
                if w.get("enabled", True) and (w.get("categories") is None or category in w["categories"])}

    def enqueue(self, tenant_id: str, user_id: str, planned: Mapping[str, str], notification: Notification,
                now: datetime) -> None:
        """The planned deliveries of ``notification``, stored and queued."""
        for webhook_id, delivery_id in planned.items():
            body = _json({"id": delivery_id, "type": "notification.created", "created_at": _iso(now),
                          "data": {"webhook_id": webhook_id, "notification": self._payload(notification)}})
            delivery = _new_delivery(delivery_id, webhook_id, "notification.created", body, notification.id, now)
            self.store.add_delivery(tenant_id, user_id, delivery)
            self.queue.send(_message(tenant_id, user_id, webhook_id, delivery_id, 1), 0)

    def _payload(self, notification: Notification) -> dict[str, Any]:
        link = notification.link
        if link and not link.startswith("https://"):
            link = self.app_url.rstrip("/") + link
        return {"id": notification.id, "category": notification.category, "priority": notification.priority,
                "title": notification.title, "body": notification.body, "link": link,
                "template": notification.template, "created_at": _iso(notification.created_at)}

    # --- one attempt (the queue's worker) ---------------------------------------------------------------------

    def attempt(self, message: Mapping[str, Any], now: datetime) -> str:
        """Send one queued delivery; on failure queue the next attempt or dead-letter it. Returns what happened:
        ``delivered``, ``retrying``, ``dead`` or ``skipped`` (settled already, or its webhook is gone)."""
        tenant_id, user_id = str(message["tenant_id"]), str(message["user_id"])
        webhook_id, delivery_id = str(message["webhook_id"]), str(message["delivery_id"])
        attempt = max(1, int(message.get("attempt", 1)))
        delivery = self.store.delivery(tenant_id, user_id, webhook_id, delivery_id)
        if delivery is None or delivery["status"] not in RETRYABLE:
            return "skipped"  # a repeated message, or a delivery settled meanwhile
        webhook = self.store.webhook(tenant_id, user_id, webhook_id)
        if webhook is None:
            return "skipped"  # deleted: its deliveries expire with their TTL
        delay = 0.0
        if not webhook.get("enabled", True):
            answer = Answer(None, "the webhook is disabled", 0)
            delivery = _after_attempt(delivery, answer, attempt, now, status="dead", counted=False)
        else:
            answer = self._post(tenant_id, user_id, webhook, delivery, attempt, now)
            if answer.ok:
                delivery = _after_attempt(delivery, answer, attempt, now, status="delivered")
            elif attempt < self.max_attempts:
                delay = retry_delay(attempt, self.retry_base_seconds, rng=self.rng)
                delivery = _after_attempt(delivery, answer, attempt, now, status="retrying",
                                          next_at=now + timedelta(seconds=delay))
            else:
                delivery = _after_attempt(delivery, answer, attempt, now, status="dead")
        self.store.put_delivery(tenant_id, user_id, delivery)
        if delivery["status"] == "retrying":  # after the write: a lost send re-runs this attempt (at least once)
            self.queue.send(_message(tenant_id, user_id, webhook_id, delivery_id, attempt + 1),
                            min(MAX_DELAY_SECONDS, int(delay)))
        if delivery.get("notification_id"):
            self._record(tenant_id, user_id, delivery)
        return str(delivery["status"])

    def _post(self, tenant_id: str, user_id: str, webhook: Item, delivery: Item, attempt: int,
              now: datetime) -> Answer:
        secret = self.box.open(webhook["secret_sealed"], _context(tenant_id, user_id, webhook["id"]))
        timestamp = int(now.timestamp())
        headers = {"content-type": "application/json", "user-agent": USER_AGENT,
                   SIGNATURE_HEADER: signature_header(secret, timestamp, delivery["body"]),
                   DELIVERY_HEADER: delivery["id"], EVENT_HEADER: delivery["event"],
                   "Crewhouse-Attempt": str(attempt)}
        return self.receivers.post(webhook["url"], delivery["body"].encode(), headers)

    def _record(self, tenant_id: str, user_id: str, delivery: Item) -> None:
        """The delivery's attempts on its notification, under ``webhook:<id>``."""
        status = {"delivered": "delivered", "queued": "queued"}.get(delivery["status"], "failed")
        history = [{"at": a["at"], "status": "delivered" if a.get("status_code") and 200 <= a["status_code"] < 300
                    else "failed", "error": a.get("error"),
                    "detail": f"delivery {delivery['id']} attempt {a['attempt']}"
                              + (f": HTTP {a['status_code']}" if a.get("status_code") else "")}
                   for a in delivery.get("history", [])]
        if delivery["status"] == "dead":
            history.append({"at": delivery["updated_at"], "status": "failed", "error": delivery.get("error"),
                            "detail": f"dead-lettered after {delivery['attempts']} attempts"})
        record = {"status": status, "attempts": int(delivery.get("attempts", 0)), "error": delivery.get("error"),
                  "updated_at": delivery["updated_at"], "history": history}
        with suppress(NotFound):  # the notification is gone: the delivery keeps its own history
            self.store.record_delivery(tenant_id, user_id, delivery["notification_id"],
                                       f"webhook:{delivery['webhook_id']}", record)


# --- helpers ---------------------------------------------------------------------------------------------------

def _context(tenant_id: str, user_id: str, webhook_id: str) -> dict[str, str]:
    return {"tenant_id": tenant_id, "user_id": user_id, "webhook_id": webhook_id}


def _url_shape(url: str) -> str | None:
    """A URL that is not even an absolute URL with a host (before DNS)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return "an absolute https URL is needed"
    if parts.fragment:
        return "the URL may not have a fragment"
    return None


def _message(tenant_id: str, user_id: str, webhook_id: str, delivery_id: str, attempt: int) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "user_id": user_id, "webhook_id": webhook_id, "delivery_id": delivery_id,
            "attempt": attempt}


def _new_delivery(delivery_id: str, webhook_id: str, event: str, body: str, notification_id: str | None,
                  now: datetime) -> Item:
    return {"id": delivery_id, "webhook_id": webhook_id, "event": event, "notification_id": notification_id,
            "body": body, "status": "queued", "attempts": 0, "history": [], "created_at": _iso(now),
            "updated_at": _iso(now), "next_attempt_at": _iso(now),
            "expires_epoch": int((now + timedelta(days=DELIVERY_DAYS)).timestamp())}


def _after_attempt(delivery: Item, answer: Answer, attempt: int, now: datetime, *, status: str,
                   next_at: datetime | None = None, counted: bool = True) -> Item:
    entry = {"at": _iso(now), "attempt": attempt, "status_code": answer.status_code, "error": answer.error,
             "duration_ms": answer.duration_ms}
    history = [*delivery.get("history", []), entry][-HISTORY_KEPT:]
    return {**delivery, "status": status, "attempts": int(delivery.get("attempts", 0)) + (1 if counted else 0),
            "status_code": answer.status_code, "error": answer.error, "history": history,
            "next_attempt_at": _iso(next_at) if next_at else None, "updated_at": _iso(now)}


def _view(item: Mapping[str, Any]) -> Webhook:
    return Webhook.model_validate({k: item.get(k) for k in Webhook.model_fields if k in item})


def _delivery_view(item: Mapping[str, Any]) -> WebhookDelivery:
    return WebhookDelivery.model_validate({k: item.get(k) for k in WebhookDelivery.model_fields if k in item})


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
