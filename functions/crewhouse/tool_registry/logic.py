"""The tool registry's rules (no AWS): definitions checked on save with every problem listed, tenancy, dry runs,
and the runtime other contexts call (:class:`ToolRunner`).

Public surface for other contexts (with :mod:`crewhouse.tool_registry.wiring` and ``models``):

* ``ToolRunner.converse_tool_config(tenant_id, tool_ids) -> dict``: Bedrock Converse ``toolConfig``;
* ``ToolRunner.tool_ids_by_name(tenant_id, tool_ids) -> dict[str, str]``: Converse tool name -> tool id;
* ``ToolRunner.invoke(identity, tool_id, arguments) -> ToolOutcome``: never raises for a tool's own failure.

A tool id is a registered tool's id, or ``builtin:<name>`` for one of Crewhouse's own tools (usable without
registering it). Another tenant's id is unknown here, exactly like a missing one.
"""

from __future__ import annotations

import ast
import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from crewhouse.core.errors import Conflict, NotFound, ValidationProblem
from crewhouse.core.etag import parse_if_match, require_version
from crewhouse.core.identity import Identity, require_writer
from crewhouse.core.settings import CoreSettings, load_settings
from crewhouse.tool_registry import schemas
from crewhouse.tool_registry.failures import ToolFailure
from crewhouse.tool_registry.models import (
    CONFIG_MODELS,
    AuthConfig,
    CodeConfig,
    HttpConfig,
    McpConfig,
    ToolCreate,
    ToolUpdate,
)
from crewhouse.tool_registry.templating import names_in
from crewhouse.tools.registry import Tool, ToolContext, ToolOutcome, call_tool, get_tool, tools

Record = dict[str, Any]
Resume = dict[str, Any]
Problem = dict[str, str]
BUILTIN_PREFIX = "builtin:"
DEFAULT_INPUT_SCHEMA: dict[str, Any] = {"type": "object"}


class ToolStore(Protocol):
    def get(self, tenant_id: str, tool_id: str) -> Record | None: ...

    def get_many(self, tenant_id: str, tool_ids: Sequence[str]) -> dict[str, Record]: ...

    def create(self, record: Record) -> None: ...

    def replace(self, record: Record, expected_version: int, previous_name: str) -> None: ...

    def remove(self, tenant_id: str, tool_id: str, expected_version: int, name: str) -> None: ...

    def page(self, tenant_id: str, *, kind: str | None, limit: int,
             start: Resume | None) -> tuple[list[Record], Resume | None]: ...


class SecretStore(Protocol):
    def name_for(self, tenant_id: str, tool_id: str) -> str: ...

    def put(self, name: str, value: str, tenant_id: str) -> None: ...

    def get(self, name: str) -> str | None: ...

    def delete(self, name: str) -> None: ...


class CodeRunner(Protocol):
    def run(self, request: Mapping[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RuntimeOptions:
    allow_loopback: bool = False  # local mode only
    http_timeout_seconds: float = 10.0
    http_max_response_bytes: int = 1_000_000


def _default_http(*args: Any, **kwargs: Any) -> Any:
    from crewhouse.tool_registry.http_tool import call_http  # httpx/httpcore: only when an http tool runs

    return call_http(*args, **kwargs)


def _default_mcp(*args: Any, **kwargs: Any) -> Any:
    from crewhouse.tool_registry.mcp_tool import call_mcp  # the MCP SDK: only when an mcp tool runs

    return call_mcp(*args, **kwargs)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_tool_id() -> str:
    return secrets.token_hex(13)  # 26 lower-case hex characters


# --- definitions ---------------------------------------------------------------------------------------------

def _pydantic_problems(exc: ValidationError, where: str) -> list[Problem]:
    return [{"path": ".".join([where, *(str(p) for p in e["loc"])]), "message": e["msg"]} for e in exc.errors()]


def _literal_host_problems(url: str, where: str, allow_loopback: bool) -> list[Problem]:
    """Static URL checks on save (DNS is checked at every call): scheme, host, and a literal address's range."""
    from crewhouse.core.ssrf import UnsafeUrl, check_url

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [{"path": where, "message": "an absolute http(s) URL with a host"}]
    host = parts.hostname
    if "{" in (parts.netloc or ""):
        return []  # filled from the input: checked when called
    literal = host.replace(".", "").replace(":", "").isalnum() and (host[0].isdigit() or ":" in host)
    if literal or host == "localhost":
        try:
            check_url(url, allow_loopback=allow_loopback)
        except UnsafeUrl as exc:
            return [{"path": where, "message": f"refused: {exc.reason}"}]
    elif parts.scheme == "http" and not allow_loopback:
        return [{"path": where, "message": "plain http is not called; use https"}]
    return []


def _code_problems(config: CodeConfig) -> list[Problem]:
    try:
        tree = ast.parse(config.source)
    except SyntaxError as exc:
        return [{"path": "config.source", "message": f"line {exc.lineno}: {exc.msg}"}]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == config.entry:
            if not node.args.args and not node.args.vararg:
                return [{"path": "config.entry", "message": f"{config.entry}() must take the input as its argument"}]
            return []
    return [{"path": "config.entry", "message": f"the source defines no top-level function {config.entry}"}]


def _placeholder_problems(used: set[str], input_schema: Mapping[str, Any], where: str) -> list[Problem]:
    properties = input_schema.get("properties")
    if not isinstance(properties, dict):
        return []
    return [{"path": where, "message": f"the placeholder {{{name}}} is not a property of input_schema"}
            for name in sorted(used - set(properties))]


def _auth_scheme(kind: str, parsed: BaseModel | None, config: Mapping[str, Any]) -> str | None:
    """The auth scheme of an http or mcp config, also when other fields of it are wrong."""
    if isinstance(parsed, HttpConfig | McpConfig):
        return parsed.auth.scheme
    if kind not in ("http", "mcp") or not isinstance(config.get("auth"), dict):
        return None
    try:
        return AuthConfig.model_validate(config["auth"]).scheme
    except ValidationError:
        return None


@dataclass
class Definition:
    config: dict[str, Any]
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    problems: list[Problem]


def check_definition(kind: str, config: Mapping[str, Any], input_schema: dict[str, Any] | None,
                     output_schema: dict[str, Any] | None, *, has_secret: bool,
                     allow_loopback: bool = False) -> Definition:
    """The normalized definition and every problem it has (config, schemas, placeholders, secret, code)."""
    problems: list[Problem] = []
    parsed: BaseModel | None = None
    try:
        parsed = CONFIG_MODELS[kind].model_validate(dict(config))
    except ValidationError as exc:
        problems += _pydantic_problems(exc, "config")
    normalized = parsed.model_dump(mode="json") if parsed is not None else dict(config)
    if kind == "builtin":
        for name, given in (("input_schema", input_schema), ("output_schema", output_schema)):
            if given is not None:
                problems.append({"path": name, "message": "a builtin tool's schemas come from the tool; leave it out"})
        tool = get_tool(str(normalized.get("tool"))) if parsed is not None else None
        if parsed is not None and tool is None:
            problems.append({"path": "config.tool", "message": f"no builtin tool {normalized.get('tool')!r}; "
                             "GET /tools/builtin lists them"})
        if tool is None:
            return Definition(normalized, dict(DEFAULT_INPUT_SCHEMA), None, problems)
        built_in, built_out = schemas.model_schemas(tool.input_model, tool.output_model)
        return Definition(normalized, built_in, built_out, problems)
    input_schema = input_schema if input_schema is not None else dict(DEFAULT_INPUT_SCHEMA)
    problems += schemas.schema_problems(input_schema, "input_schema", object_only=True)
    if output_schema is not None:
        problems += schemas.schema_problems(output_schema, "output_schema")
    if isinstance(parsed, HttpConfig):
        problems += _literal_host_problems(parsed.url, "config.url", allow_loopback)
        used = names_in(parsed.url) | names_in(parsed.headers) | names_in(parsed.body_template)
        problems += _placeholder_problems(used, input_schema, "config")
    if isinstance(parsed, McpConfig):
        problems += _literal_host_problems(parsed.server_url, "config.server_url", allow_loopback)
    scheme = _auth_scheme(kind, parsed, config)
    if scheme not in (None, "none") and not has_secret:
        problems.append({"path": "secret", "message": f"{scheme} auth needs a secret"})
    if isinstance(parsed, CodeConfig):
        problems += _code_problems(parsed)
    return Definition(normalized, input_schema, output_schema, problems)


def _raise_problems(problems: list[Problem]) -> None:
    if problems:
        paths = ", ".join(dict.fromkeys(p["path"] for p in problems))
        raise ValidationProblem(f"The tool definition has problems: {paths}.", slug="tool-definition",
                                errors=[{"path": f"body.{p['path']}", "message": p["message"]} for p in problems])


# --- records and views ----------------------------------------------------------------------------------------

def tool_view(record: Mapping[str, Any]) -> Record:
    return {"id": record["id"], "name": record["name"], "description": record.get("description") or "",
            "kind": record["kind"], "input_schema": record["input_schema"],
            "output_schema": record.get("output_schema"),
            "config": record["config"], "has_secret": bool(record.get("secret_set_at")),
            "secret_set_at": record.get("secret_set_at"), "version": int(record["version"]),
            "created_at": record["created_at"], "updated_at": record["updated_at"],
            "created_by": record["created_by"]}


def builtin_view(tool: Tool) -> Record:
    input_schema, output_schema = schemas.model_schemas(tool.input_model, tool.output_model)
    return {"id": BUILTIN_PREFIX + tool.name, "name": tool.name, "description": tool.description,
            "read_only": tool.read_only, "input_schema": input_schema, "output_schema": output_schema}


def builtin_record(tool: Tool) -> Record:
    """A builtin tool as if registered (the runtime's ``builtin:<name>`` ids)."""
    view = builtin_view(tool)
    return {"id": view["id"], "name": tool.name, "description": tool.description, "kind": "builtin",
            "input_schema": view["input_schema"], "output_schema": view["output_schema"],
            "config": {"tool": tool.name}}


def is_read_only(record: Mapping[str, Any]) -> bool:
    """What an observer may run: read-only builtin tools, GET http tools and code tools (no network, no state)."""
    kind = record["kind"]
    if kind == "builtin":
        tool = get_tool(str(record["config"].get("tool")))
        return bool(tool and tool.read_only)
    if kind == "http":
        return str(record["config"].get("method", "GET")) == "GET"
    return kind == "code"


# --- running a tool ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunResult:
    ok: bool
    output: Any = None
    error: dict[str, Any] | None = None
    duration_ms: int = 0


def _failure(error: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"error": error, "detail": detail, **extra}


@dataclass
class ToolRunner:
    """Runs registered (and builtin) tools for other contexts: the flows node runner, hosted agents, dry runs."""

    store: ToolStore
    secrets: SecretStore
    code: CodeRunner
    options: RuntimeOptions = field(default_factory=RuntimeOptions)
    settings_for: Callable[[type[CoreSettings]], CoreSettings] = load_settings
    http: Callable[..., Any] = _default_http
    mcp: Callable[..., Any] = _default_mcp

    def record(self, tenant_id: str, tool_id: str) -> Record:
        """The tool's record (a builtin one for ``builtin:<name>``); 404 for another tenant's or a missing id."""
        if tool_id.startswith(BUILTIN_PREFIX):
            tool = get_tool(tool_id.removeprefix(BUILTIN_PREFIX))
            if tool is not None:
                return builtin_record(tool)
        else:
            found = self.store.get(tenant_id, tool_id)
            if found is not None and found.get("tenant_id") == tenant_id:
                return found
        raise NotFound(f"No tool {tool_id}.", slug="tool-not-found")

    def records(self, tenant_id: str, tool_ids: Sequence[str]) -> list[Record]:
        registered = [i for i in tool_ids if not i.startswith(BUILTIN_PREFIX)]
        found = self.store.get_many(tenant_id, registered) if registered else {}
        records: list[Record] = []
        missing: list[str] = []
        for tool_id in dict.fromkeys(tool_ids):
            if tool_id.startswith(BUILTIN_PREFIX):
                tool = get_tool(tool_id.removeprefix(BUILTIN_PREFIX))
                record = builtin_record(tool) if tool is not None else None
            else:
                record = found.get(tool_id)
                record = record if record is not None and record.get("tenant_id") == tenant_id else None
            if record is None:
                missing.append(tool_id)
            else:
                records.append(record)
        if missing:
            raise NotFound(f"No tool {', '.join(missing)}.", slug="tool-not-found", missing=missing)
        return records

    def converse_tool_config(self, tenant_id: str, tool_ids: Sequence[str]) -> dict[str, Any]:
        """Bedrock Converse ``toolConfig`` for these tools: ``{"tools": [{"toolSpec": …}]}``; names are the
        registered names (``[A-Za-z][A-Za-z0-9_-]{0,63}``, unique in a tenant) or the builtin tool's name."""
        specs = []
        names: set[str] = set()
        for record in self.records(tenant_id, tool_ids):
            if record["name"] in names:
                raise Conflict(f"Two of these tools are called {record['name']}.", slug="tool-name-clash")
            names.add(record["name"])
            specs.append({"toolSpec": {"name": record["name"],
                                       "description": (record.get("description") or record["name"])[:4096],
                                       "inputSchema": {"json": record["input_schema"]}}})
        return {"tools": specs}

    def tool_ids_by_name(self, tenant_id: str, tool_ids: Sequence[str]) -> dict[str, str]:
        """Converse tool name -> tool id, to route a model's ``toolUse`` back to :meth:`invoke`."""
        return {record["name"]: record["id"] for record in self.records(tenant_id, tool_ids)}

    def invoke(self, identity: Identity, tool_id: str, arguments: Mapping[str, Any]) -> ToolOutcome:
        """Validate the arguments (every error listed), run the tool by kind, validate its output. A tool's own
        failure, bad arguments, an unknown id and a refused role are ``ok=False`` outcomes, never exceptions."""
        try:
            record = self.record(identity.tenant_id, tool_id)
        except NotFound:
            return ToolOutcome(False, _failure("unknown-tool", f"No tool {tool_id}.", status=404))
        if not isinstance(arguments, Mapping):
            return ToolOutcome(False, _failure("invalid-arguments", "The arguments are a JSON object.", status=422))
        if record["kind"] == "builtin":
            context = ToolContext(identity=identity, settings_for=self.settings_for)
            return call_tool(str(record["config"]["tool"]), dict(arguments), context)
        problems = schemas.value_problems(record["input_schema"], dict(arguments), "")
        if problems:
            return ToolOutcome(False, _failure("invalid-arguments", "The arguments do not match the tool's input "
                                               "schema.", status=422, errors=problems))
        if not is_read_only(record) and not identity.can_write:
            return ToolOutcome(False, _failure("forbidden", "Your role in this tenant is read-only.", status=403))
        result = self.execute(record, dict(arguments))
        if not result.ok:
            return ToolOutcome(False, result.error or _failure("tool-failed", "The tool failed."))
        output_problems = self.output_problems(record, result.output)
        if output_problems:
            return ToolOutcome(False, _failure("invalid-output", "The tool's output does not match its output "
                                               "schema.", errors=output_problems, output=result.output))
        return ToolOutcome(True, result.output if isinstance(result.output, dict) else {"result": result.output})

    @staticmethod
    def output_problems(record: Mapping[str, Any], output: Any) -> list[Problem]:
        schema = record.get("output_schema")
        return schemas.value_problems(schema, output, "output") if schema and record["kind"] != "builtin" else []

    def execute(self, record: Mapping[str, Any], arguments: dict[str, Any]) -> RunResult:
        """Run an http, mcp or code tool once (no input or output checks)."""
        started = time.monotonic()
        try:
            output = self._run(record, arguments)
        except ToolFailure as failure:
            return RunResult(False, error=failure.content(), duration_ms=_since(started))
        return RunResult(True, output=output, duration_ms=_since(started))

    def _run(self, record: Mapping[str, Any], arguments: dict[str, Any]) -> Any:
        kind, config = record["kind"], record["config"]
        if kind == "http":
            http = HttpConfig.model_validate(config)
            return self.http(http, arguments, self._secret(record, http.auth.scheme),
                             allow_loopback=self.options.allow_loopback,
                             timeout=self.options.http_timeout_seconds,
                             max_bytes=self.options.http_max_response_bytes)
        if kind == "mcp":
            mcp = McpConfig.model_validate(config)
            return self.mcp(mcp, arguments, self._secret(record, mcp.auth.scheme),
                            allow_loopback=self.options.allow_loopback)
        if kind == "code":
            code = CodeConfig.model_validate(config)
            answer = self.code.run({"source": code.source, "entry": code.entry, "input": arguments,
                                    "timeout_seconds": code.timeout_seconds, "memory_mb": code.memory_mb})
            if not answer.get("ok"):
                raise ToolFailure(str(answer.get("error") or "code-failed"), str(answer.get("detail") or ""),
                                  isolation=answer.get("isolation"))
            return answer.get("output")
        raise ToolFailure("unsupported", f"{kind} tools do not run here")

    def _secret(self, record: Mapping[str, Any], scheme: str) -> str | None:
        if scheme == "none" or not record.get("secret_set_at"):
            return None
        return self.secrets.get(self.secrets.name_for(str(record["tenant_id"]), str(record["id"])))


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# --- the registry --------------------------------------------------------------------------------------------

@dataclass
class ToolService:
    store: ToolStore
    secrets: SecretStore
    runner: ToolRunner
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def _find(self, identity: Identity, tool_id: str) -> Record:
        record = self.store.get(identity.tenant_id, tool_id)
        if record is None or record.get("tenant_id") != identity.tenant_id:
            raise NotFound(f"No tool {tool_id}.", slug="tool-not-found")
        return record

    def create(self, identity: Identity, body: ToolCreate) -> Record:
        require_writer(identity, "POST")
        secret = body.secret.get_secret_value() if body.secret is not None else None
        definition = check_definition(body.kind, body.config, body.input_schema, body.output_schema,
                                      has_secret=bool(secret), allow_loopback=self.runner.options.allow_loopback)
        problems = list(definition.problems)
        if secret and body.kind not in ("http", "mcp"):
            problems.append({"path": "secret", "message": "only http and mcp tools keep a secret"})
        _raise_problems(problems)
        now = _iso(self.clock())
        record: Record = {"id": new_tool_id(), "tenant_id": identity.tenant_id, "name": body.name,
                          "description": body.description, "kind": body.kind,
                          "input_schema": definition.input_schema, "output_schema": definition.output_schema,
                          "config": definition.config, "version": 1, "created_at": now, "updated_at": now,
                          "created_by": identity.user_id, "secret_set_at": now if secret else None}
        name = self.secrets.name_for(identity.tenant_id, record["id"])
        if secret:
            self.secrets.put(name, secret, identity.tenant_id)
        try:
            self.store.create(record)
        except BaseException:
            if secret:
                self.secrets.delete(name)
            raise
        return tool_view(record)

    def read(self, identity: Identity, tool_id: str) -> Record:
        return tool_view(self._find(identity, tool_id))

    def page(self, identity: Identity, *, kind: str | None, limit: int,
             start: Resume | None) -> tuple[list[Record], Resume | None]:
        records, resume = self.store.page(identity.tenant_id, kind=kind, limit=limit, start=start)
        return [tool_view(r) for r in records if r.get("tenant_id") == identity.tenant_id], resume

    def update(self, identity: Identity, tool_id: str, body: ToolUpdate, if_match: str | None) -> Record:
        require_writer(identity, "PUT")
        current = self._find(identity, tool_id)
        require_version(if_match, int(current["version"]))
        changed = body.model_fields_set
        secret = body.secret.get_secret_value() if body.secret is not None else None
        kind = current["kind"]
        builtin = kind == "builtin"
        input_schema = body.input_schema if "input_schema" in changed else (
            None if builtin else current["input_schema"])
        output_schema = body.output_schema if "output_schema" in changed else (
            None if builtin else current.get("output_schema"))
        config = body.config if body.config is not None else current["config"]
        definition = check_definition(kind, config, input_schema, output_schema,
                                      has_secret=bool(secret or current.get("secret_set_at")),
                                      allow_loopback=self.runner.options.allow_loopback)
        problems = list(definition.problems)
        if secret and kind not in ("http", "mcp"):
            problems.append({"path": "secret", "message": "only http and mcp tools keep a secret"})
        _raise_problems(problems)
        now = _iso(self.clock())
        record = {**current, "name": body.name or current["name"],
                  "description": body.description if body.description is not None else current.get("description", ""),
                  "input_schema": definition.input_schema, "output_schema": definition.output_schema,
                  "config": definition.config, "version": int(current["version"]) + 1, "updated_at": now}
        if secret:
            record["secret_set_at"] = now
        self.store.replace(record, int(current["version"]), current["name"])
        if secret:  # after the record: a stale write (412) leaves the secret as it was
            self.secrets.put(self.secrets.name_for(identity.tenant_id, tool_id), secret, identity.tenant_id)
        return tool_view(record)

    def delete(self, identity: Identity, tool_id: str, if_match: str | None) -> Record:
        require_writer(identity, "DELETE")
        current = self._find(identity, tool_id)
        require_version(if_match, int(current["version"]))
        wanted = parse_if_match(if_match)
        self.store.remove(identity.tenant_id, tool_id, wanted or int(current["version"]), current["name"])
        if current.get("secret_set_at"):
            self.secrets.delete(self.secrets.name_for(identity.tenant_id, tool_id))
        return tool_view(current)

    def builtin_catalog(self) -> list[Record]:
        return [builtin_view(tool) for tool in sorted(tools(), key=lambda t: t.name)]

    def validate(self, identity: Identity, tool_id: str, sample: dict[str, Any] | None) -> Record:
        """Check the stored definition again and dry-run it with ``sample`` (or a generated minimal input)."""
        require_writer(identity, "POST")
        record = self._find(identity, tool_id)
        kind = record["kind"]
        builtin = kind == "builtin"
        definition = check_definition(kind, record["config"], None if builtin else record["input_schema"],
                                      None if builtin else record.get("output_schema"),
                                      has_secret=bool(record.get("secret_set_at")),
                                      allow_loopback=self.runner.options.allow_loopback)
        generated = sample is None
        arguments = schemas.sample_for(definition.input_schema) if generated else sample
        answer: Record = {"schemas_ok": not definition.problems, "problems": list(definition.problems),
                          "input": arguments, "input_generated": generated, "executed": False, "ok": False,
                          "output": None, "output_matches": None, "output_problems": [], "error": None}
        if definition.problems:
            return answer
        if builtin:
            tool = get_tool(str(record["config"]["tool"]))
            assert tool is not None
            try:
                tool.input_model.model_validate(arguments)
            except ValidationError as exc:
                answer["problems"] = _pydantic_problems(exc, "input")
                return answer
            answer["ok"] = True
            answer["error"] = {"error": "not-executed", "detail": "builtin tools act on the tenant's data: the "
                               "dry run checks the input only"}
            return answer
        input_problems = schemas.value_problems(definition.input_schema, arguments, "input")
        if input_problems:
            answer["problems"] = input_problems
            return answer
        result = self.runner.execute(record, dict(arguments or {}))
        answer.update(executed=True, duration_ms=result.duration_ms)
        if not result.ok:
            answer["error"] = result.error
            return answer
        output_problems = self.runner.output_problems(record, result.output)
        answer.update(output=result.output, output_matches=not output_problems if record.get("output_schema")
                      else None, output_problems=output_problems, ok=not output_problems)
        return answer


def secret_fingerprint(body: ToolCreate) -> dict[str, Any]:
    """The request as the idempotency layer compares it: the secret only as a digest."""
    import hashlib

    payload = body.model_dump(mode="json", exclude={"secret"})
    if body.secret is not None:
        payload["secret_sha256"] = hashlib.sha256(body.secret.get_secret_value().encode()).hexdigest()
    return json.loads(json.dumps(payload, sort_keys=True))
