"""The bus's public surface for other contexts: hosted agents' entries in the agent registry.

Crews (``crewhouse.crews``) define hosted agents; each one is also a registry entry with ``kind: "hosted"`` and the
same id, so discovery (``GET /agents?kind=hosted``, by capability) finds it and messages reach it::

    hosted_registry(settings: BusSettings | None = None) -> HostedRegistry
    HostedRegistry.put(tenant_id, agent_id, *, name, description, capabilities, created_by) -> None  # create/update
    HostedRegistry.remove(tenant_id, agent_id) -> None                                               # idempotent

The calling function needs ``BUS_TABLE`` in its environment and read-write access to that table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crewhouse.bus.agents_store import DynamoAgents
from crewhouse.bus.rate_limit import rate_attributes
from crewhouse.bus.settings import BusSettings
from crewhouse.core.aws import aws_client
from crewhouse.core.settings import load_settings
from crewhouse.core.table import Table

__all__ = ["HostedRegistry", "hosted_registry"]
HOSTED_DEFAULTS: dict[str, Any] = {"role": "agent-full", "heartbeat_interval_seconds": 30, "max_deliveries": 5,
                                   "visibility_timeout_seconds": 30, "message_retention_seconds": 4 * 86_400}


class HostedRegistry:
    def __init__(self, store: DynamoAgents) -> None:
        self.store = store

    def put(self, tenant_id: str, agent_id: str, *, name: str, description: str, capabilities: list[str],
            created_by: str) -> None:
        capabilities = sorted(set(capabilities))
        current = self.store.get(tenant_id, agent_id)
        if current is None:
            now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            record = {"agent_id": agent_id, "tenant_id": tenant_id, "name": name, "kind": "hosted",
                      "description": description, "capabilities": capabilities, "metadata": {"defined_by": "crews"},
                      "status": "online", "created_at": now, "created_by": created_by, "version": 1,
                      "credentials_valid_after_ms": 0, **HOSTED_DEFAULTS, **rate_attributes(1000)}
            self.store.create(record, capabilities, None)
            return
        if current["kind"] != "hosted":
            raise ValueError(f"agent {agent_id} is registered as {current['kind']}")
        version = int(current["version"])
        updated = {**current, "name": name, "description": description, "capabilities": capabilities,
                   "version": version + 1}
        self.store.replace(updated, version, old_capabilities=list(current.get("capabilities") or []),
                           new_capabilities=capabilities)

    def remove(self, tenant_id: str, agent_id: str) -> None:
        current = self.store.get(tenant_id, agent_id)
        if current is not None and current["kind"] == "hosted":
            self.store.remove(current)


def hosted_registry(settings: BusSettings | None = None) -> HostedRegistry:
    settings = settings if settings is not None else load_settings(BusSettings)
    return HostedRegistry(DynamoAgents(Table(aws_client("dynamodb", settings), settings.bus_table)))
