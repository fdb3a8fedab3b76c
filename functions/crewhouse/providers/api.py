"""Model providers HTTP API (``/llm-providers``): a tenant's own Bedrock, OpenAI-compatible and offline providers,
their failover order, a test call, and usage per provider and agent per day.

No ``from __future__ import annotations`` here: FastAPI reads every route's signature at import.
"""

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.etag import etag_for
from crewhouse.core.http import (
    IdempotencyKey,
    IfMatch,
    PageParams,
    create_app,
    current_identity,
    lambda_handler,
    with_etag,
)
from crewhouse.core.idempotency import run_idempotent
from crewhouse.core.identity import Identity
from crewhouse.core.settings import load_settings
from crewhouse.providers.logic import ProviderService
from crewhouse.providers.models import (
    DAY_PATTERN,
    ID_PATTERN,
    OrderIn,
    Provider,
    ProviderCreate,
    ProviderPage,
    ProviderUpdate,
    TestResult,
    UsagePage,
)
from crewhouse.providers.settings import ProvidersSettings
from crewhouse.providers.wiring import provider_service

router = APIRouter(tags=["llm-providers"])
CurrentIdentity = Annotated[Identity, Depends(current_identity)]


def providers_settings() -> ProvidersSettings:
    return load_settings(ProvidersSettings)


Settings = Annotated[ProvidersSettings, Depends(providers_settings)]


def service(settings: Settings) -> ProviderService:
    return provider_service(settings)


Service = Annotated[ProviderService, Depends(service)]


def _fingerprint(body: ProviderCreate) -> dict[str, Any]:
    """What an Idempotency-Key's repeats must match: the body, the API key as a digest only."""
    key = body.api_key.get_secret_value() if body.api_key else None
    return {**body.model_dump(mode="json", exclude={"api_key"}),
            "api_key_sha256": hashlib.sha256(key.encode()).hexdigest() if key else None}


@router.get("/llm-providers", response_model=ProviderPage,
            summary="The tenant's model providers in failover order (at most 20: one page); ETag: the order's "
                    "version")
def list_providers(identity: CurrentIdentity, service: Service, response: Response) -> dict[str, Any]:
    response.headers["ETag"] = etag_for(service.order_version(identity.tenant_id))
    return {"items": service.listing(identity), "next_cursor": None}


@router.post("/llm-providers", status_code=201, response_model=Provider,
             summary="Add a model provider (last in the failover order); api_key is write-only")
def create_provider(body: ProviderCreate, identity: CurrentIdentity, service: Service, settings: Settings,
                    request: Request, response: Response,
                    idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    view = run_idempotent(settings, identity, "llm-providers.create", idempotency_key, _fingerprint(body),
                          lambda: service.create(identity, body), request.scope.get("aws.context"))
    response.headers["Location"] = f"/llm-providers/{view['id']}"
    return with_etag(response, view)


@router.put("/llm-providers/order", response_model=ProviderPage,
            summary="Set the failover order (ids first tried first; If-Match: the list's ETag)")
def set_order(body: OrderIn, identity: CurrentIdentity, service: Service, response: Response,
              if_match: IfMatch = None) -> dict[str, Any]:
    items, version = service.set_order(identity, body.ids, if_match)
    response.headers["ETag"] = etag_for(version)
    return {"items": items, "next_cursor": None}


@router.get("/llm-providers/usage", response_model=UsagePage,
            summary="Daily usage rows (calls and tokens) per provider and agent, oldest day first")
def usage(identity: CurrentIdentity, service: Service, settings: Settings, page: PageParams,
          first: Annotated[str | None, Query(alias="from", pattern=DAY_PATTERN)] = None,
          last: Annotated[str | None, Query(alias="to", pattern=DAY_PATTERN)] = None,
          provider_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
          agent_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None) -> dict[str, Any]:
    scope = cursor_scope(identity, "llm-providers/usage",
                         {"from": first, "to": last, "provider_id": provider_id, "agent_id": agent_id})
    rows, last_key = service.usage(identity, first, last, provider_id, agent_id, limit=page.limit,
                                   start=page_start(settings, page.cursor, scope))
    return {"items": rows, "next_cursor": page_next(settings, dict(last_key) if last_key else None, scope)}


@router.get("/llm-providers/{provider_id}", response_model=Provider, summary="One model provider")
def get_provider(provider_id: str, identity: CurrentIdentity, service: Service, response: Response) -> dict[str, Any]:
    return with_etag(response, service.get(identity, provider_id))


@router.patch("/llm-providers/{provider_id}", response_model=Provider,
              summary="Change a provider (If-Match: its ETag); \"api_key\": null removes the key")
def update_provider(provider_id: str, body: ProviderUpdate, identity: CurrentIdentity, service: Service,
                    response: Response, if_match: IfMatch = None) -> dict[str, Any]:
    return with_etag(response, service.update(identity, provider_id, body, if_match))


@router.delete("/llm-providers/{provider_id}", status_code=204, summary="Remove a provider (If-Match: its ETag)")
def delete_provider(provider_id: str, identity: CurrentIdentity, service: Service,
                    if_match: IfMatch = None) -> Response:
    service.delete(identity, provider_id, if_match)
    return Response(status_code=204)


@router.post("/llm-providers/{provider_id}/test", response_model=TestResult,
             summary="One small Converse call through this provider alone: latency, model and tokens, or its "
                     "error (422 refused, 503 unavailable)")
def test_provider(provider_id: str, identity: CurrentIdentity, service: Service) -> dict[str, Any]:
    return service.test(identity, provider_id)


app = create_app("Crewhouse model providers", [router])
handler = lambda_handler(app, __name__)
