"""The crews context's public runtime, built from its own settings (read from the calling function's environment).

Other contexts (the bus's hosted inbox, flows' crew nodes, the chat) import only this module, ``models`` and
``logic``::

    agent_runner(settings=None) -> AgentRuntime
        .run(identity, agent_id, task: str, context: dict | None = None) -> AgentRun(text, tools_used, usage,
                                                                                      agent_id, version, …)
    crew_conversation(timeout_seconds) -> CrewConversation   # a chat session bound to a crew: .reply(...)
    start_run(identity, crew_id, inputs: dict) -> dict        # the run as GET /crews/{id}/runs/{run_id} shows it
    run_result(identity, crew_id, run_id) -> dict             # the same, later (status, outputs, result, error)
    crew_service(settings=None) / agent_service(settings=None) / crew_steps(settings=None)

The calling function needs ``CREWS_TABLE`` (read; write for memory and runs), the LLM environment and grants, and
``CREW_STATE_MACHINE_ARN`` with ``states:StartExecution`` to start runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from crewhouse.core.aws import aws_client
from crewhouse.core.identity import Identity
from crewhouse.core.settings import load_settings
from crewhouse.core.table import Table
from crewhouse.crews.logic import CrewConversation, CrewService, CrewSteps, HostedAgentService
from crewhouse.crews.runtime import AgentRuntime, AgentTools, BuiltinTools, RegistryTools
from crewhouse.crews.settings import CrewsSettings
from crewhouse.crews.store import DynamoCrews

if TYPE_CHECKING:
    from crewhouse.llm.provider import LLMProvider
    from crewhouse.llm.tool_loop import ToolCallback

__all__ = ["agent_runner", "agent_service", "crew_conversation", "crew_service", "crew_steps", "run_result",
           "start_run"]


def _settings(settings: CrewsSettings | None) -> CrewsSettings:
    return settings if settings is not None else load_settings(CrewsSettings)


def store_for(settings: CrewsSettings) -> DynamoCrews:
    return DynamoCrews(Table(aws_client("dynamodb", settings), settings.crews_table))


def _tenant_provider(tenant_id: str, settings: CrewsSettings, provider_id: str | None,
                     agent_id: str) -> LLMProvider | None:
    try:
        from crewhouse.providers import wiring as providers
    except ImportError:  # the providers context is not deployed with this build
        return None
    chosen: LLMProvider | None = providers.tenant_provider(tenant_id, settings, provider_id=provider_id,
                                                           agent_id=agent_id)
    return chosen


def provider_for(settings: CrewsSettings) -> Any:
    """The tenant's provider (the providers context) when it has one, else the platform chain."""

    def provider(tenant_id: str, agent_id: str, model: dict[str, Any] | None) -> LLMProvider:
        chosen = _tenant_provider(tenant_id, settings, (model or {}).get("provider_id"), agent_id)
        if chosen is not None:
            return chosen
        from crewhouse.llm.factory import provider_chain

        return provider_chain(settings)

    return provider


class LazyTools:
    """Tools through the tool registry (registered and ``builtin:`` ids), or Crewhouse's own tools by name where the
    registry is not deployed; loaded with the first agent that has tools, not with every handler."""

    def __init__(self) -> None:
        self._tools: AgentTools | None = None

    def _load(self) -> AgentTools:
        if self._tools is None:
            try:
                from crewhouse.tool_registry.wiring import tool_runner
            except ImportError:
                from crewhouse.core.settings import load_settings as settings_for

                self._tools = BuiltinTools(settings_for)
            else:
                self._tools = RegistryTools(tool_runner())
        return self._tools

    def tool_config(self, tenant_id: str, tool_ids: Sequence[str]) -> dict[str, Any]:
        return self._load().tool_config(tenant_id, tool_ids)

    def caller(self, identity: Identity, tool_ids: Sequence[str]) -> ToolCallback:
        return self._load().caller(identity, tool_ids)


def agent_tools() -> AgentTools:
    return LazyTools()


def agent_runner(settings: CrewsSettings | None = None, *, timeout_seconds: float | None = None) -> AgentRuntime:
    settings = _settings(settings)
    return AgentRuntime(store_for(settings), agent_tools(), provider_for(settings),
                        timeout_seconds=timeout_seconds or settings.agent_timeout_seconds)


def _registry() -> Any:
    from crewhouse.bus.wiring import hosted_registry

    return hosted_registry()


def agent_service(settings: CrewsSettings | None = None) -> HostedAgentService:
    settings = _settings(settings)
    tools = agent_tools()

    def check_tools(tenant_id: str, tool_ids: list[str]) -> None:
        from crewhouse.core.errors import Problem, ValidationProblem

        try:
            tools.tool_config(tenant_id, tool_ids)
        except Problem as problem:
            raise ValidationProblem(f"Unknown tools: {problem.detail}", slug="unknown-tools") from problem

    return HostedAgentService(store_for(settings), _registry(), agent_runner(settings), check_tools=check_tools)


class StepFunctionsExecutions:
    def __init__(self, settings: CrewsSettings) -> None:
        self.settings = settings

    def start(self, name: str, payload: dict[str, Any]) -> str:
        import json

        if not self.settings.crew_state_machine_arn:
            raise RuntimeError("CREW_STATE_MACHINE_ARN is not configured")
        answer = aws_client("stepfunctions", self.settings).start_execution(
            stateMachineArn=self.settings.crew_state_machine_arn, name=name, input=json.dumps(payload))
        return str(answer["executionArn"])

    def stop(self, execution_arn: str, cause: str) -> None:
        client = aws_client("stepfunctions", self.settings)
        with contextlib.suppress(client.exceptions.ExecutionDoesNotExist):  # already gone: nothing to stop
            client.stop_execution(executionArn=execution_arn, cause=cause[:256])

    def console_url(self, execution_arn: str) -> str:
        region = execution_arn.split(":")[3] if execution_arn.count(":") >= 3 else self.settings.aws_region
        return (f"https://{region}.console.aws.amazon.com/states/home?region={region}"
                f"#/v2/executions/details/{execution_arn}")


def crew_service(settings: CrewsSettings | None = None) -> CrewService:
    settings = _settings(settings)
    return CrewService(store_for(settings), StepFunctionsExecutions(settings))


def crew_steps(settings: CrewsSettings | None = None) -> CrewSteps:
    settings = _settings(settings)
    return CrewSteps(store_for(settings), agent_runner(settings, timeout_seconds=240.0))


def crew_conversation(settings: CrewsSettings | None = None, *, timeout_seconds: float = 25.0) -> CrewConversation:
    settings = _settings(settings)
    return CrewConversation(store_for(settings), agent_runner(settings, timeout_seconds=timeout_seconds),
                            timeout_seconds=timeout_seconds)


def start_run(identity: Identity, crew_id: str, inputs: dict[str, Any],
              settings: CrewsSettings | None = None) -> dict[str, Any]:
    return crew_service(settings).start_run(identity, crew_id, inputs)


def run_result(identity: Identity, crew_id: str, run_id: str, settings: CrewsSettings | None = None) -> dict[str, Any]:
    return crew_service(settings).run(identity, crew_id, run_id)
