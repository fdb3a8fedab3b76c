"""Who is calling the bus, in which bus role, and what that role may do.

Two kinds of caller reach the bus through the one Lambda authorizer (:mod:`crewhouse.platform.credentials`):

* **agents**, with an access token traded for their client credentials (``cha_…``): the role is the one their
  registration gives (``agent-producer``, ``agent-consumer``, ``agent-full``), read from the agent's gate item at
  every request, together with its rate limit (one UpdateItem, :mod:`crewhouse.bus.rate_limit`). A token issued before
  the agent's credentials were rotated or revoked, or for an agent since unregistered, is refused (401);
* **people**, with a Cognito token or a personal access token: a tenant admin is the bus's ``admin``, any other
  member an ``observer`` (reads the registry, the audit of nothing, and ``public`` contexts; never a message body).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from crewhouse.core.errors import Forbidden, Unauthorized
from crewhouse.core.identity import AGENT_TOKEN_CREDENTIAL
from crewhouse.core.rate_limit import RateState

AGENT_ROLES = ("agent-producer", "agent-consumer", "agent-full")
BUS_ROLES = ("admin", *AGENT_ROLES, "observer")

# What each role may do; a route names the permission it needs (``require``).
PERMISSIONS: Mapping[str, frozenset[str]] = {
    "admin": frozenset({"agents:read", "agents:manage", "contexts:read", "contexts:write", "messages:send",
                        "messages:manage", "audit:read"}),
    "agent-producer": frozenset({"agents:read", "contexts:read", "contexts:write", "messages:send",
                                 "messages:reply"}),
    "agent-consumer": frozenset({"agents:read", "contexts:read", "messages:receive", "messages:reply"}),
    "agent-full": frozenset({"agents:read", "contexts:read", "contexts:write", "messages:send", "messages:receive",
                             "messages:reply"}),
    "observer": frozenset({"agents:read", "contexts:read"}),
}


@dataclass(frozen=True)
class BusCaller:
    tenant_id: str
    actor_id: str  # the agent's id, or the person's user id
    actor_kind: str  # "agent" or "person"
    role: str  # one of BUS_ROLES
    credential: str  # "agent-token", "cognito" or "personal-token"
    request_id: str | None = None
    rate: RateState | None = field(default=None, compare=False)
    # What admitting an agent's request read of it (its gate's copy: kind, role, inbox, interval, limits; see
    # ``crewhouse.bus.agents_store.GATE_FIELDS``), so the messaging routes read nothing more of the caller.
    agent_record: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def actor(self) -> str:
        """How audit records and envelopes name the caller: ``agent:<id>`` or ``user:<id>``."""
        return f"agent:{self.actor_id}" if self.actor_kind == "agent" else f"user:{self.actor_id}"

    @property
    def user_id(self) -> str:
        """Idempotency keys are scoped per caller (``run_idempotent`` reads ``tenant_id`` and ``user_id``)."""
        return self.actor

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def is_agent(self, agent_id: str) -> bool:
        return self.actor_kind == "agent" and self.actor_id == agent_id

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())


def own_record(caller: BusCaller, agent_id: str) -> dict[str, Any] | None:
    """What admission read of the agent when the caller is that agent (only ``GATE_FIELDS``, not its name,
    capabilities or status: read the record for those)."""
    if caller.is_agent(agent_id) and caller.agent_record is not None:
        return dict(caller.agent_record)
    return None


def require(caller: BusCaller, permission: str) -> BusCaller:
    """403 problem+json unless the caller's bus role grants ``permission``."""
    if not caller.may(permission):
        raise Forbidden(f"The bus role {caller.role!r} may not do this ({permission}).", slug="bus-role",
                        role=caller.role, permission=permission)
    return caller


def require_self_or_admin(caller: BusCaller, agent_id: str, permission: str) -> BusCaller:
    """An agent acts on itself only (its heartbeat, its inbox); an admin on any agent of the tenant."""
    if caller.is_admin:
        return caller
    require(caller, permission)
    if not caller.is_agent(agent_id):
        raise Forbidden("An agent may do this for itself only.", slug="bus-not-self")
    return caller


class AgentAdmission(Protocol):
    def admit(self, tenant_id: str, agent_id: str, now_ms: int) -> tuple[dict[str, Any], RateState]:
        """The agent (its gate's copy) after charging one request to its rate limit (429 when empty, 401 when
        gone)."""
        ...


def agent_caller(claims: Mapping[str, Any], admission: AgentAdmission, request_id: str | None,
                 now_ms: int | None = None) -> BusCaller:
    """The caller behind an agent access token, its rate limit charged."""
    tenant_id, agent_id = str(claims.get("tenant_id") or ""), str(claims.get("agent_id") or "")
    if not tenant_id or not agent_id:
        raise Unauthorized("The agent token names no agent.")
    record, rate = admission.admit(tenant_id, agent_id, now_ms if now_ms is not None else int(time.time() * 1000))
    if int(str(claims.get("issued_ms") or 0)) < int(record.get("credentials_valid_after_ms") or 0):
        raise Unauthorized("The agent's credentials were rotated or revoked; exchange the new ones.",
                           slug="token-revoked")
    return BusCaller(tenant_id=tenant_id, actor_id=agent_id, actor_kind="agent", role=str(record["role"]),
                     credential=AGENT_TOKEN_CREDENTIAL, request_id=request_id, rate=rate, agent_record=record)


def person_caller(tenant_id: str, user_id: str, tenant_role: str, credential: str,
                  request_id: str | None) -> BusCaller:
    return BusCaller(tenant_id=tenant_id, actor_id=user_id, actor_kind="person",
                     role="admin" if tenant_role == "admin" else "observer", credential=credential,
                     request_id=request_id)
