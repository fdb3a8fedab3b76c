"""The bus context in ``mock_aws``: its tables as the template defines them, its bucket, and callers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3

from crewhouse.core.settings import function_environment
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.members import seed_membership
from tests.support.tables import create_table

BUS_TABLE, AUDIT_TABLE, BUCKET, PLATFORM = "bus", "bus-audit", "bus-payloads", "platform"
HASH_KEY = "k" * 64
BUS_ENV = {"BUS_TABLE": BUS_TABLE, "BUS_AUDIT_TABLE": AUDIT_TABLE, "BUS_BUCKET": BUCKET, "PLATFORM_TABLE": PLATFORM,
           "AWS_REGION": "us-east-1", "TOKEN_HASH_KEY": HASH_KEY, "CURSOR_SIGNING_KEY": "c" * 32,
           "PUBLIC_API_URL": "https://api.test/", "EVENT_BUS_NAME": "crewhouse"}
Call = Callable[..., tuple[int, Any, dict[str, str]]]


def create_bus_resources() -> Any:
    """The bus and audit tables (from the template), the platform table, the payloads bucket, the event bus."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_table(dynamodb, "BusBusTable", BUS_TABLE)
    create_table(dynamodb, "BusBusAuditTable", AUDIT_TABLE)
    create_table(dynamodb, "StoragePlatformTable", PLATFORM)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    boto3.client("events", region_name="us-east-1").create_event_bus(Name="crewhouse")
    return dynamodb


def invoke(handler: Any, event: dict[str, Any], env: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    with function_environment({**BUS_ENV, **(env or {})}):
        response = handler(event, lambda_context())
    return response["statusCode"], response_json(response), dict(response.get("headers") or {})


def as_person(handler: Any, user: str, tenant: str = "t1", role: str = "admin") -> Call:
    """A tenant member (Cognito) calling ``handler``; the membership is seeded with ``role``."""
    seed_membership(tenant, user, role, table=PLATFORM)

    def call(method: str, path: str, body: Any = None, *, query: str = "",
             headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        return invoke(handler, http_event(method, path, body=body, claims=claims_for(tenant, user), query=query,
                                          headers=headers))

    return call


def agent_claims(tenant: str, agent_id: str, issued_ms: int | None = None) -> dict[str, str]:
    """What the API's authorizer hands on for an agent's access token (crewhouse.platform.credentials)."""
    issued = issued_ms if issued_ms is not None else int(time.time() * 1000)
    return {"credential": "agent-token", "sub": f"agent:{agent_id}", "tenant_id": tenant, "agent_id": agent_id,
            "iat": str(issued // 1000), "issued_ms": str(issued)}


def as_agent(handler: Any, agent_id: str, tenant: str = "t1", issued_ms: int | None = None) -> Call:
    def call(method: str, path: str, body: Any = None, *, query: str = "",
             headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        return invoke(handler, http_event(method, path, body=body, query=query, headers=headers,
                                          claims=agent_claims(tenant, agent_id, issued_ms)))

    return call
