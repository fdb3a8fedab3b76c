"""Flows, their versions and executions: the rules, over two ports (``FlowStorePort`` for the table and
``MachinesPort`` for Step Functions). No boto3 here.

- Saving validates the graph (every problem in one 422), compiles it, wraps it (``runnable_definition``) and
  publishes it as the next version of the flow's state machine behind the ``live`` alias; the version item is
  immutable.
- An execution is started on the published version it belongs to (in AWS the version ARN; on the embedded
  cloud, where moto 5.2.5 cannot start a version or an alias, the state machine ARN: moto snapshots the
  definition at start, so a later save never changes a running execution either way).
- The run item is written before ``StartExecution`` (the execution's ARN is known from its name) and removed
  again if the start fails; a success is written by the execution itself (``flow.record_success`` invoking the node
  runner), any other end is reconciled from ``DescribeExecution`` when the run is read while the item still says
  running. A node's failure fails the execution at the node's own state (nothing catches it), so that
  ``RedriveExecution`` restarts the failed node with the earlier nodes' results kept; ``redrive`` sets the run back to
  running (same execution, ``redrive_count`` + 1).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from crewhouse.core.errors import Conflict, Gone, NotFound, PreconditionFailed, ValidationProblem
from crewhouse.core.identity import Identity
from crewhouse.flows.contract import NODE_FAILURE, NODE_RUNNER_RESOURCE, RunContext, execution_input
from crewhouse.flows.graph import FlowGraph, StartConfig, node_config
from crewhouse.flows.machines import Published
from crewhouse.flows.models import (
    TERMINAL_STATUSES,
    Approval,
    Execution,
    ExecutionEvent,
    ExecutionStatus,
    Flow,
    FlowCreate,
    FlowUpdate,
    FlowVersion,
)

Item = dict[str, Any]
RUN_STATE = "flow.run"
RECORD_SUCCESS = "flow.record_success"
WRAPPER_STATES = frozenset({RUN_STATE, RECORD_SUCCESS})
MAX_NAME = 80
# AWS redrives failed, aborted and timed-out executions: a cancelled run can be redriven too.
REDRIVABLE_STATUSES = frozenset({"failed", "cancelled", "timed_out"})
_SFN_STATUS = {"RUNNING": "running", "SUCCEEDED": "succeeded", "FAILED": "failed", "ABORTED": "cancelled",
               "TIMED_OUT": "timed_out", "PENDING_REDRIVE": "running"}
_JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "number": (int, float), "boolean": (bool,),
                                            "object": (dict,), "array": (list,)}


class FlowStorePort(Protocol):
    def flow(self, tenant_id: str, flow_id: str) -> Item | None: ...
    def flows(self, tenant_id: str, *, limit: int, start: Any) -> tuple[list[Item], Any]: ...
    def create_flow(self, flow: Item, version: Item) -> None: ...
    def save_flow(self, flow: Item, expected_version: int, version: Item | None = None) -> None: ...
    def delete_flow(self, tenant_id: str, flow_id: str, expected_version: int) -> None: ...
    def version(self, tenant_id: str, flow_id: str, number: int) -> Item | None: ...
    def versions(self, tenant_id: str, flow_id: str, *, limit: int, start: Any) -> tuple[list[Item], Any]: ...
    def add_run(self, run: Item) -> None: ...
    def run(self, tenant_id: str, run_id: str) -> Item | None: ...
    def runs_of(self, tenant_id: str, flow_id: str, *, limit: int, start: Any) -> tuple[list[Item], Any]: ...
    def finish_run(self, tenant_id: str, run_id: str, fields: Item) -> Item | None: ...
    def restart_run(self, tenant_id: str, run_id: str, fields: Item, *, previous_count: int) -> Item | None: ...
    def remove_run(self, tenant_id: str, run_id: str) -> None: ...
    def add_approval(self, tenant_id: str, run_id: str, approval: Item) -> None: ...
    def approvals(self, tenant_id: str, run_id: str) -> list[Item]: ...
    def approval(self, tenant_id: str, run_id: str, node_id: str) -> Item | None: ...
    def decide(self, tenant_id: str, run_id: str, node_id: str, fields: Item) -> Item | None: ...
    def reopen(self, tenant_id: str, run_id: str, node_id: str) -> None: ...
    def add_event(self, tenant_id: str, run_id: str, event: Item) -> None: ...
    def events_after(self, tenant_id: str, run_id: str, after: str | None, *, limit: int = 500) -> list[Item]: ...


class MachinesPort(Protocol):
    def publish(self, name: str, definition: dict[str, Any], *, description: str,
                existing: Published | None) -> Published: ...
    def point_alias(self, alias_arn: str, version_arn: str) -> None: ...
    def delete(self, published: Published) -> None: ...
    def running(self, state_machine_arn: str) -> int: ...
    def start(self, target_arn: str, name: str, payload: dict[str, Any]) -> str: ...
    def stop(self, execution_arn: str, cause: str) -> None: ...
    def describe(self, execution_arn: str) -> dict[str, Any]: ...
    def history(self, execution_arn: str) -> list[dict[str, Any]]: ...
    def entered_states(self, execution_arn: str) -> list[str]: ...
    def redrive(self, execution_arn: str, client_token: str) -> None: ...
    def succeed_task(self, token: str, output: dict[str, Any]) -> None: ...
    def fail_task(self, token: str, error: str, cause: str) -> None: ...


class Announcing(Protocol):
    """Puts events on the ``crewhouse`` bus in one request (``crewhouse.core.events.Announcer``); never raises."""

    def announce_many(self, events: Sequence[tuple[str, Mapping[str, Any]]]) -> Any: ...


EVENT_SOURCE = "crewhouse.flows"
EXECUTION_EVENT = "flow.execution_event"  # a runner event of an execution, for live updates (crewhouse.realtime)


def execution_event(tenant_id: str, flow_id: str, run_id: str, item: Item) -> tuple[str, Item]:
    """The bus event of a stored runner event: the execution's tenant and ids (the fan-out's owner scope, topic
    ``execution:<run id>``) and the event as the events API shows it."""
    return EXECUTION_EVENT, {"tenant_id": tenant_id, "flow_id": flow_id, "execution_id": run_id,
                             "event": {k: item.get(k) for k in ("at", "type", "node_id", "detail")}}


@dataclass(frozen=True)
class FlowsConfig:
    region: str
    name_prefix: str
    node_runner_arn: str
    crew_state_machine_arn: str | None = None
    start_on_state_machine: bool = False  # the embedded cloud: moto cannot start a version or an alias


def _now() -> datetime:
    return datetime.now(UTC)


def new_id(clock: Callable[[], datetime] = _now) -> str:
    """26 lower-case characters that sort by creation time (milliseconds, then randomness)."""
    return f"{int(clock().timestamp() * 1000):013x}{secrets.token_hex(7)[:13]}"


def tenant_short(tenant_id: str) -> str:
    return hashlib.sha256(tenant_id.encode()).hexdigest()[:12]


def state_machine_name(prefix: str, tenant_id: str, flow_id: str) -> str:
    name = f"{prefix}-{tenant_short(tenant_id)}-{flow_id}"
    if len(name) > MAX_NAME:
        raise ValueError(f"state machine name {name!r} is longer than {MAX_NAME} characters")
    return name


def console_url(region: str, arn: str) -> str:
    kind = "executions/details" if ":execution:" in arn else "statemachines/view"
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/{kind}/{arn}"


def runnable_definition(compiled: dict[str, Any], node_runner_arn: str) -> dict[str, Any]:
    """The compiled flow inside one ``Parallel`` branch, so that the execution itself records its success
    (``flow.record_success`` invokes the node runner with ``{"finish": …}``) before it ends. Nothing catches a
    failure: the execution fails at the failed node's state, where a redrive restarts it. The state names contain a
    ``.``, which node ids never do."""
    retry = [{"ErrorEquals": ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                              "Lambda.TooManyRequestsException"],
              "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2}]

    def record(outcome: str, value: dict[str, str]) -> dict[str, Any]:
        return {"Type": "Task", "Resource": NODE_RUNNER_RESOURCE, "Retry": retry,
                "Parameters": {"FunctionName": node_runner_arn,
                               "Payload": {"finish": {"context.$": "$.context", "outcome": outcome, **value}}}}

    return {
        "Comment": compiled.get("Comment", "A Crewhouse flow"),
        "StartAt": RUN_STATE,
        "States": {
            RUN_STATE: {"Type": "Parallel", "Branches": [{"StartAt": compiled["StartAt"],
                                                          "States": compiled["States"]}],
                        "ResultSelector": {"output.$": "$[0]"}, "ResultPath": "$.result",
                        "Next": RECORD_SUCCESS},
            RECORD_SUCCESS: {**record("succeeded", {"output.$": "$.result.output"}),
                             "OutputPath": "$.Payload", "End": True},
        },
    }


def failure_of(error: str | None, cause: str | None) -> tuple[str | None, str | None, str | None]:
    """``(failed node, error, cause)`` from a failed execution's error and cause: the node runner's error document
    (``{"errorType", "errorMessage": "node <id> failed: <why>"}``) or Step Functions' own cause (then the node is
    unknown here: ``node_of_failure`` reads it from the history)."""
    error, text = _lambda_error(error, cause or "")
    matched = NODE_FAILURE.match(text)
    if matched:  # versions published before redrive say "node <id> failed: <the error document>"
        error, text = _lambda_error(error, matched["message"])
        return matched["node"], error, text or None
    return None, error, text or None


def _lambda_error(error: str | None, text: str) -> tuple[str | None, str]:
    """The error type and message of a Lambda function's error document; else ``error`` and ``text`` as they are."""
    try:
        document = json.loads(text)
    except ValueError:
        return error, text
    if isinstance(document, dict) and ("errorMessage" in document or "errorType" in document):
        return str(document.get("errorType") or error or ""), str(document.get("errorMessage") or "")
    return error, text


def node_of_failure(entered_newest_first: Sequence[str]) -> str | None:
    """The node whose state was entered last: a node's state is named after its id (a map body's node's is prefixed
    ``<map>@``); the API's own and the compiler's helper states have a ``.`` in their names (as do the rare names
    shortened with a hash, whose node stays unknown)."""
    for name in entered_newest_first:
        if "." not in name:
            return name.rsplit("@", 1)[-1]
    return None


def check_input(graph: FlowGraph, values: dict[str, Any]) -> None:
    """422 naming every problem of ``values`` against the start node's declared inputs."""
    start = next((node for node in graph.nodes if node.kind == "start"), None)
    config = node_config(start) if start is not None else StartConfig()
    assert isinstance(config, StartConfig)
    declared = {port.name: port for port in config.inputs}
    errors = [{"path": f"input.{name}", "message": "not an input of this flow", "type": "unknown_input"}
              for name in values if name not in declared]
    for name, port in declared.items():
        value = values.get(name)
        if value is None:
            if port.required:
                errors.append({"path": f"input.{name}", "message": "required", "type": "missing_required_input"})
            continue
        types = _JSON_TYPES.get(port.type)
        wrong = types is not None and (not isinstance(value, types) or
                                       (port.type == "number" and isinstance(value, bool)))
        if wrong:
            errors.append({"path": f"input.{name}", "message": f"must be of type {port.type}",
                           "type": "type_mismatch"})
    if errors:
        raise ValidationProblem(f"The input has {len(errors)} problem(s).", slug="invalid-flow-input", errors=errors)


def _published(flow: Item) -> Published:
    return Published(flow["state_machine_arn"], flow["version_arn"], flow["alias_arn"])


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass
class FlowService:
    store: FlowStorePort
    machines: MachinesPort
    config: FlowsConfig
    clock: Callable[[], datetime] = _now
    sleep: Callable[[float], None] = time.sleep
    ids: Callable[[], str] = field(default=lambda: new_id())
    # Runner events are stored (the events API reads them) and announced on the bus (live updates). No table
    # stream: a stream would add a poller and a function invocation per batch to make the same PutEvents.
    announcer: Announcing | None = None

    def announce(self, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        if self.announcer is not None and events:
            self.announcer.announce_many(events)

    # --- flows -----------------------------------------------------------------------------------------------

    def _compile(self, graph: FlowGraph) -> dict[str, Any]:
        # Imported here: only saves pay for the validator and the compiler (not every API cold start).
        from crewhouse.flows.compiler import compile_flow
        from crewhouse.flows.validation import validate

        problems = validate(graph)
        if problems:
            raise ValidationProblem(
                f"The flow has {len(problems)} problem(s).", slug="invalid-flow",
                errors=[problem.problem_error() for problem in problems])
        compiled = compile_flow(graph, node_runner_arn=self.config.node_runner_arn,
                                crew_state_machine_arn=self.config.crew_state_machine_arn)
        return runnable_definition(compiled, self.config.node_runner_arn)

    def _flow_view(self, flow: Item) -> Flow:
        return Flow(id=flow["id"], name=flow["name"], description=flow.get("description", ""),
                    graph=FlowGraph.model_validate(flow["graph"]), latest_version=int(flow["latest_version"]),
                    state_machine_arn=flow["state_machine_arn"], alias_arn=flow["alias_arn"],
                    console_url=console_url(self.config.region, flow["state_machine_arn"]),
                    created_by=flow["created_by"], created_at=flow["created_at"], updated_at=flow["updated_at"],
                    version=int(flow["version"]))

    def _found(self, identity: Identity, flow_id: str) -> Item:
        flow = self.store.flow(identity.tenant_id, flow_id)
        if flow is None:
            raise NotFound("No such flow.")
        return flow

    def _version_item(self, identity: Identity, flow_id: str, number: int, graph: FlowGraph,
                      definition: dict[str, Any], version_arn: str, now: str) -> Item:
        return {"tenant_id": identity.tenant_id, "flow_id": flow_id, "number": number,
                "graph": graph.model_dump(mode="json", exclude_none=True), "definition": definition,
                "state_machine_version_arn": version_arn, "created_by": identity.user_id, "created_at": now}

    def create(self, identity: Identity, body: FlowCreate) -> Flow:
        definition = self._compile(body.graph)
        flow_id = self.ids()
        name = state_machine_name(self.config.name_prefix, identity.tenant_id, flow_id)
        published = self.machines.publish(name, definition, description=f"version 1 of {body.name}", existing=None)
        now = _iso(self.clock())
        flow = {"tenant_id": identity.tenant_id, "id": flow_id, "name": body.name, "description": body.description,
                "graph": body.graph.model_dump(mode="json", exclude_none=True), "latest_version": 1,
                "state_machine_arn": published.state_machine_arn, "version_arn": published.version_arn,
                "alias_arn": published.alias_arn, "created_by": identity.user_id, "created_at": now,
                "updated_at": now, "version": 1}
        try:
            self.store.create_flow(flow, self._version_item(identity, flow_id, 1, body.graph, definition,
                                                            published.version_arn, now))
        except Exception:
            self.machines.delete(published)  # nothing half-written: no state machine without its flow
            raise
        return self._flow_view(flow)

    def get(self, identity: Identity, flow_id: str) -> Flow:
        return self._flow_view(self._found(identity, flow_id))

    def list_flows(self, identity: Identity, *, limit: int, start: Any) -> tuple[list[Flow], Any]:
        items, resume = self.store.flows(identity.tenant_id, limit=limit, start=start)
        return [self._flow_view(item) for item in items], resume

    def update(self, identity: Identity, flow_id: str, body: FlowUpdate, if_match: int | None) -> Flow:
        flow = self._found(identity, flow_id)
        current = int(flow["version"])
        if if_match is not None and if_match != current:
            raise PreconditionFailed(f"The flow is at version {current}, not {if_match}; fetch it again and retry.",
                                     current_version=current)
        changed = {**flow, "updated_at": _iso(self.clock()), "version": current + 1}
        for name in ("name", "description"):
            if getattr(body, name) is not None:
                changed[name] = getattr(body, name)
        version_item = None
        if body.graph is not None:
            definition = self._compile(body.graph)
            number = int(flow["latest_version"]) + 1
            published = self.machines.publish(
                flow_id_name(flow), definition, description=f"version {number} of {changed['name']}",
                existing=_published(flow))
            changed.update(graph=body.graph.model_dump(mode="json", exclude_none=True), latest_version=number,
                           version_arn=published.version_arn)
            version_item = self._version_item(identity, flow_id, number, body.graph, definition,
                                              published.version_arn, changed["updated_at"])
        try:
            self.store.save_flow(changed, current, version_item)
        except Exception:
            if version_item is not None:
                # Another save won: the alias goes back to the version the flow item names.
                latest = self.store.flow(identity.tenant_id, flow_id) or flow
                self.machines.point_alias(flow["alias_arn"], latest["version_arn"])
                raise PreconditionFailed("The flow changed meanwhile; fetch it again and retry.") from None
            raise
        return self._flow_view(changed)

    def delete(self, identity: Identity, flow_id: str, if_match: int | None) -> None:
        """Refused (409) while an execution of the flow runs: cancel them first. Then the ``live`` alias, the state
        machine (with its versions), the flow and its version items go; runs stay readable."""
        flow = self._found(identity, flow_id)
        current = int(flow["version"])
        if if_match is not None and if_match != current:
            raise PreconditionFailed(f"The flow is at version {current}, not {if_match}; fetch it again and retry.",
                                     current_version=current)
        running = self.machines.running(flow["state_machine_arn"])
        if running:
            raise Conflict(f"{running} execution(s) of this flow are running; cancel them first.",
                           slug="flow-has-running-executions", running=running)
        self.machines.delete(_published(flow))
        self.store.delete_flow(identity.tenant_id, flow_id, current)

    def versions(self, identity: Identity, flow_id: str, *, limit: int, start: Any) -> tuple[list[FlowVersion], Any]:
        self._found(identity, flow_id)
        items, resume = self.store.versions(identity.tenant_id, flow_id, limit=limit, start=start)
        return [FlowVersion.model_validate(item) for item in items], resume

    def version(self, identity: Identity, flow_id: str, number: int) -> FlowVersion:
        item = self.store.version(identity.tenant_id, flow_id, number)
        if item is None:
            raise NotFound("No such flow version.")
        return FlowVersion.model_validate(item)

    # --- executions ------------------------------------------------------------------------------------------

    def _run(self, identity: Identity, run_id: str) -> Item:
        run = self.store.run(identity.tenant_id, run_id)
        if run is None:
            raise NotFound("No such execution.")
        return run

    def _execution_view(self, run: Item) -> Execution:
        return Execution(id=run["id"], flow_id=run["flow_id"], flow_version=int(run["flow_version"]),
                         status=run["status"], started_by=run["started_by"], started_at=run["started_at"],
                         stopped_at=run.get("stopped_at"), input=run.get("input") or {}, output=run.get("output"),
                         failed_node=run.get("failed_node"), error=run.get("error"), cause=run.get("cause"),
                         execution_arn=run["execution_arn"],
                         console_url=console_url(self.config.region, run["execution_arn"]),
                         redrive_count=int(run.get("redrive_count") or 0), redriven_at=run.get("redriven_at"))

    def start(self, identity: Identity, flow_id: str, values: dict[str, Any]) -> Execution:
        flow = self._found(identity, flow_id)
        graph = FlowGraph.model_validate(flow["graph"])
        check_input(graph, values)
        run_id = self.ids()
        number = int(flow["latest_version"])
        context = RunContext(tenant_id=identity.tenant_id, flow_id=flow_id, flow_version=number, run_id=run_id)
        payload = execution_input(graph, context, values).model_dump(mode="json")
        execution_arn = flow["state_machine_arn"].replace(":stateMachine:", ":execution:", 1) + f":{run_id}"
        run = {"tenant_id": identity.tenant_id, "id": run_id, "flow_id": flow_id, "flow_version": number,
               "status": "running", "started_by": identity.user_id, "started_at": _iso(self.clock()),
               "input": values, "execution_arn": execution_arn}
        self.store.add_run(run)
        target = flow["state_machine_arn"] if self.config.start_on_state_machine else flow["version_arn"]
        try:
            started = self.machines.start(target, run_id, payload)
        except Exception:
            self.store.remove_run(identity.tenant_id, run_id)
            raise
        if started != execution_arn:  # a version's executions are named after the state machine too
            run["execution_arn"] = started
        return self._execution_view(run)

    def _reconciled(self, run: Item) -> Item:
        """A run the item says is running, checked against Step Functions (an execution stopped in the console,
        or one whose own record failed)."""
        if run["status"] != "running":
            return run
        found = self.machines.describe(run["execution_arn"])
        status = _SFN_STATUS.get(str(found["status"]), "running")
        if status == "running":
            return run
        fields: Item = {"status": status, "stopped_at": _iso(found.get("stopped_at") or self.clock())}
        if status == "succeeded" and found.get("output"):
            fields["output"] = json.loads(found["output"])
        elif status != "succeeded":
            node, error, cause = failure_of(found.get("error"), found.get("cause"))
            if node is None and status in ("failed", "timed_out"):  # a timeout, a service error, a child's failure
                node = node_of_failure(self.machines.entered_states(run["execution_arn"]))
            fields.update({k: v for k, v in (("failed_node", node), ("error", error), ("cause", cause)) if v})
        ended = self.store.finish_run(run["tenant_id"], run["id"], fields)
        if ended is None:  # recorded meanwhile (by the execution itself, a cancel or another read)
            return self.store.run(run["tenant_id"], run["id"]) or run
        if status != "succeeded":  # a success is announced by the execution's own record_success
            self._announce_end(ended, fields)
        return ended

    def _announce_end(self, run: Item, fields: Item) -> None:
        item = runner_event(self.clock(), f"flow_{fields['status']}", fields.get("failed_node"),
                            {k: fields[k] for k in ("error", "cause") if k in fields})
        self.store.add_event(run["tenant_id"], run["id"], item)
        self.announce([execution_event(run["tenant_id"], str(run["flow_id"]), run["id"], item)])

    def execution(self, identity: Identity, run_id: str) -> Execution:
        return self._execution_view(self._reconciled(self._run(identity, run_id)))

    def executions(self, identity: Identity, flow_id: str, *, limit: int,
                   start: Any) -> tuple[list[Execution], Any]:
        self._found(identity, flow_id)
        items, resume = self.store.runs_of(identity.tenant_id, flow_id, limit=limit, start=start)
        return [self._execution_view(item) for item in items], resume

    def cancel(self, identity: Identity, run_id: str) -> Execution:
        run = self._reconciled(self._run(identity, run_id))
        if run["status"] in TERMINAL_STATUSES:
            raise Conflict(f"The execution has already ended ({run['status']}).", slug="execution-ended")
        self.machines.stop(run["execution_arn"], f"cancelled by {identity.user_id}")
        ended = self.store.finish_run(identity.tenant_id, run_id, {
            "status": "cancelled", "stopped_at": _iso(self.clock()), "cancelled_by": identity.user_id})
        return self._execution_view(ended or self._run(identity, run_id))

    def redrive(self, identity: Identity, run_id: str) -> Execution:
        """``RedriveExecution``: the same execution continues from the node that failed (or was running when it was
        cancelled or timed out), with the results of the nodes that succeeded kept. Refused (409) for a run that
        has not ended unsuccessfully, for a flow saved (or deleted) since the run started (the redrive would run
        the old definition: start a new execution instead), and where Step Functions refuses it (more than 14 days
        ago, or too many redrives)."""
        run = self._reconciled(self._run(identity, run_id))
        if run["status"] not in REDRIVABLE_STATUSES:
            raise Conflict(f"Only a failed, cancelled or timed-out execution can be redriven; this one is "
                           f"{run['status']}.", slug="execution-not-failed")
        flow = self.store.flow(identity.tenant_id, run["flow_id"])
        if flow is None or int(flow["latest_version"]) != int(run["flow_version"]):
            live = None if flow is None else int(flow["latest_version"])
            raise Conflict(f"This execution ran version {run['flow_version']} of a flow that has been "
                           f"{'deleted' if flow is None else f'saved since (version {live} is live)'}; start a new "
                           "execution instead.", slug="flow-changed", flow_version=int(run["flow_version"]),
                           live_version=live)
        count = int(run.get("redrive_count") or 0) + 1
        try:  # the token makes a retried request (same count) the same redrive
            self.machines.redrive(run["execution_arn"], client_token=f"{run_id}-redrive-{count}")
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") != "ExecutionNotRedrivable":
                raise
            reason = getattr(exc, "response", {}).get("Error", {}).get("Message") or "not redrivable"
            raise Conflict(f"Step Functions cannot redrive this execution: {reason}",
                           slug="execution-not-redrivable") from exc
        now = _iso(self.clock())
        restarted = self.store.restart_run(identity.tenant_id, run_id, {
            "status": "running", "redrive_count": count, "redriven_at": now}, previous_count=count - 1)
        if restarted is None:  # another request redrove it first (with the same token: one redrive)
            return self._execution_view(self._run(identity, run_id))
        item = runner_event(self.clock(), "flow_redriven", run.get("failed_node"),
                            {"redrive_count": count, "by": identity.user_id})
        self.store.add_event(identity.tenant_id, run_id, item)
        self.announce([execution_event(identity.tenant_id, str(run["flow_id"]), run_id, item)])
        return self._execution_view(restarted)

    # --- approvals ---------------------------------------------------------------------------------------------

    def approvals(self, identity: Identity, run_id: str) -> list[Approval]:
        self._run(identity, run_id)
        return [Approval.model_validate(item) for item in self.store.approvals(identity.tenant_id, run_id)]

    def decide(self, identity: Identity, run_id: str, node_id: str, approved: bool, comment: str) -> Approval:
        run = self._run(identity, run_id)
        pending = self.store.approval(identity.tenant_id, run_id, node_id)
        if pending is None:
            raise NotFound("This execution has no approval for that node.")
        if pending["status"] != "pending":
            raise Conflict(f"This approval was already decided ({pending['status']}).", slug="approval-decided")
        now = self.clock()
        if datetime.fromisoformat(pending["expires_at"]) <= now:
            raise Gone("This approval expired; the node timed out.", slug="approval-expired")
        decision = {"status": "approved" if approved else "rejected", "decided_by": identity.user_id,
                    "decided_at": _iso(now), "comment": comment}
        decided = self.store.decide(identity.tenant_id, run_id, node_id, decision)
        if decided is None:
            raise Conflict("This approval was already decided.", slug="approval-decided")
        try:
            # Both answers succeed the task (contract): the flow branches on ``approved``.
            self.machines.succeed_task(pending["task_token"], {"approved": approved, "comment": comment})
        except Exception as exc:
            self.store.reopen(identity.tenant_id, run_id, node_id)
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code not in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
                raise
            raise Conflict("The execution no longer waits for this approval (stopped or timed out).",
                           slug="approval-not-waiting") from exc
        item = runner_event(self.clock(), "approval_decided", node_id, {"approved": approved, "by": identity.user_id})
        self.store.add_event(identity.tenant_id, run_id, item)
        self.announce([execution_event(identity.tenant_id, str(run["flow_id"]), run_id, item)])
        return Approval.model_validate(decided)

    def record_end(self, context: RunContext, outcome: str, output: Any = None,
                   error: dict[str, Any] | None = None) -> Any:
        """What the execution's own ``flow.record_success`` state reports (through the node runner; versions
        published before redrive also report failures, from ``flow.record_failure``); the first record of a run's
        end wins (a cancel may have come first)."""
        fields: Item = {"status": "succeeded" if outcome == "succeeded" else "failed",
                        "stopped_at": _iso(self.clock())}
        if outcome == "succeeded":
            fields["output"] = output
        else:
            node, name, cause = failure_of((error or {}).get("Error"), (error or {}).get("Cause"))
            fields.update({k: v for k, v in (("failed_node", node), ("error", name), ("cause", cause)) if v})
        self.store.finish_run(context.tenant_id, context.run_id, fields)
        item = runner_event(self.clock(), f"flow_{fields['status']}", fields.get("failed_node"),
                            {k: fields[k] for k in ("error", "cause") if k in fields})
        self.store.add_event(context.tenant_id, context.run_id, item)
        self.announce([execution_event(context.tenant_id, context.flow_id, context.run_id, item)])
        return output

    # --- events ------------------------------------------------------------------------------------------------

    def events(self, identity: Identity, run_id: str, after: dict[str, Any] | None,
               wait_seconds: float) -> tuple[list[ExecutionEvent], dict[str, Any], ExecutionStatus]:
        """Events after the position ``after`` (``{"h": last history event id, "r": last runner event key}``),
        waiting up to ``wait_seconds`` for one while the execution runs."""
        run = self._run(identity, run_id)
        position: dict[str, Any] = {"h": int((after or {}).get("h", 0)), "r": (after or {}).get("r")}
        deadline = time.monotonic() + max(0.0, wait_seconds)
        graph: FlowGraph | None = None
        delay = 0.25
        while True:
            history = self.machines.history(run["execution_arn"])
            fresh = [event for event in history if int(event["id"]) > position["h"]]
            runner = self.store.events_after(identity.tenant_id, run_id, position["r"])
            if fresh and graph is None:
                version = self.store.version(identity.tenant_id, run["flow_id"], int(run["flow_version"]))
                graph = FlowGraph.model_validate(version["graph"]) if version else FlowGraph()
            found = [*history_events(fresh, history, graph or FlowGraph()),
                     *(ExecutionEvent(at=item["at"], source="runner", type=item["type"], node_id=item.get("node_id"),
                                      detail=item.get("detail") or {}) for item in runner)]
            if fresh:
                position["h"] = max(int(event["id"]) for event in fresh)
            if runner:
                position["r"] = runner[-1]["key"]
            # ended unless the last start (or redrive) is the latest execution event
            lifecycle = [str(event["type"]) for event in history if str(event["type"]).startswith("Execution")]
            ended = bool(lifecycle) and lifecycle[-1] not in ("ExecutionStarted", "ExecutionRedriven")
            if found or ended or time.monotonic() >= deadline:
                status = self._reconciled(run)["status"] if ended else run["status"]
                return sorted(found, key=lambda e: e.at), position, status
            self.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 2.0)


def flow_id_name(flow: Item) -> str:
    return str(flow["state_machine_arn"]).rsplit(":", 1)[-1]


def runner_event(at: datetime, kind: str, node_id: str | None, detail: dict[str, Any]) -> Item:
    return {"at": _iso(at), "sequence": secrets.token_hex(4), "type": kind, "node_id": node_id, "detail": detail}


_ENTERED = re.compile(r"^(\w+)StateEntered$")
_EXITED = re.compile(r"^(\w+)StateExited$")
_FAILED = ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut", "LambdaFunctionTimedOut", "MapRunFailed",
           "ParallelStateFailed", "MapStateFailed")


def history_events(fresh: list[dict[str, Any]], history: list[dict[str, Any]],
                   graph: FlowGraph) -> list[ExecutionEvent]:
    """Step Functions' history as node events: a state entered or exited is its node's (states the flows API adds
    and the compiler's helper states are left out), a failure is the node whose state was entered last before it."""
    from crewhouse.flows.compiler import node_of_state  # imported here: event reads only (see _compile)

    by_id = {int(event["id"]): event for event in history}

    def node_for(state: str) -> str | None:
        if state in WRAPPER_STATES:
            return None
        found = node_of_state(graph, state)
        return found[1] if found else None

    def entered_before(event: dict[str, Any]) -> str | None:
        seen = event.get("previousEventId")
        while seen:
            earlier = by_id.get(int(seen))
            if earlier is None:
                return None
            if _ENTERED.match(str(earlier["type"])):
                return str((earlier.get("stateEnteredEventDetails") or {}).get("name") or "")
            seen = earlier.get("previousEventId")
        return None

    out: list[ExecutionEvent] = []
    last_failed: str | None = None  # a failure fails the states around it too (the map, the run): reported once
    for event in fresh:
        kind = str(event["type"])
        at = event["timestamp"]
        if (match := _ENTERED.match(kind)) or (match := _EXITED.match(kind)):
            details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}
            node = node_for(str(details.get("name") or ""))
            if node is not None:
                out.append(ExecutionEvent(at=at, source="execution", node_id=node,
                                          type="node_entered" if kind.endswith("Entered") else "node_exited",
                                          detail={"state_type": match.group(1)}))
        elif kind in _FAILED:
            details = next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})
            node = node_for(entered_before(event) or "")
            if node is not None and node == last_failed:
                continue
            last_failed = node
            out.append(ExecutionEvent(at=at, source="execution", type="node_failed", node_id=node,
                                      detail={"error": details.get("error"), "cause": details.get("cause")}))
        elif kind.startswith("Execution"):
            name = {"ExecutionStarted": "execution_started", "ExecutionRedriven": "execution_redriven",
                    "ExecutionSucceeded": "execution_succeeded",
                    "ExecutionFailed": "execution_failed", "ExecutionAborted": "execution_cancelled",
                    "ExecutionTimedOut": "execution_timed_out"}.get(kind)
            if name:
                out.append(ExecutionEvent(at=at, source="execution", type=name))
    return out


def approval_item(node_id: str, prompt: str, details: Any, token: str, requested: datetime,
                  timeout_seconds: int) -> Item:
    return {"node_id": node_id, "prompt": prompt, "details": details, "task_token": token, "status": "pending",
            "requested_at": _iso(requested), "expires_at": _iso(requested + timedelta(seconds=timeout_seconds))}
