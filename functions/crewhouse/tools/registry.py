"""The AI tool registry: one definition per tool, used by the MCP server and, in-process, by the chat agent.

A tool is a pydantic input model, a pydantic output model and a function over the same logic layer the
REST API uses. Identity always comes from the verified JWT (the :class:`ToolContext`), never from
arguments. A domain problem (404, 409, 422 …) becomes an error *result*, never a protocol failure.
This module imports no MCP code: the chat Lambda uses it without the MCP transport.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from crewhouse.core.errors import Problem
from crewhouse.core.identity import Identity, require_writer
from crewhouse.core.settings import CoreSettings

SettingsT = TypeVar("SettingsT", bound=CoreSettings)
ServiceT = TypeVar("ServiceT")


@dataclass
class ToolContext:
    """Who calls, and lazily built services (each tool builds only what it needs)."""

    identity: Identity
    settings_for: Callable[[type[CoreSettings]], CoreSettings]
    services: dict[str, Any] = field(default_factory=dict)

    def service(self, name: str, build: Callable[[], Any]) -> Any:
        if name not in self.services:
            self.services[name] = build()
        return self.services[name]

    def settings(self, settings_type: type[SettingsT]) -> SettingsT:
        """A context's own settings, read from the calling function's environment."""
        settings = self.settings_for(settings_type)
        assert isinstance(settings, settings_type)
        return settings

    def service_from(self, name: str, settings_type: type[SettingsT],
                     build: Callable[[SettingsT], ServiceT]) -> ServiceT:
        """The ``name`` context's service, built once per call by its ``service_for`` from its own settings."""
        service: ServiceT = self.service(name, lambda: build(self.settings(settings_type)))
        return service


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    run: Callable[[ToolContext, Any], BaseModel]
    read_only: bool = False


@dataclass(frozen=True)
class ToolOutcome:
    """A tool's answer: structured content, or an error with the problem that caused it."""

    ok: bool
    content: dict[str, Any]

    @property
    def text(self) -> str:
        import json

        return json.dumps(self.content, default=str)


_TOOLS: dict[str, Tool] = {}


def register(tool: Tool) -> Tool:
    if tool.name in _TOOLS:
        raise ValueError(f"tool {tool.name} registered twice")
    _TOOLS[tool.name] = tool
    return tool


def tools() -> list[Tool]:
    _load_builtin_tools()
    return list(_TOOLS.values())


def get_tool(name: str) -> Tool | None:
    """The tool called ``name``. A tool already registered is found without loading every context's tools
    (the chat loads only the task tools it uses); any other name loads them all first."""
    tool = _TOOLS.get(name)
    if tool is None:
        _load_builtin_tools()
        tool = _TOOLS.get(name)
    return tool


def call_tool(name: str, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
    """Validate, run and shape one tool call; every failure is an error outcome a model can read."""
    tool = get_tool(name)
    if tool is None:
        return ToolOutcome(False, {"error": "unknown-tool", "detail": f"No tool named {name!r}."})
    try:
        parsed = tool.input_model.model_validate(arguments)
    except ValidationError as exc:
        errors = [{"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return ToolOutcome(False, {"error": "invalid-arguments", "status": 422, "errors": errors,
                                   "detail": "The arguments do not match the tool's input schema."})
    try:
        if not tool.read_only:
            require_writer(context.identity, "POST")  # an observer's role reads only, through tools too
        result = tool.run(context, parsed)
    except Problem as problem:
        body = problem.body()
        return ToolOutcome(False, {"error": body["type"].rsplit("/", 1)[-1], **body})
    return ToolOutcome(True, result.model_dump(mode="json"))


def _load_builtin_tools() -> None:
    """Tool modules register themselves on import; this imports each context's tools once."""
    from crewhouse.tools import file_tools, job_tools, note_tools, task_tools  # noqa: F401
