"""Request and response shapes of the agent registry."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Capability = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._:/-]{0,63}$")]
AgentRole = Literal["agent-producer", "agent-consumer", "agent-full"]


class AgentSettingsFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(default="", max_length=2000)
    capabilities: list[Capability] = Field(default_factory=list, max_length=32)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=32)


class AgentCreate(AgentSettingsFields):
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["external", "hosted"] = "external"
    role: AgentRole = "agent-full"
    heartbeat_interval_seconds: int = Field(default=30, ge=5, le=3600)
    rate_limit_per_minute: int = Field(default=1000, ge=1, le=100_000)
    max_deliveries: int = Field(default=5, ge=1, le=100)
    visibility_timeout_seconds: int = Field(default=30, ge=1, le=43_200)
    # SQS keeps a message at most 14 days; an offline agent finds its messages for this long.
    message_retention_seconds: int = Field(default=4 * 86_400, ge=60, le=14 * 86_400)


class AgentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    capabilities: list[Capability] | None = Field(default=None, max_length=32)
    metadata: dict[str, str] | None = Field(default=None, max_length=32)
    # Admins only:
    role: AgentRole | None = None
    heartbeat_interval_seconds: int | None = Field(default=None, ge=5, le=3600)
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=100_000)


class Agent(BaseModel):
    id: str
    name: str
    kind: str
    role: str
    description: str
    capabilities: list[str]
    metadata: dict[str, str]
    status: Literal["online", "offline"]
    last_heartbeat_at: str | None = None
    heartbeat_interval_seconds: int
    rate_limit_per_minute: int
    max_deliveries: int
    visibility_timeout_seconds: int
    message_retention_seconds: int
    has_credentials: bool
    created_at: str
    version: int


class ClientCredentials(BaseModel):
    client_id: str
    client_secret: str = Field(description="Shown once; only its keyed hash is stored")
    token_url: str
    grant_type: Literal["client_credentials"] = "client_credentials"


class AgentRegistered(Agent):
    credentials: ClientCredentials | None = None


class Heartbeat(BaseModel):
    status: Literal["online"] = "online"
    next_heartbeat_before: str
    offline_after: str


class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    scope: str


class AuditRecord(BaseModel):
    at: str
    actor: str
    actor_role: str
    credential: str
    action: str
    resource: str
    result: str
    request_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
