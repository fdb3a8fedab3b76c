"""Notifications HTTP API: the inbox (``/notifications``), sending (admins and machine clients), templates
(``/notification-templates``, admins), the caller's preferences (``/me/notification-preferences``) and mobile push
devices (``/notifications/devices``).

No ``from __future__ import annotations`` here: FastAPI reads the signatures at import.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.etag import etag_for
from crewhouse.core.http import (
    IdempotencyKey,
    IfMatch,
    PageParams,
    Writer,
    create_app,
    current_member,
    lambda_handler,
)
from crewhouse.core.idempotency import run_idempotent
from crewhouse.core.identity import Identity
from crewhouse.core.pagination import Page
from crewhouse.core.settings import load_settings
from crewhouse.notifications.logic import NotificationService
from crewhouse.notifications.models import (
    BatchSend,
    Device,
    DeviceRegister,
    Notification,
    NotificationSend,
    Preferences,
    PreferencesView,
    Preview,
    ReadAll,
    Rendered,
    Sent,
    Template,
    TemplateBody,
    TemplateCreate,
    UnreadCount,
)
from crewhouse.notifications.settings import NotificationsSettings
from crewhouse.notifications.wiring import service_for

router = APIRouter(tags=["notifications"])
Member = Annotated[Identity, Depends(current_member)]  # any role: one's own inbox and preferences
NotificationId = Annotated[str, Path(min_length=1, max_length=64)]
DeviceId = Annotated[str, Path(min_length=1, max_length=64)]
TemplateKeyPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
LocalePath = Annotated[str, Path(min_length=2, max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


def notifications_settings() -> NotificationsSettings:
    return load_settings(NotificationsSettings)


Settings = Annotated[NotificationsSettings, Depends(notifications_settings)]


def service_dependency(settings: Settings) -> NotificationService:
    return service_for(settings)


Service = Annotated[NotificationService, Depends(service_dependency)]


def _now() -> datetime:
    return datetime.now(UTC)


# --- the inbox ------------------------------------------------------------------------------------------------

@router.get("/notifications", response_model=Page[Notification],
            summary="The caller's notifications, newest first (`unread=true`: only unread ones)")
def list_notifications(identity: Member, service: Service, settings: Settings, page: PageParams,
                       unread: Annotated[bool, Query(description="Only unread notifications")] = False,
                       ) -> Page[Notification]:
    scope = cursor_scope(identity, "notifications", {"unread": unread})
    items, resume = service.inbox(identity, limit=page.limit, start=page_start(settings, page.cursor, scope),
                                  unread_only=unread)
    return Page[Notification](items=items, next_cursor=page_next(settings, resume, scope))


@router.get("/notifications/unread-count", response_model=UnreadCount, summary="How many are unread")
def unread_count(identity: Member, service: Service) -> UnreadCount:
    return UnreadCount(unread=service.unread(identity))


@router.post("/notifications/read-all", response_model=ReadAll,
             summary="Mark every unread notification read (up to 1000 a call: call again while `marked` is 1000)")
def read_all(identity: Member, service: Service) -> ReadAll:
    return ReadAll(marked=service.mark_all_read(identity, _now()))


@router.post("/notifications", status_code=201, response_model=Sent,
             summary="Send a notification to a member of the caller's tenant: now, at `send_at`, or recurring "
                     "(`recurrence`, an RRULE). Tenant admins and machine clients with a write scope")
def send(body: NotificationSend, identity: Writer, service: Service, settings: Settings, request: Request,
         idempotency_key: IdempotencyKey = None) -> Sent:
    result = run_idempotent(settings, identity, "send-notification", idempotency_key, body.model_dump(mode="json"),
                            lambda: service.send(identity, body, _now()).model_dump(mode="json"),
                            request.scope.get("aws.context"))
    return Sent.model_validate(result)


@router.post("/notifications/batch", status_code=201, response_model=Sent,
             summary="Send one notification to up to 100 members of the caller's tenant (as POST /notifications)")
def send_batch(body: BatchSend, identity: Writer, service: Service, settings: Settings, request: Request,
               idempotency_key: IdempotencyKey = None) -> Sent:
    result = run_idempotent(settings, identity, "send-notifications", idempotency_key,
                            body.model_dump(mode="json"),
                            lambda: service.send(identity, body, _now()).model_dump(mode="json"),
                            request.scope.get("aws.context"))
    return Sent.model_validate(result)


# --- mobile push devices (the caller's own) ------------------------------------------------------------------------

@router.get("/notifications/devices", response_model=list[Device],
            summary="The caller's push devices (at most 10), oldest first")
def list_devices(identity: Member, service: Service) -> list[Device]:
    return service.devices(identity)


@router.post("/notifications/devices", status_code=201, response_model=Device,
             summary="Register a device token for push (`fcm` or `apns`): 201, or 200 with the same device when the "
                     "token is registered already; 409 past 10 devices or for a token another account holds; 503 "
                     "when this deployment has no push")
def register_device(body: DeviceRegister, identity: Member, service: Service, response: Response) -> Device:
    device, created = service.register_device(identity, body, _now())
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/notifications/devices/{device.id}"
    return device


@router.delete("/notifications/devices/{device_id}", status_code=204,
               summary="Remove one of the caller's push devices (its SNS endpoint is deleted)")
def remove_device(device_id: DeviceId, identity: Member, service: Service) -> Response:
    service.remove_device(identity, device_id)
    return Response(status_code=204)


@router.post("/notifications/{notification_id}/read", response_model=Notification, summary="Mark one read")
def mark_read(notification_id: NotificationId, identity: Member, service: Service) -> Notification:
    return service.mark_read(identity, notification_id, _now())


# --- templates (tenant admins) ----------------------------------------------------------------------------------

@router.get("/notification-templates", response_model=list[Template],
            summary="The predefined templates and the tenant's own (which override them), every locale")
def list_templates(identity: Member, service: Service) -> list[Template]:
    return service.list_templates(identity)


@router.post("/notification-templates", status_code=201, response_model=Template,
             summary="Add a template (or override a predefined one) for a locale; a Liquid syntax error is a 422 "
                     "naming the line")
def create_template(body: TemplateCreate, identity: Writer, service: Service, settings: Settings,
                    request: Request, response: Response, idempotency_key: IdempotencyKey = None) -> Template:
    result = run_idempotent(settings, identity, "create-notification-template", idempotency_key,
                            body.model_dump(mode="json"),
                            lambda: service.create_template(identity, body, _now()).model_dump(mode="json"),
                            request.scope.get("aws.context"))
    template = Template.model_validate(result)
    response.headers["ETag"] = etag_for(template.version)
    response.headers["Location"] = f"/notification-templates/{template.key}/{template.locale}"
    return template


@router.post("/notification-templates/preview", response_model=Rendered,
             summary="Render a stored template (`key`, `locale`, falling back to `en`) or the given subject and body")
def preview(body: Preview, identity: Member, service: Service) -> Rendered:
    return service.preview(identity, body)


@router.get("/notification-templates/{key}/{locale}", response_model=Template, summary="One template")
def get_template(key: TemplateKeyPath, locale: LocalePath, identity: Member, service: Service,
                 response: Response) -> Template:
    template = service.get_template(identity, key, locale)
    if not template.predefined:
        response.headers["ETag"] = etag_for(template.version)
    return template


@router.put("/notification-templates/{key}/{locale}", response_model=Template,
            summary="Change one of the tenant's templates (`If-Match` with its ETag)")
def replace_template(key: TemplateKeyPath, locale: LocalePath, body: TemplateBody, identity: Writer,
                     service: Service, response: Response, if_match: IfMatch = None) -> Template:
    template = service.replace_template(identity, key, locale, body, if_match, _now())
    response.headers["ETag"] = etag_for(template.version)
    return template


@router.delete("/notification-templates/{key}/{locale}", status_code=204,
               summary="Remove one of the tenant's templates (a predefined one applies again)")
def delete_template(key: TemplateKeyPath, locale: LocalePath, identity: Writer, service: Service,
                    if_match: IfMatch = None) -> Response:
    service.delete_template(identity, key, locale, if_match)
    return Response(status_code=204)


# --- preferences --------------------------------------------------------------------------------------------------

@router.get("/me/notification-preferences", response_model=PreferencesView,
            summary="The caller's preferences (and whether their address is suppressed after a hard bounce)")
def get_preferences(identity: Member, service: Service) -> PreferencesView:
    return service.preferences(identity)


@router.put("/me/notification-preferences", response_model=PreferencesView,
            summary="Replace the caller's preferences: channels, categories, quiet hours (`email_suppressed` is "
                    "read-only: a GET's answer may be sent back as it is)")
def put_preferences(body: PreferencesView, identity: Member, service: Service) -> PreferencesView:
    return service.set_preferences(identity, Preferences.model_validate(body.model_dump(exclude={"email_suppressed"})))


@router.delete("/me/notification-preferences/email-suppression", status_code=204,
               summary="E-mail the caller's address again after a hard bounce suppressed it (404 when it is not)")
def lift_email_suppression(identity: Member, service: Service) -> Response:
    service.lift_suppression(identity)
    return Response(status_code=204)


app = create_app("Crewhouse notifications", [router])
handler = lambda_handler(app, __name__)
