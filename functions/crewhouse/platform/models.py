from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]


class Tenant(BaseModel):
    id: str
    name: str
    created_at: str
    owner_id: str


class Me(BaseModel):
    user_id: str
    email: str | None
    tenant: Tenant | None
    tenant_id: str
    roles: list[str]
    scopes: list[str]
