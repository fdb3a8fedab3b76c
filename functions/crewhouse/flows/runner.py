"""The node runner Lambda (``crewhouse.flows.runner.handler``): runs one node of a flow for the compiled state
machine, and records how an execution ended (``{"finish": …}`` from the ``flow.record_*`` states).

It acts for the person who started the execution: their id comes from the run item, their role from their
membership now (a member removed or made an observer since the start stops their flows at the next node).

Errors the compiled Retry understands: ``Flow.Retryable`` (a throttled or unavailable provider or tool; the
node's own retry settings apply) and ``Flow.NodeFailed`` (anything else; the run fails on this node). Both say which
node failed (``contract.node_failure``). Lambda
reports the exception's class name as the error, so the classes carry those names.
"""

from __future__ import annotations

import json
import string
import time
from datetime import UTC, datetime
from typing import Any

from crewhouse.core.aws import aws_client
from crewhouse.core.identity import Identity
from crewhouse.core.tenancy import WRITER_ROLES, DynamoMembershipReader
from crewhouse.flows.contract import NODE_FAILED_ERROR, RETRYABLE_ERROR, NodeTask, RunContext, node_failure
from crewhouse.flows.graph import (
    AgentConfig,
    CrewConfig,
    HumanApprovalConfig,
    LlmConfig,
    Node,
    ToolConfig,
    data_ports,
    node_config,
)
from crewhouse.flows.logic import FlowService, approval_item, execution_event, runner_event
from crewhouse.flows.settings import FlowsSettings
from crewhouse.flows.wiring import flows_settings, service_for


class NodeFailed(Exception):
    """The node failed; the run fails on it (no retry)."""


class Retryable(Exception):
    """Worth another attempt (the node's retry settings)."""


NodeFailed.__name__ = NodeFailed.__qualname__ = NODE_FAILED_ERROR
Retryable.__name__ = Retryable.__qualname__ = RETRYABLE_ERROR


GRANT_SECONDS = 60.0
CREW_WAIT_SECONDS = 270
CACHE_SIZE = 1000
_starters: dict[tuple[str, str], str] = {}  # (tenant, run) -> who started it (immutable)
_grants: dict[tuple[str, str], tuple[float, str | None]] = {}  # (tenant, user) -> (read at, role or None)


def _now() -> datetime:
    return datetime.now(UTC)


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, values: Any) -> str:
    """``{name}`` placeholders filled from a dict of values (unknown ones stay as written)."""
    if not isinstance(values, dict):
        return template
    try:
        return string.Formatter().vformat(template, (), _Blank({k: v for k, v in values.items()}))
    except (ValueError, IndexError, AttributeError):
        return template


class NodeRunner:
    def __init__(self, service: FlowService, settings: FlowsSettings) -> None:
        self.service = service
        self.settings = settings
        self._unannounced: list[tuple[str, dict[str, Any]]] = []

    def event(self, context: RunContext, event_type: str, node_id: str | None, *, later: bool = False,
              **detail: Any) -> None:
        """Store the event (the events API reads it) and announce it on the bus (live updates, topic
        ``execution:<run id>``). An event that comes right before the node's end (``later``: tokens used, an agent's
        tools) waits for the next announcement, so a node costs one ``PutEvents`` as it starts and one as it ends;
        an event that comes before work that takes time (node_started, tool_called, crew_started) goes at once."""
        item = runner_event(_now(), event_type, node_id, detail)
        self.service.store.add_event(context.tenant_id, context.run_id, item)
        self._unannounced.append(execution_event(context.tenant_id, context.flow_id, context.run_id, item))
        if not later:
            events, self._unannounced = self._unannounced, []
            self.service.announce(events)

    def acting_for(self, context: RunContext) -> Identity:
        """The starter (the run item's ``started_by``, which never changes) with their membership's role, read
        at most every ``GRANT_SECONDS`` per warm container: the same staleness as the API authorizer's cache."""
        key = (context.tenant_id, context.run_id)
        starter = _starters.get(key)
        if starter is None:
            run = self.service.store.run(context.tenant_id, context.run_id)
            if run is None:
                raise NodeFailed(f"run {context.run_id} is not recorded")
            starter = _starters[key] = str(run["started_by"])
            if len(_starters) > CACHE_SIZE:
                _starters.pop(next(iter(_starters)))
        cached = _grants.get((context.tenant_id, starter))
        if cached is None or time.monotonic() - cached[0] > GRANT_SECONDS:
            reader = DynamoMembershipReader(aws_client("dynamodb", self.settings), self.settings.platform_table)
            grant = reader.grant(context.tenant_id, starter)
            role = grant.role if grant is not None and grant.active else None
            cached = _grants[(context.tenant_id, starter)] = (time.monotonic(), role)
            if len(_grants) > CACHE_SIZE:
                _grants.pop(next(iter(_grants)))
        role = cached[1]
        if role not in WRITER_ROLES:
            raise NodeFailed("the person who started this execution may no longer run flows in this workspace")
        return Identity(tenant_id=context.tenant_id, user_id=starter, role=str(role), scopes=frozenset())

    def run(self, task: NodeTask) -> dict[str, Any]:
        node = Node(id=task.node.id, kind=task.node.kind, config=task.node.config)
        context = task.context
        if node.kind == "human_approval":
            try:
                return self.ask_approval(node, task)
            except NodeFailed as exc:
                raise NodeFailed(node_failure(node.id, str(exc))) from exc
        try:
            identity = self.acting_for(context)
        except NodeFailed as exc:
            raise NodeFailed(node_failure(node.id, str(exc))) from exc
        self.event(context, "node_started", node.id, kind=node.kind)
        try:
            outputs = self.dispatch(identity, node, task)
        except (NodeFailed, Retryable) as exc:
            self.event(context, "node_failed", node.id, error=type(exc).__name__, message=str(exc))
            raise type(exc)(node_failure(node.id, str(exc))) from exc
        except Exception as exc:  # an unexpected failure is the node's, named
            self.event(context, "node_failed", node.id, error=NODE_FAILED_ERROR, message=str(exc))
            raise NodeFailed(node_failure(node.id, f"{type(exc).__name__}: {exc}")) from exc
        declared = [port.name for port in data_ports(node)[1]]
        result = {name: outputs.get(name) for name in declared}
        self.event(context, "node_finished", node.id, outputs=sorted(k for k, v in result.items() if v is not None))
        return result

    def dispatch(self, identity: Identity, node: Node, task: NodeTask) -> dict[str, Any]:
        config = node_config(node)
        if isinstance(config, LlmConfig):
            return self.llm(node, config, task)
        if isinstance(config, ToolConfig):
            return self.tool(identity, node, config, task)
        if isinstance(config, AgentConfig):
            return self.agent(identity, config, task)
        if isinstance(config, CrewConfig):
            return self.crew(identity, config, task)
        raise NodeFailed(f"the node runner does not run {node.kind} nodes")

    def llm(self, node: Node, config: LlmConfig, task: NodeTask) -> dict[str, Any]:
        from crewhouse.llm.provider import ProviderError, ProviderUnavailable, text_message

        context_value = task.inputs.get("context")
        prompt = render(str(task.inputs.get("prompt") or config.prompt or ""), context_value)
        if context_value is not None and not isinstance(context_value, dict):
            prompt = f"{prompt}\n\nContext:\n{context_value}"
        elif isinstance(context_value, dict) and prompt == render(prompt, {}):
            prompt = f"{prompt}\n\nContext:\n{json.dumps(context_value, default=str)}"
        provider = self.provider(task.context.tenant_id, config, node.id)
        try:
            result = provider.converse(messages=[text_message("user", prompt)],
                                       system=[{"text": config.system}] if config.system else None,
                                       temperature=config.temperature)
        except ProviderUnavailable as exc:
            raise Retryable(f"no model provider answered: {exc}") from exc
        except ProviderError as exc:
            raise NodeFailed(f"the model refused the request: {exc}") from exc
        usage = {k: int(v) for k, v in (result.usage or {}).items()}
        self.event(task.context, "llm_tokens_used", node.id, later=True, provider=result.provider, **usage)
        return {"text": result.text, "usage": usage}

    def provider(self, tenant_id: str, config: LlmConfig, node_id: str) -> Any:
        """The tenant's model providers when it has any (the providers context), else the platform chain."""
        try:  # imported here: llm nodes only
            from crewhouse.providers import wiring as providers
        except ImportError:  # the providers context is not deployed with this build
            providers = None  # type: ignore[assignment,unused-ignore]
        chosen = (providers.tenant_provider(tenant_id, self.settings, provider_id=config.provider_id)
                  if providers is not None else None)
        if chosen is not None:
            return chosen
        if config.provider_id:
            raise NodeFailed(f"node {node_id}: model provider {config.provider_id} is not configured in this "
                             "workspace")
        from crewhouse.llm.factory import provider_chain

        return provider_chain(self.settings)

    def tool(self, identity: Identity, node: Node, config: ToolConfig, task: NodeTask) -> dict[str, Any]:
        try:  # imported here: only tool nodes pay for the registry
            from crewhouse.tool_registry.wiring import tool_runner
        except ImportError as exc:
            raise NodeFailed("the tool registry is not available") from exc
        arguments = task.inputs.get("input") if config.input_schema is None else task.inputs
        self.event(task.context, "tool_called", node.id, tool_id=config.tool_id)
        outcome = tool_runner().invoke(identity, config.tool_id, dict(arguments or {}))
        if not getattr(outcome, "ok", False):
            raise NodeFailed(f"tool {config.tool_id} failed: {json.dumps(outcome.content, default=str)[:2000]}")
        content = outcome.content
        if config.output_schema is None:
            return {"result": content}
        return dict(content) if isinstance(content, dict) else {"result": content}

    def agent(self, identity: Identity, config: AgentConfig, task: NodeTask) -> dict[str, Any]:
        try:  # imported here: only agent nodes need hosted agents
            from crewhouse.crews import wiring as crews
        except ImportError as exc:
            raise NodeFailed("hosted agents are not available (crewhouse.crews)") from exc
        context = task.inputs.get("context")
        run = crews.agent_runner().run(identity, config.agent_id, str(task.inputs.get("task") or ""),
                                       context if isinstance(context, dict) else
                                       ({"context": context} if context is not None else None))
        self.event(task.context, "llm_tokens_used", task.node.id, later=True, provider=run.provider,
                   **dict(run.usage))
        for tool in run.tools_used:  # after the agent ran: announced with the node's end
            self.event(task.context, "tool_called", task.node.id, later=True, tool=tool)
        return {"text": run.text, "usage": dict(run.usage)}

    def crew(self, identity: Identity, config: CrewConfig, task: NodeTask) -> dict[str, Any]:
        """A crew run (its own Step Functions execution, started through the crews context), waited for here
        up to ``CREW_WAIT_SECONDS`` (the runner's timeout is 5 minutes); a longer run fails the node."""
        try:  # imported here: only crew nodes need crews
            from crewhouse.crews import wiring as crews
        except ImportError as exc:
            raise NodeFailed("crews are not available (crewhouse.crews)") from exc
        inputs = task.inputs.get("inputs") or {}
        if task.inputs.get("context") is not None:
            inputs = {**inputs, "context": task.inputs["context"]}
        run = crews.start_run(identity, config.crew_id, inputs)
        self.event(task.context, "crew_started", task.node.id, crew_id=config.crew_id, crew_run=run["id"])
        deadline = time.monotonic() + CREW_WAIT_SECONDS
        while run["status"] == "running" and time.monotonic() < deadline:
            time.sleep(2)
            run = crews.run_result(identity, config.crew_id, run["id"])
        if run["status"] == "running":
            raise NodeFailed(f"crew run {run['id']} did not finish within {CREW_WAIT_SECONDS} s")
        if run["status"] != "succeeded":
            raise NodeFailed(f"crew run {run['id']} {run['status']}: {run.get('error') or ''}".strip())
        return {"text": run.get("result"), "tasks": run.get("outputs") or [], "usage": run.get("usage") or {}}

    def ask_approval(self, node: Node, task: NodeTask) -> dict[str, Any]:
        config = node_config(node)
        assert isinstance(config, HumanApprovalConfig)
        if not task.task_token:
            raise NodeFailed("a human approval needs a task token (.waitForTaskToken)")
        starter = self.acting_for(task.context)
        now = _now()
        item = approval_item(node.id, render(config.prompt, task.inputs.get("details")),
                             task.inputs.get("details"), task.task_token, now, config.timeout_seconds)
        try:
            self.service.store.add_approval(task.context.tenant_id, task.context.run_id, item)
        except Exception as exc:  # e.g. a human approval inside a map: one approval per node and run
            raise NodeFailed(f"could not ask for the approval: {exc}") from exc
        self.event(task.context, "approval_requested", node.id, prompt=item["prompt"], expires_at=item["expires_at"])
        aws_client("events", self.settings).put_events(Entries=[{
            "Source": "crewhouse.flows", "DetailType": "flow.approval_requested",
            "EventBusName": self.settings.event_bus_name,
            "Detail": json.dumps({"tenant_id": task.context.tenant_id, "flow_id": task.context.flow_id,
                                  "execution_id": task.context.run_id, "node_id": node.id,
                                  # who to ask: the notifications consumer needs no read of the run for it
                                  "started_by": starter.user_id,
                                  "prompt": item["prompt"], "expires_at": item["expires_at"]})}])
        return {}


def handler(event: dict[str, Any], context: Any) -> Any:
    settings = flows_settings()
    service = service_for(settings)
    if "finish" in event:
        finish = event["finish"]
        return service.record_end(RunContext.model_validate(finish["context"]), str(finish["outcome"]),
                                  output=finish.get("output"), error=finish.get("error"))
    return NodeRunner(service, settings).run(NodeTask.model_validate(event))
