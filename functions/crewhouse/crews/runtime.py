"""Running a hosted agent: its role, goal and backstory as the system prompt, its own tools only, the shared
Converse tool loop (:mod:`crewhouse.llm.tool_loop`), the tenant's model provider when it has one, and its memory.

No boto3 here: the store, the tools and the provider come in as ports (``wiring.py`` builds the real ones).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from crewhouse.core.errors import NotFound
from crewhouse.core.identity import Identity
from crewhouse.llm.provider import text_message
from crewhouse.llm.tool_loop import LoopResult, ToolCallback, ToolResult, run_tool_loop, short_result

if TYPE_CHECKING:
    from crewhouse.llm.provider import LLMProvider

Item = dict[str, Any]
MEMORY_TURNS = 10  # runs an agent with memory keeps (newest last)
MEMORY_CHARS = 2000  # of each remembered task and answer
CONTEXT_CHARS = 8000  # of each earlier output fed into a task


class AgentStore(Protocol):
    def agent(self, tenant_id: str, agent_id: str) -> Item | None: ...
    def agent_version(self, tenant_id: str, agent_id: str, version: int) -> Item | None: ...
    def memory(self, tenant_id: str, agent_id: str) -> list[Item]: ...
    def remember(self, tenant_id: str, agent_id: str, turns: list[Item]) -> None: ...


class AgentTools(Protocol):
    """The agent's tools: their Converse ``toolConfig`` and a caller that runs them by their Converse names."""

    def tool_config(self, tenant_id: str, tool_ids: Sequence[str]) -> dict[str, Any]: ...
    def caller(self, identity: Identity, tool_ids: Sequence[str]) -> ToolCallback: ...


ProviderFor = Callable[[str, str, "Item | None"], "LLMProvider"]  # (tenant id, agent id, model choice)


@dataclass
class Outcome:
    ok: bool
    content: dict[str, Any]


@dataclass
class ExtraTools:
    """Tools a caller adds for one run (a manager's ``delegate``): specs and their handler."""

    specs: list[Item]
    call: ToolCallback

    @property
    def names(self) -> set[str]:
        return {spec["toolSpec"]["name"] for spec in self.specs}


@dataclass
class AgentRun:
    text: str
    tools_used: list[str]
    usage: dict[str, int]
    agent_id: str
    version: int
    tool_calls: list[Item] = field(default_factory=list)  # {"name", "input", "ok", "result"} (result shortened)
    provider: str = ""
    finished: bool = True


def system_prompt(agent: Item) -> str:
    parts = [f"You are {agent['name']}. Your role: {agent['role']}.", f"Your goal: {agent['goal']}"]
    if agent.get("backstory"):
        parts.append(f"Backstory: {agent['backstory']}")
    parts.append("Use your tools when they help; never invent ids or facts a tool should give. Answer with the "
                 "result itself.")
    return "\n".join(parts)


def task_prompt(task: str, context: Item | None) -> str:
    """The user's turn: the task, then the context (expected output, earlier outputs) as labelled sections."""
    if not context:
        return task
    sections = [task]
    for key, value in context.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        sections.append(f"\n## {key}\n{text[:CONTEXT_CHARS]}")
    return "\n".join(sections)


def _memory_messages(turns: list[Item]) -> list[Item]:
    messages: list[Item] = []
    for turn in turns[-MEMORY_TURNS:]:
        messages.append(text_message("user", str(turn.get("task", ""))))
        messages.append(text_message("assistant", str(turn.get("answer", "")) or "(no answer)"))
    return messages


class AgentRuntime:
    def __init__(self, store: AgentStore, tools: AgentTools, provider_for: ProviderFor, *,
                 timeout_seconds: float = 25.0, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.tools = tools
        self.provider_for = provider_for
        self.timeout_seconds = timeout_seconds
        self.clock = clock

    def definition(self, tenant_id: str, agent_id: str, version: int | None = None) -> Item:
        found = (self.store.agent(tenant_id, agent_id) if version is None
                 else self.store.agent_version(tenant_id, agent_id, version))
        if found is None:
            raise NotFound(f"No hosted agent {agent_id}" + (f" version {version}." if version else "."))
        return found

    def run(self, identity: Identity, agent_id: str, task: str, context: Item | None = None, *,
            version: int | None = None, extra: ExtraTools | None = None) -> AgentRun:
        return self.run_definition(identity, self.definition(identity.tenant_id, agent_id, version), task, context,
                                   extra=extra)

    def run_definition(self, identity: Identity, agent: Item, task: str, context: Item | None = None, *,
                       extra: ExtraTools | None = None) -> AgentRun:
        tenant_id, agent_id = identity.tenant_id, str(agent["id"])
        tool_ids = list(agent.get("tools") or [])
        config = self.tools.tool_config(tenant_id, tool_ids) if tool_ids else {"tools": []}
        call = self.tools.caller(identity, tool_ids) if tool_ids else _no_tools
        if extra is not None:
            config = {"tools": [*config.get("tools", []), *extra.specs]}
            own, names = call, extra.names

            def call(name: str, arguments: dict[str, Any]) -> ToolResult:
                return extra.call(name, arguments) if name in names else own(name, arguments)

        turns = self.store.memory(tenant_id, agent_id) if agent.get("memory") else []
        prompt = task_prompt(task, context)
        provider = self.provider_for(tenant_id, agent_id, agent.get("model"))
        loop: LoopResult = run_tool_loop(
            provider, [*_memory_messages(turns), text_message("user", prompt)], system=system_prompt(agent),
            tool_config=config, call_tool=call, max_tool_calls=int(agent.get("max_iterations") or 8),
            timeout_seconds=self.timeout_seconds,
            temperature=float(agent["temperature"]) if agent.get("temperature") is not None else None)
        if agent.get("memory"):
            turns = [*turns, {"task": task[:MEMORY_CHARS], "answer": loop.text[:MEMORY_CHARS],
                              "at": self.clock().isoformat()}][-MEMORY_TURNS:]
            self.store.remember(tenant_id, agent_id, turns)
        calls = [{"name": c["name"], "input": c.get("input") or {}, "ok": bool(c["ok"]),
                  "result": short_result(c["result"])} for c in loop.tool_calls]
        return AgentRun(loop.text, loop.tools_used, loop.usage, agent_id, int(agent["version"]), calls, loop.provider,
                        loop.finished)


def _no_tools(name: str, arguments: dict[str, Any]) -> ToolResult:
    return Outcome(False, {"error": "unknown-tool", "detail": f"This agent has no tool {name}."})


class RegistryTools:
    """The tool registry's runtime (``crewhouse.tool_registry.wiring.ToolRunner``): registered and builtin tools."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner

    def tool_config(self, tenant_id: str, tool_ids: Sequence[str]) -> dict[str, Any]:
        return dict(self.runner.converse_tool_config(tenant_id, list(tool_ids)))

    def caller(self, identity: Identity, tool_ids: Sequence[str]) -> ToolCallback:
        by_name = dict(self.runner.tool_ids_by_name(identity.tenant_id, list(tool_ids)))

        def call(name: str, arguments: dict[str, Any]) -> ToolResult:
            tool_id = by_name.get(name)
            if tool_id is None:
                return Outcome(False, {"error": "unknown-tool", "detail": f"This agent has no tool {name}."})
            result: ToolResult = self.runner.invoke(identity, tool_id, arguments)
            return result

        return call


class BuiltinTools:
    """Without the tool registry: Crewhouse's own tools by name (``create_task`` or ``builtin:create_task``)."""

    def __init__(self, settings_for: Callable[[type], Any]) -> None:
        self.settings_for = settings_for

    @staticmethod
    def _names(tool_ids: Sequence[str]) -> list[str]:
        return [tool_id.removeprefix("builtin:") for tool_id in tool_ids]

    def tool_config(self, tenant_id: str, tool_ids: Sequence[str]) -> dict[str, Any]:
        from crewhouse.chat.logic import tool_config

        return tool_config(tuple(self._names(tool_ids)))

    def caller(self, identity: Identity, tool_ids: Sequence[str]) -> ToolCallback:
        from crewhouse.chat.logic import registry_caller

        allowed = set(self._names(tool_ids))
        run = registry_caller(identity, self.settings_for)

        def call(name: str, arguments: dict[str, Any]) -> ToolResult:
            if name not in allowed:
                return Outcome(False, {"error": "unknown-tool", "detail": f"This agent has no tool {name}."})
            result: ToolResult = run(name, arguments)
            return result

        return call
