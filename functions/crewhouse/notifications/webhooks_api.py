"""Webhooks HTTP API (``/notifications/webhooks``): a user's own webhook endpoints, their deliveries, a test ping
and redrive. The rules are :mod:`crewhouse.notifications.webhooks`.

A function of its own: only it (and the delivery worker) may use the KMS key the signing secrets are encrypted
with. The create takes no ``Idempotency-Key``: its answer carries the secret, which the idempotency table would
then keep in plain text; a client that lost the answer deletes the webhook and registers it again.

No ``from __future__ import annotations`` here: FastAPI reads the signatures at import.
"""

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.http import IfMatch, PageParams, Reader, Writer, create_app, lambda_handler, with_etag
from crewhouse.core.pagination import Page
from crewhouse.core.settings import load_settings
from crewhouse.notifications.models import Webhook, WebhookCreate, WebhookCreated, WebhookDelivery, WebhookPatch
from crewhouse.notifications.settings import NotificationsSettings
from crewhouse.notifications.webhooks import WebhookService
from crewhouse.notifications.wiring import webhooks_for

router = APIRouter(tags=["notifications"])
WebhookId = Annotated[str, Path(min_length=1, max_length=64)]
DeliveryId = Annotated[str, Path(min_length=1, max_length=64)]


def notifications_settings() -> NotificationsSettings:
    return load_settings(NotificationsSettings)


Settings = Annotated[NotificationsSettings, Depends(notifications_settings)]


def service_dependency(settings: Settings) -> WebhookService:
    return webhooks_for(settings)


Service = Annotated[WebhookService, Depends(service_dependency)]


def _now() -> datetime:
    return datetime.now(UTC)


@router.post("/notifications/webhooks", status_code=201, response_model=WebhookCreated,
             summary="Register an https webhook for the caller's notifications (categories: all when absent). The "
                     "answer carries the signing secret, shown this once. A refused URL (not https, a private, "
                     "loopback, link-local or metadata address after DNS resolution) or an unknown category is a "
                     "422 naming every problem")
def create_webhook(body: WebhookCreate, identity: Writer, service: Service, response: Response) -> WebhookCreated:
    created = service.create(identity, body, _now())
    response.headers["Location"] = f"/notifications/webhooks/{created.id}"
    return WebhookCreated.model_validate(with_etag(response, created.model_dump(mode="json")))


@router.get("/notifications/webhooks", response_model=list[Webhook],
            summary="The caller's webhooks (at most 10), oldest first; the secret is never shown again")
def list_webhooks(identity: Reader, service: Service) -> list[Webhook]:
    return service.all(identity)


@router.get("/notifications/webhooks/{webhook_id}", response_model=Webhook, summary="One of the caller's webhooks")
def get_webhook(webhook_id: WebhookId, identity: Reader, service: Service, response: Response) -> Webhook:
    return Webhook.model_validate(with_etag(response, service.get(identity, webhook_id).model_dump(mode="json")))


@router.patch("/notifications/webhooks/{webhook_id}", response_model=Webhook,
              summary="Change a webhook (`If-Match` with its ETag): url (checked again), description, categories, "
                      "enabled")
def update_webhook(webhook_id: WebhookId, body: WebhookPatch, identity: Writer, service: Service,
                   response: Response, if_match: IfMatch = None) -> Webhook:
    webhook = service.update(identity, webhook_id, body, if_match, _now())
    return Webhook.model_validate(with_etag(response, webhook.model_dump(mode="json")))


@router.delete("/notifications/webhooks/{webhook_id}", status_code=204,
               summary="Remove a webhook (`If-Match` with its ETag); its queued deliveries are dropped")
def delete_webhook(webhook_id: WebhookId, identity: Writer, service: Service, if_match: IfMatch = None) -> Response:
    service.delete(identity, webhook_id, if_match)
    return Response(status_code=204)


@router.post("/notifications/webhooks/{webhook_id}/test", response_model=WebhookDelivery,
             summary="Send a signed `ping` now, once, and answer how it went (`delivered` or `failed`, the status "
                     "code, the error); listed with the deliveries")
def test_webhook(webhook_id: WebhookId, identity: Writer, service: Service) -> WebhookDelivery:
    return service.test(identity, webhook_id, _now())


@router.get("/notifications/webhooks/{webhook_id}/deliveries", response_model=Page[WebhookDelivery],
            summary="A webhook's deliveries, newest first, with their attempts (kept 30 days); `status=dead` lists "
                    "the dead letters, which `POST …/redrive` sends again")
def list_deliveries(webhook_id: WebhookId, identity: Reader, service: Service, settings: Settings,
                    page: PageParams,
                    status: Annotated[Literal["queued", "retrying", "delivered", "dead", "failed"] | None,
                                      Query(description="Only deliveries in this state")] = None,
                    ) -> Page[WebhookDelivery]:
    scope = cursor_scope(identity, "webhook-deliveries", {"webhook": webhook_id, "status": status})
    items, resume = service.deliveries(identity, webhook_id, limit=page.limit,
                                       start=page_start(settings, page.cursor, scope), status=status)
    return Page[WebhookDelivery](items=items, next_cursor=page_next(settings, resume, scope))


@router.post("/notifications/webhooks/{webhook_id}/deliveries/{delivery_id}/redrive", status_code=202,
             response_model=WebhookDelivery,
             summary="Queue a dead (or failed test) delivery again, with a fresh round of retries; 409 for one that "
                     "is not dead")
def redrive_delivery(webhook_id: WebhookId, delivery_id: DeliveryId, identity: Writer,
                     service: Service) -> WebhookDelivery:
    return service.redrive(identity, webhook_id, delivery_id, _now())


app = create_app("Crewhouse notification webhooks", [router])
handler = lambda_handler(app, __name__)
