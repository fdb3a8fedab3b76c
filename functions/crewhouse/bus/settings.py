"""What every bus function reads from its environment (one settings class for the context)."""

from __future__ import annotations

from crewhouse.platform.settings import TokenHashSettings


class BusSettings(TokenHashSettings):
    # Agents, contexts, replies, idempotency markers and rate-limit state (PK/SK, GSI1, GSI2; TTL expires_epoch).
    bus_table: str = "crewhouse-bus"
    # Append-only: the functions may PutItem and Query, never UpdateItem or DeleteItem (IAM, cdk/…/bus.py).
    bus_audit_table: str = "crewhouse-bus-audit"
    # Context payloads over the inline limit, and large transfers (multipart uploads).
    bus_bucket: str = "crewhouse-bus-payloads"
    # Every per-agent queue and per-tenant topic is named <prefix>-<tenant>-…; IAM grants on the prefix.
    bus_resource_prefix: str = "crewhouse-bus"
    # The shared inbox of hosted agents (answered by crewhouse.bus.hosted), a queue URL.
    hosted_inbox_url: str | None = None
    # Where agents trade their client credentials for an access token (shown in the registration answer).
    public_api_url: str = "http://localhost:8000/"
    agent_token_seconds: int = 3600
