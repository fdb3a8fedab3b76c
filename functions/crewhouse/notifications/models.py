"""What the notifications context accepts and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crewhouse.core.timezones import TimezoneName

Category = Literal["task", "job", "flow", "agent", "file", "mention", "system"]
Priority = Literal["low", "normal", "urgent"]
Channel = Literal["in_app", "email", "push", "webhook"]
CATEGORIES: tuple[Category, ...] = ("task", "job", "flow", "agent", "file", "mention", "system")
CHANNELS: tuple[Channel, ...] = ("in_app", "email", "push", "webhook")
# Channels on unless the preferences turn them off. The webhook channel is off until the user registers a webhook
# (which turns it on unless their preferences name it): a notification then looks up no webhooks for a user who has
# none. Push costs nothing for a user without devices: their devices are on the preferences item already read.
DEFAULT_ON: tuple[Channel, ...] = ("in_app", "email", "push")
DeliveryStatus = Literal["delivered", "sent", "queued", "deferred", "skipped", "failed", "bounced", "complained"]
Locale = Annotated[str, Field(min_length=2, max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
TemplateKey = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
Link = Annotated[str, Field(max_length=2048, pattern=r"^(/|https://)")]


class DeliveryAttempt(BaseModel):
    at: datetime
    status: DeliveryStatus
    error: str | None = None
    detail: str | None = Field(default=None, description="The provider's message id, the deferral's end …")


class DeliveryHistory(BaseModel):
    status: DeliveryStatus
    attempts: int = 0
    error: str | None = None
    updated_at: datetime
    history: list[DeliveryAttempt] = Field(default_factory=list)


class Notification(BaseModel):
    id: str
    category: Category
    priority: Priority
    title: str
    body: str
    link: str | None = None
    template: str | None = None
    created_at: datetime
    read_at: datetime | None = None
    sender_id: str | None = None
    deliveries: dict[str, DeliveryHistory] = Field(default_factory=dict)


class UnreadCount(BaseModel):
    unread: int


class ReadAll(BaseModel):
    marked: int


class Content(BaseModel):
    """Either a title (and body) as given, or a template (predefined or the tenant's) and its data."""

    model_config = ConfigDict(extra="forbid")

    category: Category
    priority: Priority = "normal"
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    body: Annotated[str, Field(max_length=10_000)] = ""
    template: TemplateKey | None = None
    data: dict[str, Any] = Field(default_factory=dict, description="Values the template reads")
    link: Link | None = None

    @model_validator(mode="after")
    def _title_or_template(self) -> Content:
        if (self.title is None) == (self.template is None):
            raise ValueError("give either a title or a template")
        return self


class Timing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    send_at: datetime | None = Field(default=None, description="When to send (ISO 8601 with offset); now if absent")
    recurrence: Annotated[str, Field(max_length=500)] | None = Field(
        default=None, description="An RFC 5545 RRULE (e.g. `FREQ=WEEKLY;BYDAY=MO;COUNT=4`), from `send_at`")
    timezone: TimezoneName = Field(default=None, description="The zone the recurrence is read in (default UTC)")

    @field_validator("send_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("send_at needs a UTC offset")
        return value


class NotificationSend(Content, Timing):
    recipient_id: Annotated[str, Field(min_length=1, max_length=128)]


class BatchSend(Content, Timing):
    recipient_ids: Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]],
                             Field(min_length=1, max_length=100)]


class Sent(BaseModel):
    """Sent now (``notifications``), or scheduled (``scheduled``: one pending send a recipient)."""

    notifications: list[Notification] = Field(default_factory=list)
    scheduled: list[ScheduledSend] = Field(default_factory=list)


class ScheduledSend(BaseModel):
    id: str
    recipient_id: str
    send_at: datetime
    recurrence: str | None = None


class TemplateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Annotated[str, Field(min_length=1, max_length=500)]
    body: Annotated[str, Field(min_length=1, max_length=20_000)]


class TemplateCreate(TemplateBody):
    key: TemplateKey
    locale: Locale = "en"


class Template(TemplateCreate):
    predefined: bool = False
    version: int = 0
    updated_at: datetime | None = None


class Preview(BaseModel):
    """Render a stored template (``key`` and ``locale``) or the ``subject``/``body`` given, with ``data``."""

    model_config = ConfigDict(extra="forbid")

    key: TemplateKey | None = None
    locale: Locale = "en"
    subject: Annotated[str, Field(max_length=500)] | None = None
    body: Annotated[str, Field(max_length=20_000)] | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _source(self) -> Preview:
        if self.key is None and (self.subject is None or self.body is None):
            raise ValueError("give a template key, or a subject and a body")
        return self


class Rendered(BaseModel):
    subject: str
    body: str
    locale: str = Field(description="The locale whose template was used (after falling back)")


HHMM = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: HHMM = Field(description="Local time the quiet window starts, e.g. `22:00`")
    end: HHMM = Field(description="Local time it ends (the next day when earlier than start), e.g. `07:00`")
    timezone: TimezoneName = Field(default=None, description="IANA zone; the profile's time zone when absent")


class EmailDigest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hour: int = Field(default=8, ge=0, le=23, description="The local hour the day's digest is e-mailed")
    timezone: TimezoneName = Field(default=None, description="IANA zone; the profile's time zone when absent")


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: dict[Channel, bool] = Field(default_factory=lambda: {c: True for c in DEFAULT_ON},
                                          description="Opt in (true) or out per channel; `webhook` is off until "
                                                      "the user registers a webhook")
    categories: dict[Category, dict[Channel, bool]] = Field(
        default_factory=dict, description="Per category, per channel; a channel not named follows `channels`")
    quiet_hours: QuietHours | None = None
    email_digest: EmailDigest | None = Field(
        default=None, description="Low-priority e-mail batched into one e-mail a day at this local hour; none: "
                                  "each is e-mailed on its own")

    def allows(self, channel: str, category: str) -> bool:
        per_category: dict[str, bool] = dict(self.categories.get(category, {}))  # type: ignore[call-overload]
        default = channel in DEFAULT_ON
        return bool(self.channels.get(channel, default)) and per_category.get(channel, True)  # type: ignore[call-overload]


class EmailSuppression(BaseModel):
    """Set by a hard bounce of the address or a complaint from it: no more e-mail goes to it (each skip says so in
    the delivery history) until the member's address changes or they lift it."""

    address: str
    at: datetime
    reason: str | None = None
    notification_id: str | None = None
    cause: Literal["bounce", "complaint"] = "bounce"


class PreferencesView(Preferences):
    email_suppressed: EmailSuppression | None = Field(
        default=None, description="Set when the member's address bounced hard; read-only (DELETE "
                                  "/me/notification-preferences/email-suppression lifts it)")


# --- mobile push devices -------------------------------------------------------------------------------------

DevicePlatform = Literal["fcm", "apns"]
MAX_DEVICES = 10


class DeviceRegister(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: DevicePlatform = Field(description="`fcm` (Firebase Cloud Messaging) or `apns` (Apple)")
    token: Annotated[str, Field(min_length=8, max_length=4096, pattern=r"^[A-Za-z0-9_:.\-]+$",
                                description="The device token the platform's SDK gave the app")]


class Device(BaseModel):
    id: str = Field(description="Stable per platform and token: registering the same token again answers it")
    platform: DevicePlatform
    token_hint: str = Field(description="The token's last 8 characters")
    created_at: datetime


# --- webhooks -------------------------------------------------------------------------------------------------

WebhookDeliveryStatus = Literal["queued", "retrying", "delivered", "dead", "failed"]
WebhookEvent = Literal["notification.created", "ping"]


class WebhookCreate(BaseModel):
    """A URL and categories are checked by the service (every problem named at once), not by the schema."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(min_length=1, max_length=2048, description="An https URL of a public host")]
    description: Annotated[str, Field(max_length=500)] = ""
    categories: list[Annotated[str, Field(max_length=32)]] | None = Field(
        default=None, max_length=len(CATEGORIES),
        description=f"Categories this webhook receives ({', '.join(CATEGORIES)}); every category when absent")
    enabled: bool = True


class WebhookPatch(BaseModel):
    """Only the fields given change; `categories: null` means every category."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    description: Annotated[str, Field(max_length=500)] | None = None
    categories: list[Annotated[str, Field(max_length=32)]] | None = Field(default=None, max_length=len(CATEGORIES))
    enabled: bool | None = None


class Webhook(BaseModel):
    id: str
    url: str
    description: str = ""
    categories: list[Category] | None = None
    enabled: bool = True
    secret_hint: str = Field(description="The first characters of the signing secret (it is shown only once)")
    version: int
    created_at: datetime
    updated_at: datetime


class WebhookCreated(Webhook):
    secret: str = Field(description="The signing secret: shown in this answer only, never again")


class WebhookAttempt(BaseModel):
    at: datetime
    attempt: int
    status_code: int | None = Field(default=None, description="The receiver's HTTP status; none when unreached")
    error: str | None = None
    duration_ms: int = 0


class WebhookDelivery(BaseModel):
    id: str
    webhook_id: str
    event: WebhookEvent
    notification_id: str | None = None
    status: WebhookDeliveryStatus = Field(
        description="queued, retrying (a later attempt is due), delivered (2xx), dead (every attempt failed: "
                    "redrive it), failed (a test ping that failed)")
    attempts: int = 0
    status_code: int | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    history: list[WebhookAttempt] = Field(default_factory=list, description="The latest attempts, oldest first")


Sent.model_rebuild()
