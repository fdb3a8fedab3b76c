"""The agent registry's rules: registration with client credentials, heartbeats and status, discovery, the
token exchange, and A2A agent cards. No boto3 here: the store and the mailboxes are passed in."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from crewhouse.bus.access import BusCaller, own_record, require, require_self_or_admin
from crewhouse.bus.agent_models import AgentCreate, AgentPatch
from crewhouse.bus.agents_store import DynamoAgents
from crewhouse.bus.ids import new_id
from crewhouse.bus.messaging import MessageStore, release_agent
from crewhouse.bus.rate_limit import rate_attributes
from crewhouse.core.errors import Forbidden, NotFound, Unauthorized
from crewhouse.platform.personal_tokens import (
    AGENT_SECRET_PREFIX,
    AGENT_TOKEN_PREFIX,
    mint,
    token_digest,
    well_formed,
)

Item = dict[str, Any]
A2A_PROTOCOL_VERSION = "1.0"
# Fields an agent may change about itself; the rest (role, limits) are an admin's.
SELF_EDITABLE = frozenset({"name", "description", "capabilities", "metadata"})


class Mailboxes(Protocol):
    def provision(self, tenant_id: str, agent_id: str, *, max_deliveries: int, visibility_timeout_seconds: int,
                  retention_seconds: int) -> dict[str, Any]: ...
    def deprovision(self, record: dict[str, Any]) -> None: ...


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def status_of(record: Item, now: datetime) -> str:
    """Online while the last heartbeat is within twice the interval (hosted agents: always, Crewhouse runs them);
    derived at read time, so a reader never waits for the sweep."""
    if record["kind"] == "hosted":
        return "online"
    return "online" if int(record.get("heartbeat_due_ms") or 0) > _ms(now) else "offline"


def view(record: Item, now: datetime) -> Item:
    """The record as the API shows it (never queue URLs or the client secret's hash)."""
    return {"id": record["agent_id"], "name": record["name"], "kind": record["kind"], "role": record["role"],
            "description": record.get("description", ""), "capabilities": list(record.get("capabilities") or []),
            "metadata": dict(record.get("metadata") or {}), "status": status_of(record, now),
            "last_heartbeat_at": record.get("last_heartbeat_at"),
            "heartbeat_interval_seconds": int(record["heartbeat_interval_seconds"]),
            "rate_limit_per_minute": int(record["rate_limit_per_minute"]),
            "max_deliveries": int(record["max_deliveries"]),
            "visibility_timeout_seconds": int(record["visibility_timeout_seconds"]),
            "message_retention_seconds": int(record["message_retention_seconds"]),
            "has_credentials": bool(record.get("client_id")), "created_at": record["created_at"],
            "version": int(record["version"])}


def _new_client(record: Item, hash_key: bytes, token_url: str, now: datetime) -> tuple[Item, Item]:
    """A fresh client secret: the platform item that keeps only its keyed hash, and what the admin sees once."""
    secret = mint(AGENT_SECRET_PREFIX)
    item = {"client_id": record["agent_id"], "agent_id": record["agent_id"], "tenant_id": record["tenant_id"],
            "secret_digest": token_digest(hash_key, secret), "created_at": _iso(now)}
    shown = {"client_id": record["agent_id"], "client_secret": secret, "token_url": token_url}
    return item, shown


class AgentRegistry:
    def __init__(self, store: DynamoAgents, mailboxes: Mailboxes, messages: MessageStore, *,
                 hash_key: Callable[[], bytes], token_url: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.mailboxes = mailboxes
        self.messages = messages
        self._hash_key = hash_key
        self._token_url = token_url
        self.clock = clock

    def find(self, caller: BusCaller, agent_id: str) -> Item:
        """The agent of the caller's tenant, 404 otherwise (another tenant's id reads as missing)."""
        require(caller, "agents:read")
        record = self.store.get(caller.tenant_id, agent_id)
        if record is None:
            raise NotFound(f"No agent {agent_id}.")
        return record

    def register(self, caller: BusCaller, body: AgentCreate) -> tuple[Item, Item | None]:
        """The new agent and, for an external one, its client credentials (shown once)."""
        require(caller, "agents:manage")
        now = self.clock()
        agent_id = new_id()
        record: Item = {
            "agent_id": agent_id, "tenant_id": caller.tenant_id, "name": body.name, "kind": body.kind,
            "role": body.role, "description": body.description, "capabilities": sorted(set(body.capabilities)),
            "metadata": body.metadata, "heartbeat_interval_seconds": body.heartbeat_interval_seconds,
            "max_deliveries": body.max_deliveries, "visibility_timeout_seconds": body.visibility_timeout_seconds,
            "message_retention_seconds": body.message_retention_seconds,
            "status": "online" if body.kind == "hosted" else "offline", "created_at": _iso(now),
            "created_by": caller.actor, "version": 1, "credentials_valid_after_ms": 0,
            **rate_attributes(body.rate_limit_per_minute),
        }
        client_item, shown = None, None
        if body.kind == "external":
            record.update(self.mailboxes.provision(
                caller.tenant_id, agent_id, max_deliveries=body.max_deliveries,
                visibility_timeout_seconds=body.visibility_timeout_seconds,
                retention_seconds=body.message_retention_seconds))
            client_item, shown = _new_client(record, self._hash_key(), self._token_url, now)
            record["client_id"] = client_item["client_id"]
        try:
            self.store.create(record, record["capabilities"], client_item)
        except Exception:
            if body.kind == "external":
                self.mailboxes.deprovision(record)  # nothing registered: leave no queue behind
            raise
        return record, shown

    def update(self, caller: BusCaller, agent_id: str, patch: AgentPatch, expected_version: int | None) -> Item:
        record = self.find(caller, agent_id)
        changes = patch.model_dump(exclude_unset=True)
        if not caller.is_admin:
            require_self_or_admin(caller, agent_id, "agents:read")
            if set(changes) - SELF_EDITABLE:
                raise Forbidden("An agent may change only its name, description, capabilities and metadata.",
                                slug="bus-role")
        version = int(record["version"])
        if expected_version is not None and expected_version != version:
            from crewhouse.core.errors import PreconditionFailed

            raise PreconditionFailed("The agent changed meanwhile; fetch it again and retry.")
        updated = {**record, **{k: v for k, v in changes.items() if k != "rate_limit_per_minute"},
                   "version": version + 1}
        if "capabilities" in changes:
            updated["capabilities"] = sorted(set(changes["capabilities"]))
        if "rate_limit_per_minute" in changes:
            updated.update(rate_attributes(changes["rate_limit_per_minute"]))
        self.store.replace(updated, version, old_capabilities=list(record.get("capabilities") or []),
                           new_capabilities=list(updated["capabilities"]),
                           refill_bucket="rate_limit_per_minute" in changes)
        return updated

    def unregister(self, caller: BusCaller, agent_id: str) -> Item:
        require(caller, "agents:manage")
        record = self.find(caller, agent_id)
        if record["kind"] == "external":
            release_agent(self.mailboxes, self.messages, record)  # reads its subscriptions: before they go
        self.store.remove(record)
        return record

    def heartbeat(self, caller: BusCaller, agent_id: str) -> Item:
        require_self_or_admin(caller, agent_id, "agents:read")
        now = self.clock()
        # An agent's own heartbeat needs only its interval, which its admission read (no second read).
        record = own_record(caller, agent_id) or self.find(caller, agent_id)
        interval = timedelta(seconds=int(record["heartbeat_interval_seconds"]))
        offline_after = now + 2 * interval
        if self.store.heartbeat(caller.tenant_id, agent_id, at=_iso(now), due_ms=_ms(offline_after)) is None:
            raise NotFound(f"No agent {agent_id}.")
        return {"status": "online", "next_heartbeat_before": _iso(now + interval), "offline_after": _iso(offline_after)}

    def rotate_credentials(self, caller: BusCaller, agent_id: str) -> Item:
        require(caller, "agents:manage")
        record = self.find(caller, agent_id)
        if record["kind"] != "external":
            raise NotFound("Hosted agents have no credentials.")
        now = self.clock()
        client_item, shown = _new_client(record, self._hash_key(), self._token_url, now)
        self.store.replace_client_secret(caller.tenant_id, agent_id, client_item, _ms(now))
        return shown

    def revoke_credentials(self, caller: BusCaller, agent_id: str) -> None:
        require(caller, "agents:manage")
        self.find(caller, agent_id)
        self.store.replace_client_secret(caller.tenant_id, agent_id, None, _ms(self.clock()))

    def exchange(self, client_id: str, client_secret: str, *, lifetime_seconds: int) -> Item:
        """OAuth 2.0 client credentials: a short-lived access token for a valid client id and secret."""
        refused = Unauthorized("The client id or secret is wrong, or the credentials were revoked.",
                               slug="invalid-client", error="invalid_client")
        if not well_formed(client_secret, AGENT_SECRET_PREFIX):
            raise refused  # a typo, refused without a lookup
        client = self.store.client(client_id)
        key = self._hash_key()
        if client is None or not hmac.compare_digest(client["secret_digest"], token_digest(key, client_secret)):
            raise refused
        record = self.store.get(client["tenant_id"], client["agent_id"])
        if record is None:
            raise refused
        now = self.clock()
        token, created = mint(AGENT_TOKEN_PREFIX), int(now.timestamp())
        # Stored like a personal token's lookup item: the API's authorizer reads both the same way.
        self.store.store_access_token({
            "PK": f"TOKEN#{token_digest(key, token)}", "SK": "TOKEN", "principal_id": f"agent:{record['agent_id']}",
            "agent_id": record["agent_id"], "tenant_id": record["tenant_id"], "token_id": new_id(),
            "access": [record["role"]], "created_epoch": created, "created_ms": _ms(now),
            "expires_epoch": created + lifetime_seconds})
        return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime_seconds,
                "scope": record["role"]}


def agent_card(record: Item, *, api_url: str) -> Item:
    """An A2A v1.0 Agent Card: identity, the interface to reach the agent, its capabilities as skills."""
    base = api_url.rstrip("/")
    interfaces = [{"url": f"{base}/a2a/agents/{record['agent_id']}", "protocolBinding": "JSONRPC",
                   "protocolVersion": A2A_PROTOCOL_VERSION}] if record["kind"] == "hosted" else []
    return {
        "name": record["name"], "description": record.get("description") or record["name"],
        "version": str(record["version"]), "supportedInterfaces": interfaces,
        "provider": {"organization": "Crewhouse", "url": base},
        "capabilities": {"streaming": False, "pushNotifications": False, "extendedAgentCard": False},
        "defaultInputModes": ["application/json", "text/plain"],
        "defaultOutputModes": ["application/json", "text/plain"],
        "skills": [{"id": capability, "name": capability, "description": f"{record['name']}: {capability}",
                    "tags": [capability.split(".")[0]]} for capability in record.get("capabilities") or []],
        "securitySchemes": {"bearer": {"httpAuthSecurityScheme": {"scheme": "Bearer"}}},
        "securityRequirements": [{"schemes": {"bearer": {"list": []}}}],
    }


def bus_card(*, api_url: str) -> Item:
    """Crewhouse's own card (``/.well-known/agent-card.json``): the bus as a directory of agents."""
    base = api_url.rstrip("/")
    return {
        "name": "Crewhouse Agentic Context Bus",
        "description": "Agent registry, shared contexts and reliable agent-to-agent messaging. Each agent's own "
                       "card is at /agents/{id}/card; hosted agents answer A2A message/send at /a2a/agents/{id}.",
        "version": "1.0.0", "supportedInterfaces": [],
        "provider": {"organization": "Crewhouse", "url": base}, "documentationUrl": f"{base}/openapi.json",
        "capabilities": {"streaming": False, "pushNotifications": False, "extendedAgentCard": False},
        "defaultInputModes": ["application/json"], "defaultOutputModes": ["application/json"],
        "skills": [{"id": "discovery", "name": "Agent discovery", "tags": ["registry"],
                    "description": "Find agents by capability, kind and status (GET /agents)."},
                   {"id": "contexts", "name": "Shared contexts", "tags": ["context"],
                    "description": "Versioned JSON or binary payloads shared between agents (/contexts)."},
                   {"id": "messaging", "name": "Messaging", "tags": ["messaging"],
                    "description": "Point-to-point, broadcast, topics and request-reply (/messages)."}],
        "securitySchemes": {"bearer": {"httpAuthSecurityScheme": {"scheme": "Bearer"}}},
        "securityRequirements": [{"schemes": {"bearer": {"list": []}}}],
    }
