"""The shapes the tool registry accepts and answers (public: other contexts may import them).

A tool's ``config`` is a JSON object whose shape depends on its ``kind`` (:data:`CONFIG_MODELS`); the registry
checks it together with both schemas, so one answer names every problem of a definition.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

Kind = Literal["builtin", "http", "mcp", "code"]
KINDS: tuple[str, ...] = ("builtin", "http", "mcp", "code")
# Bedrock Converse's toolSpec names: [a-zA-Z0-9_-]{1,64}; a registered name is used as is.
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
MAX_SCHEMA_KEYS = 200


class AuthConfig(BaseModel):
    """How an http or mcp tool authenticates; the secret itself is write-only (``secret`` of the request)."""

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["none", "bearer", "api_key", "basic"] = "none"
    # api_key: the header that carries the key. basic: the secret is "user:password".
    header_name: str = Field(default="X-API-Key", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9-]+$")


class HttpConfig(BaseModel):
    """A described HTTP call. ``{name}`` placeholders in the URL, header values and body template are filled from
    the input (URL-encoded in the URL; a body string that is exactly ``{name}`` takes the input's value as is)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = Field(min_length=8, max_length=2048)
    headers: dict[str, str] = Field(default_factory=dict, max_length=30)
    body_template: Any = None
    auth: AuthConfig = Field(default_factory=AuthConfig)
    timeout_seconds: float = Field(default=10.0, gt=0, le=25)
    max_response_bytes: int = Field(default=1_000_000, ge=1, le=5_000_000)


class McpConfig(BaseModel):
    """A remote MCP server's tool (Streamable HTTP), called with the official SDK client."""

    model_config = ConfigDict(extra="forbid")

    server_url: str = Field(min_length=8, max_length=2048)
    tool_name: str = Field(min_length=1, max_length=128)
    headers: dict[str, str] = Field(default_factory=dict, max_length=30)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    timeout_seconds: float = Field(default=15.0, gt=0, le=25)


class CodeConfig(BaseModel):
    """Python source with an entry function ``def run(input: dict) -> dict``, run in the sandbox."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=100_000)
    entry: str = Field(default="run", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    timeout_seconds: float = Field(default=5.0, gt=0, le=8)  # the sandbox Lambda itself stops at 10 s
    memory_mb: int = Field(default=256, ge=64, le=256)


class BuiltinConfig(BaseModel):
    """One of Crewhouse's own tools (``GET /tools/builtin`` lists them); its schemas come from the tool."""

    model_config = ConfigDict(extra="forbid")

    tool: str = Field(min_length=1, max_length=64)


CONFIG_MODELS: dict[str, type[BaseModel]] = {"builtin": BuiltinConfig, "http": HttpConfig, "mcp": McpConfig,
                                             "code": CodeConfig}


class ToolCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Unique in the tenant; the name a model calls it by")
    description: str = Field(default="", max_length=2000)
    kind: Kind
    input_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of the input, an object schema (builtin: taken from the tool)")
    output_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of the output (builtin: taken from the tool; else any JSON)")
    config: dict[str, Any] = Field(default_factory=dict, description="Kind-specific: see HttpConfig, McpConfig, "
                                   "CodeConfig, BuiltinConfig")
    secret: SecretStr | None = Field(default=None, max_length=8192,
                                     description="http/mcp credentials; write-only, kept in Secrets Manager")


class ToolUpdate(BaseModel):
    """Fields to change (the kind stays); ``config`` and the schemas are replaced whole when given."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    description: str | None = Field(default=None, max_length=2000)
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    secret: SecretStr | None = Field(default=None, max_length=8192)


class ToolOut(BaseModel):
    id: str
    name: str
    description: str
    kind: Kind
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    config: dict[str, Any]
    has_secret: bool = False
    secret_set_at: str | None = None
    version: int
    created_at: str
    updated_at: str
    created_by: str


class ToolPage(BaseModel):
    items: list[ToolOut]
    next_cursor: str | None = None


class BuiltinToolOut(BaseModel):
    id: str = Field(description="builtin:<name>: usable as a tool id by the runtime without registering it")
    name: str
    description: str
    read_only: bool
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]


class BuiltinToolPage(BaseModel):
    items: list[BuiltinToolOut]
    next_cursor: str | None = None


class ValidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] | None = Field(default=None, description="Sample input; omitted: a minimal one is "
                                         "generated from input_schema")


class SchemaProblem(BaseModel):
    path: str
    message: str


class ValidateOut(BaseModel):
    schemas_ok: bool
    problems: list[SchemaProblem] = Field(description="Problems of the definition or of the sample input")
    input: Any = None
    input_generated: bool = False
    executed: bool = Field(description="False for builtin tools (a dry run would act on the tenant's data) and "
                           "when the definition or input has problems")
    ok: bool
    output: Any = None
    output_matches: bool | None = None
    output_problems: list[SchemaProblem] = Field(default_factory=list)
    error: dict[str, Any] | None = None
    duration_ms: int | None = None
