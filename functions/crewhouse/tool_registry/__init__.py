"""The tool registry: tenants' tools (builtin, http, mcp, code), their schemas, dry runs and the runtime other
contexts call (:mod:`crewhouse.tool_registry.wiring`)."""
