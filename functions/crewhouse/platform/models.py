from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crewhouse.core.tenancy import Role
from crewhouse.core.timezones import TimezoneName

WeekStart = Literal["monday", "sunday", "saturday"]
LOCALE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"  # BCP 47 as apps use it: en, en-GB, pt-BR, zh-Hant-TW


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str = Field(description="The deployed release (pyproject.toml's version)")
    commit: str = Field(description="The git commit the stack was synthesized from, or `unknown`")
    time: datetime = Field(description="The server's clock (UTC), to spot a skewed client")


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]


class Tenant(BaseModel):
    id: str
    name: str
    created_at: str
    owner_id: str


class Profile(BaseModel):
    """How the person wants times and dates shown and understood; the same in every tenant."""

    display_name: str | None = None
    timezone: str | None = Field(default=None, description="IANA time zone: quick add, reminders and "
                                                            "recurrence use it when a request names none (else UTC)")
    locale: str | None = Field(default=None, description="BCP 47 language tag, e.g. `en-GB`")
    week_start: WeekStart = Field(default="monday", description="The first day of the week in the person's views")


class ProfilePatch(BaseModel):
    """Only the fields given change; `null` resets one to its default."""

    model_config = ConfigDict(extra="forbid")

    display_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    timezone: TimezoneName = None
    locale: Annotated[str, Field(max_length=35, pattern=LOCALE_PATTERN)] | None = None
    week_start: WeekStart | None = None


class Me(BaseModel):
    user_id: str
    email: str | None
    tenant: Tenant | None
    tenant_id: str
    role: Role
    roles: list[str]
    scopes: list[str]
    token_access: list[str] | None = Field(default=None, description="The grant (`read`, `write`) of the personal "
                                                                      "access token this request came with; null for "
                                                                      "a sign-in")
    profile: Profile = Field(default_factory=Profile)


class Member(BaseModel):
    user_id: str
    email: str | None = None
    role: Role
    status: Literal["active", "removed"]
    invited_by: str | None = None
    created_at: str
    updated_at: str


class MyTenant(BaseModel):
    tenant_id: str
    role: Role
    active: bool = Field(description="Whether new tokens name this tenant")


class InvitationCreate(BaseModel):
    email: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    role: Role = "member"


class Invitation(BaseModel):
    id: str
    email: str
    role: Role
    status: Literal["pending", "accepted", "revoked"]
    invited_by: str
    created_at: str
    expires_at: str


class InvitationSent(Invitation):
    code: str = Field(description="What the invitee sends to POST /invitations/accept; shown once, also e-mailed")


class InvitationAccept(BaseModel):
    code: str = Field(min_length=10, max_length=300)


class RoleChange(BaseModel):
    role: Role


class TenantSwitch(BaseModel):
    tenant_id: str = Field(min_length=1, max_length=64)
    refresh_token: str | None = Field(
        default=None, max_length=4096,
        description="With it, the answer carries new tokens for the chosen tenant; without it, refresh them yourself")


class Tokens(BaseModel):
    id_token: str
    access_token: str
    expires_in: int


class TenantSwitched(BaseModel):
    tenant_id: str
    role: Role
    tokens: Tokens | None = None


TokenGrant = Literal["read", "write"]
MAX_TOKEN_DAYS = 365


class PersonalTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="What the token is for, e.g. `Claude Desktop`")
    scopes: list[TokenGrant] = Field(default=["read"], min_length=1, max_length=2,
                                     description="`[\"read\"]`, or `[\"read\", \"write\"]` to also change data")
    expires_in_days: int = Field(default=90, ge=1, le=MAX_TOKEN_DAYS, description="At most a year")

    @field_validator("scopes")
    @classmethod
    def _read_always(cls, scopes: list[str]) -> list[str]:
        if "read" not in scopes:
            raise ValueError("a token that writes must also read: use [\"read\", \"write\"]")
        return sorted(set(scopes))


class PersonalToken(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart; never the token")
    scopes: list[TokenGrant]
    tenant_id: str = Field(description="The tenant the token acts in")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Updated at most once a minute (the authorizer's cache)")
    expires_at: datetime


class PersonalTokenCreated(PersonalToken):
    token: str = Field(description="The token itself: shown this once, never again")
