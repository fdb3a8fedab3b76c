"""What the tool registry's functions read from their environment."""

from __future__ import annotations

from crewhouse.core.settings import CoreSettings

# Credentials of http and mcp tools: one Secrets Manager secret per tool, <prefix>/<tenant>/<tool id>. A constant,
# not an environment variable: the CDK construct scopes its grants to the same prefix.
SECRET_PREFIX = "crewhouse/tools"


class ToolRegistrySettings(CoreSettings):
    # Tools (T#<tenant>#TOOL#<id> / TOOL), name guards (T#<tenant>#TOOLNAME#<name>), GSI1 listing by kind and name.
    tool_registry_table: str = "crewhouse-tools"
    tool_secret_prefix: str = SECRET_PREFIX
    # The code sandbox Lambda (no permissions, no network). Unset: the sandbox runs in this process's child
    # process (tests, and any function without the grant).
    sandbox_function: str | None = None
    # Local mode (set by the embedded cloud): http and mcp tools may reach loopback over plain http.
    crewhouse_local: bool = False
    http_timeout_seconds: float = 10.0
    http_max_response_bytes: int = 1_000_000
