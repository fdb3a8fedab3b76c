"""Fakes for the crews logic: a scripted Converse provider, tools, a registry and executions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crewhouse.core.identity import Identity
from crewhouse.crews.logic import CrewService, CrewSteps, HostedAgentService
from crewhouse.crews.models import HostedAgentCreate
from crewhouse.crews.runtime import AgentRuntime, Outcome
from crewhouse.crews.store import DynamoCrews
from crewhouse.llm.provider import ConverseResult, text_message
from crewhouse.llm.tool_loop import ToolCallback
from tests.support.memory_table import MemoryTable

ALICE = Identity("t1", "alice", "member", frozenset())
MALLORY = Identity("t2", "mallory", "admin", frozenset())


def said(text: str, tokens: int = 5) -> ConverseResult:
    return ConverseResult(text_message("assistant", text), "end_turn",
                          {"inputTokens": tokens, "outputTokens": 1, "totalTokens": tokens + 1}, "scripted")


def uses(name: str, arguments: dict[str, Any], n: int = 0) -> ConverseResult:
    return ConverseResult({"role": "assistant", "content": [
        {"toolUse": {"toolUseId": f"u{n}", "name": name, "input": arguments}}]}, "tool_use",
        {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4}, "scripted")


class ScriptedProvider:
    """Answers by the agent the system prompt names: ``scripts[name]`` is that agent's queue of answers."""

    name = "scripted"

    def __init__(self, scripts: dict[str, list[ConverseResult]]) -> None:
        self.scripts = scripts
        self.calls: list[dict[str, Any]] = []

    def converse(self, *, messages: list[dict[str, Any]], system: list[dict[str, Any]] | None = None,
                 tool_config: dict[str, Any] | None = None, max_tokens: int = 1024,
                 temperature: float | None = None) -> ConverseResult:
        prompt = str((system or [{}])[0].get("text", ""))
        agent = prompt.removeprefix("You are ").split(".", 1)[0]
        self.calls.append({"agent": agent, "messages": list(messages), "temperature": temperature, "tools": [
            spec["toolSpec"]["name"] for spec in (tool_config or {}).get("tools", [])]})
        queue = self.scripts.get(agent) or []
        return queue.pop(0) if queue else said(f"{agent} done")


class FakeTools:
    """Tools by id ``builtin:<name>``: each answers its name and arguments."""

    def __init__(self) -> None:
        self.invoked: list[tuple[str, str, dict[str, Any]]] = []

    def tool_config(self, tenant_id: str, tool_ids: Sequence[str]) -> dict[str, Any]:
        return {"tools": [{"toolSpec": {"name": t.removeprefix("builtin:"), "description": t,
                                        "inputSchema": {"json": {"type": "object"}}}} for t in tool_ids]}

    def caller(self, identity: Identity, tool_ids: Sequence[str]) -> ToolCallback:
        names = {t.removeprefix("builtin:") for t in tool_ids}

        def call(name: str, arguments: dict[str, Any]) -> Outcome:
            if name not in names:
                return Outcome(False, {"error": "unknown-tool"})
            self.invoked.append((identity.user_id, name, arguments))
            return Outcome(True, {"tool": name, "arguments": arguments})

        return call


class FakeRegistry:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], dict[str, Any]] = {}

    def put(self, tenant_id: str, agent_id: str, **fields: Any) -> None:
        self.entries[(tenant_id, agent_id)] = fields

    def remove(self, tenant_id: str, agent_id: str) -> None:
        self.entries.pop((tenant_id, agent_id), None)


class FakeExecutions:
    def __init__(self) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []
        self.stopped: list[str] = []

    def start(self, name: str, payload: dict[str, Any]) -> str:
        self.started.append((name, payload))
        return f"arn:aws:states:us-east-1:123456789012:execution:CrewRun:{name}"

    def stop(self, execution_arn: str, cause: str) -> None:
        self.stopped.append(execution_arn)

    def console_url(self, execution_arn: str) -> str:
        return f"https://console/{execution_arn}"


class World:
    def __init__(self, scripts: dict[str, list[ConverseResult]] | None = None) -> None:
        self.store = DynamoCrews(MemoryTable())
        self.provider = ScriptedProvider(scripts or {})
        self.tools = FakeTools()
        self.registry = FakeRegistry()
        self.executions = FakeExecutions()
        self.runtime = AgentRuntime(self.store, self.tools, lambda tenant, agent, model: self.provider)
        self.agents = HostedAgentService(self.store, self.registry, self.runtime)
        self.crews = CrewService(self.store, self.executions)
        self.steps = CrewSteps(self.store, self.runtime)

    def agent(self, name: str, identity: Identity = ALICE, **fields: Any) -> str:
        body = HostedAgentCreate(**{"name": name, "role": f"{name} role", "goal": f"{name} goal", **fields})
        return str(self.agents.create(identity, body)["id"])

    def run_to_end(self, run: dict[str, Any], limit: int = 30) -> dict[str, Any]:
        ids = {"tenant_id": ALICE.tenant_id, "crew_id": run["crew_id"], "run_id": run["id"]}
        for _ in range(limit):
            if self.steps.step(ids).done:
                break
        return self.crews.run(ALICE, run["crew_id"], run["id"])
