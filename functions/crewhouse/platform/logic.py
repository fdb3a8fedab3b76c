"""Platform rules: readiness, who-am-I, and a tenant for every newly confirmed user. No boto3 here."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from crewhouse.core.errors import ServiceUnavailable
from crewhouse.core.identity import Identity
from crewhouse.platform.models import Me, Readiness, Tenant

_TENANT_NAMESPACE = uuid.UUID("5b1f4a36-6c1e-4f7e-9d0a-6b0c7d1e2f30")


class Probe(Protocol):
    def ping(self) -> None: ...


class TenantStore(Protocol):
    def create_tenant(self, tenant: Tenant, admin_email: str | None) -> None: ...

    def get_tenant(self, tenant_id: str) -> Tenant | None: ...


class Directory(Protocol):
    def assign_tenant(self, user_pool_id: str, username: str, tenant_id: str, group: str) -> None: ...


def check_readiness(probes: Mapping[str, Probe]) -> Readiness:
    """Every dependency answers, or 503 naming the ones that did not."""
    checks: dict[str, str] = {}
    for name, probe in probes.items():
        try:
            probe.ping()
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; the reason goes to the client
            checks[name] = f"unreachable: {type(exc).__name__}"
    failing = sorted(name for name, state in checks.items() if state != "ok")
    if failing:
        raise ServiceUnavailable(f"Not ready: {', '.join(failing)} unreachable.", failing=failing, checks=checks)
    return Readiness(status="ready", checks=checks)


def describe_me(identity: Identity, tenants: TenantStore) -> Me:
    return Me(
        user_id=identity.user_id,
        email=identity.email,
        tenant_id=identity.tenant_id,
        tenant=tenants.get_tenant(identity.tenant_id),
        roles=sorted(identity.roles),
        scopes=sorted(identity.scopes),
    )


def onboard_confirmed_user(
    user_pool_id: str,
    username: str,
    attributes: Mapping[str, str],
    tenants: TenantStore,
    directory: Directory,
    now: datetime | None = None,
) -> str:
    """Create a tenant whose admin is the new user; returns its id. A user who has one keeps it.

    The tenant id is derived from the user's ``sub``, so a retried trigger finds the same tenant
    instead of creating a second one.
    """
    existing = attributes.get("custom:tenant_id")
    if existing:
        return existing
    user_id = attributes.get("sub") or username
    email = attributes.get("email")
    tenant = Tenant(
        id=str(uuid.uuid5(_TENANT_NAMESPACE, user_id)),
        name=f"{(email or username).split('@')[0]}'s workspace",
        owner_id=user_id,
        created_at=(now or datetime.now(UTC)).isoformat(),
    )
    tenants.create_tenant(tenant, email)
    directory.assign_tenant(user_pool_id, username, tenant.id, "admin")
    return tenant.id
