"""Platform HTTP API: ``/health``, ``/ready``, ``/me``, ``/openapi.json``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from crewhouse.core.aws import aws_client
from crewhouse.core.http import create_app, current_identity, lambda_handler
from crewhouse.core.identity import Identity
from crewhouse.core.settings import load_settings
from crewhouse.platform import logic
from crewhouse.platform.models import Health, Me, Readiness
from crewhouse.platform.settings import PlatformSettings
from crewhouse.platform.store import DynamoTenantStore, S3BucketProbe

router = APIRouter(tags=["platform"])


def platform_settings() -> PlatformSettings:
    return load_settings(PlatformSettings)


def tenant_store(settings: Annotated[PlatformSettings, Depends(platform_settings)]) -> logic.TenantStore:
    return DynamoTenantStore(aws_client("dynamodb", settings), settings.platform_table)


def readiness_probes(settings: Annotated[PlatformSettings, Depends(platform_settings)]) -> dict[str, logic.Probe]:
    return {
        "dynamodb": DynamoTenantStore(aws_client("dynamodb", settings), settings.platform_table),
        "s3": S3BucketProbe(aws_client("s3", settings), settings.files_bucket),
    }


@router.get("/health", response_model=Health, summary="Liveness: answers without touching any dependency")
def health() -> Health:
    return Health()


@router.get("/ready", response_model=Readiness, summary="Readiness: DynamoDB and S3 reachable, else 503",
            responses={503: {"description": "A dependency is unreachable (named in `failing`)"}})
def ready(probes: Annotated[dict[str, logic.Probe], Depends(readiness_probes)]) -> Readiness:
    return logic.check_readiness(probes)


@router.get("/me", response_model=Me, summary="The caller: user, tenant and roles")
def me(identity: Annotated[Identity, Depends(current_identity)],
       tenants: Annotated[logic.TenantStore, Depends(tenant_store)]) -> Me:
    return logic.describe_me(identity, tenants)


@router.get("/openapi.json", summary="The merged OpenAPI document of every context", include_in_schema=False)
def openapi_document(identity: Annotated[Identity, Depends(current_identity)]) -> dict[str, Any]:
    from crewhouse.openapi import merged_openapi  # imported on demand: it loads every context

    return merged_openapi()


app = create_app("Crewhouse platform", [router])
handler = lambda_handler(app)
