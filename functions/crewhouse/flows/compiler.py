"""Compile a valid flow graph to an Amazon States Language definition (pure: a dict in, a dict out).

How each kind compiles (the payloads are ``contract``'s):

- ``start`` → a ``Pass`` that sets up the state: ``outputs`` with every node's data outputs ``null`` (so a node after
  a condition's merge point that reads a branch that did not run reads ``null``) and ``merges``;
- ``agent``, ``crew``, ``tool``, ``llm`` → a ``Task`` on the node runner (``lambda:invoke``) whose ``ResultSelector``
  keeps the node's declared outputs at ``$.outputs.<node>``; ``Retry`` for Lambda's service errors and throttles,
  then the node's own settings on ``Flow.Retryable``; no ``Catch``: a node's failure fails the execution at the
  node's own state, so a redrive (``RedriveExecution``) restarts that node with the results of the nodes before it
  kept. The node runner's errors name the node (``node <id> failed: …``); the flows API reads the state of any
  other failure from the execution's history. With ``crew_state_machine_arn`` a crew runs as a child execution
  (``states:startExecution.sync:2``) with the same payload as input;
- ``human_approval`` → ``lambda:invoke.waitForTaskToken`` with the token at ``Payload.task_token``;
- ``condition`` → a ``Choice`` (branches in order, the default branch as ``Default``); nodes reached from one branch
  only run on it, nodes reached from several run after the block (the merge point). An input fed from several
  branches reads ``$.merges.<node>.<port>``, which a ``Pass`` at the end of each branch fills;
- ``parallel`` … ``join`` → one ``Parallel`` state, a branch per edge leaving the parallel node. Its
  ``ResultSelector`` picks each branch's nodes' outputs (keyed by node id, so they never collide) and the join
  compiles to a ``Pass`` that merges them into ``$.outputs`` with one ``States.JsonMerge`` (shallow: by node id);
- ``map`` → a ``Map`` whose ``ItemProcessor`` is the body compiled the same way (its start receives
  ``{"item", "index"}``); ``INLINE``, or ``DISTRIBUTED`` with ``ExecutionType: STANDARD`` (see
  ``DISTRIBUTED_MAP_THRESHOLD``);
- ``end`` → a ``Pass`` that ends the execution with ``{"end": <node>, "output": {<port>: value}}`` (in a map body,
  just ``{<port>: value}``: one element of the map's ``results``).

Nodes run in one sequence per block (topological, ties broken by id), so the same graph gives the same definition
whatever the order of its lists and dicts; ``dumps`` writes it with sorted keys, byte for byte the same.
State names are node ids (``state_name``; a map body's are prefixed ``<map>@``) and ``node_of_state`` maps back.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import ValidationError

from crewhouse.flows.contract import NODE_RUNNER_RESOURCE, RETRYABLE_ERROR
from crewhouse.flows.graph import (
    CONTROL_PORT,
    ConditionConfig,
    CrewConfig,
    EndConfig,
    FlowGraph,
    HumanApprovalConfig,
    MapConfig,
    Node,
    NodeConfig,
    RunnableConfig,
    data_ports,
    node_config,
)
from crewhouse.flows.validation import ConditionBlock, InvalidFlow, ParallelBlock, Structure, analyse, validate

# An inline Map runs in the parent execution and shares its 25,000-event history: a body of ~5 Task states writes
# ~30 events per item, so 200 items (~6,000 events) leave room for the rest of the flow and its retries. A map whose
# config says it may see more (``max_items``) compiles to a Distributed Map: a child execution per item, each with
# its own history, and concurrency beyond inline's 40.
DISTRIBUTED_MAP_THRESHOLD = 200
MAX_STATE_NAME = 80
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
STEP_FUNCTIONS_SERVICE_ERRORS = ["StepFunctions.ExecutionLimitExceeded", "StepFunctions.AWSStepFunctionsException"]
START_CHILD_EXECUTION = "arn:aws:states:::states:startExecution.sync:2"
WAIT_FOR_TASK_TOKEN = "arn:aws:states:::lambda:invoke.waitForTaskToken"
SCOPE_SEPARATOR = "@"
BRANCHES_KEY = "branches"  # where a Parallel leaves its branches' outputs for the join to merge


def compile_flow(graph: FlowGraph, *, node_runner_arn: str, crew_state_machine_arn: str | None = None,
                 distributed_map_threshold: int = DISTRIBUTED_MAP_THRESHOLD) -> dict[str, Any]:
    """The ASL definition of ``graph``; raises ``InvalidFlow`` (carrying every problem) for an invalid graph."""
    problems = validate(graph)
    if problems:
        raise InvalidFlow(problems)
    compiler = _Compiler(node_runner_arn, crew_state_machine_arn, distributed_map_threshold)
    definition = compiler.machine(graph, scope=(), in_map_body=False)
    return {"Comment": "A Crewhouse flow: each state is named after the node it runs", **definition}


def dumps(definition: dict[str, Any]) -> str:
    """The definition as JSON, byte-identical for the same graph."""
    return json.dumps(definition, sort_keys=True, indent=2, ensure_ascii=False)


def state_name(node_id: str, scope: tuple[str, ...] = ()) -> str:
    """The state a node compiles to: its id, prefixed by the ids of the maps whose body it is in."""
    return _fit(SCOPE_SEPARATOR.join((*scope, node_id)))


def node_of_state(graph: FlowGraph, name: str) -> tuple[tuple[str, ...], str] | None:
    """``(scope, node id)`` of the node whose state is ``name``."""

    def search(flow: FlowGraph, scope: tuple[str, ...]) -> tuple[tuple[str, ...], str] | None:
        for node in sorted(flow.nodes, key=lambda n: n.id):
            if state_name(node.id, scope) == name:
                return scope, node.id
            if node.kind == "map" and isinstance(config := _parsed(node), MapConfig):
                found = search(config.body, (*scope, node.id))
                if found:
                    return found
        return None

    return search(graph, ())


def _parsed(node: Node) -> NodeConfig | None:
    try:
        return node_config(node)
    except ValidationError:
        return None


def _fit(name: str) -> str:
    """At most 80 characters: a longer name keeps its start and gains a hash of the whole (``.`` never appears in a
    node id, so it cannot collide with one)."""
    if len(name) <= MAX_STATE_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[:MAX_STATE_NAME - 11]}.{digest}"


def _path(*parts: str) -> str:
    return "$." + ".".join(parts)


class _Compiler:
    def __init__(self, node_runner_arn: str, crew_state_machine_arn: str | None, threshold: int) -> None:
        self.node_runner_arn = node_runner_arn
        self.crew_state_machine_arn = crew_state_machine_arn
        self.threshold = threshold

    def machine(self, graph: FlowGraph, scope: tuple[str, ...], in_map_body: bool) -> dict[str, Any]:
        """``StartAt`` and ``States`` of a whole graph (the top level or a map body)."""
        structure = analyse(graph)
        flow = _Flow(self, structure, scope, in_map_body)
        states: dict[str, Any] = {}
        first = flow.chain(structure.sequence(structure.order), states, None)
        return {"StartAt": first, "States": dict(sorted(states.items()))}


class _Flow:
    """Compiles one graph's regions into state dicts (each Parallel branch gets its own)."""

    def __init__(self, compiler: _Compiler, structure: Structure, scope: tuple[str, ...], in_map_body: bool) -> None:
        self.compiler = compiler
        self.s = structure
        self.scope = scope
        self.in_map_body = in_map_body

    def name(self, node_id: str) -> str:
        return state_name(node_id, self.scope)

    # --- sequences ---------------------------------------------------------------------------------------------

    def chain(self, items: list[str], states: dict[str, Any], then: str | None) -> str | None:
        """Add the states of ``items`` (run in order, then ``then``) to ``states``; the first state's name, or
        ``then`` for no items."""
        following = then
        for item in reversed(items):
            if item in self.s.conditions:
                following = self.condition(self.s.conditions[item], states, following)
            elif item in self.s.parallels:
                following = self.parallel(self.s.parallels[item], states, following)
            else:
                following = self.node(self.s.nodes[item], states, following)
        return following

    def node(self, node: Node, states: dict[str, Any], then: str | None) -> str:
        name = self.name(node.id)
        if node.kind == "start":
            state: dict[str, Any] = {"Type": "Pass", "Parameters": self.initial_state()}
        elif node.kind == "end":
            states[name] = {"Type": "Pass", "Parameters": self.flow_output(node), "End": True}
            return name
        elif node.kind == "map":
            state = self.map(node, states)
        elif node.kind == "human_approval":
            state = self.approval(node, states)
        else:
            state = self.task(node, states)
        states[name] = _then(state, then)
        return name

    def condition(self, block: ConditionBlock, states: dict[str, Any], then: str | None) -> str:
        targets = {}
        for branch in block.branches:
            after = self.merge_copies(block, branch, states, then)
            body = self.s.sequence(block.bodies[branch])
            targets[branch] = self.chain(body, states, after)
        config = self.s.configs[block.node_id]
        assert isinstance(config, ConditionConfig)
        choices = []
        for rule_branch in config.branches:
            when = rule_branch.when
            rule = _choice_rule(self.input_path(block.node_id, when.port), when.operator, when.value)
            choices.append({**rule, "Next": targets[rule_branch.name]})
        state = {"Type": "Choice", "Choices": choices, "Default": targets[config.default]}
        states[self.name(block.node_id)] = state
        return self.name(block.node_id)

    def merge_copies(self, block: ConditionBlock, branch: str, states: dict[str, Any], then: str | None) -> str | None:
        """``Pass`` states at the end of ``branch`` that copy its value of each merge port it feeds."""
        following = then
        for merge in sorted(self.s.merge_ports.values(), key=lambda m: (m.node_id, m.port), reverse=True):
            if merge.condition != block.node_id or branch not in merge.sources:
                continue
            source, source_port = merge.sources[branch]
            name = _fit(f"{self.name(block.node_id)}.{branch}.{merge.node_id}.{merge.port}")
            states[name] = _then({"Type": "Pass", "InputPath": self.output_path(source, source_port),
                                  "ResultPath": _path("merges", merge.node_id, merge.port)}, following)
            following = name
        return following

    def parallel(self, block: ParallelBlock, states: dict[str, Any], then: str | None) -> str:
        branches = []
        picked: dict[str, str] = {}
        merges: dict[str, str] = {}
        for i, body in enumerate(block.bodies):
            branch_states: dict[str, Any] = {}
            done = _fit(f"{self.name(block.node_id)}.branch{i}")
            branch_states[done] = {"Type": "Pass", "End": True}
            first = self.chain(self.s.sequence(body), branch_states, done)
            branches.append({"StartAt": first, "States": dict(sorted(branch_states.items()))})
            for node_id in sorted(body):
                picked[f"{node_id}.$"] = f"$[{i}].outputs.{node_id}"
            for merge_node in sorted({m.node_id for m in self.s.merge_ports.values() if m.condition in body}):
                merges[f"{merge_node}.$"] = f"$[{i}].merges.{merge_node}"
        name = self.name(block.node_id)
        state: dict[str, Any] = {"Type": "Parallel", "Branches": branches,
                                 "ResultSelector": {"outputs": picked, "merges": merges},
                                 "ResultPath": _path(BRANCHES_KEY), "Next": self.name(block.join)}
        states[name] = state
        merged = {"context.$": "$.context", "input.$": "$.input",
                  "outputs.$": f"States.JsonMerge($.outputs, $.{BRANCHES_KEY}.outputs, false)",
                  "merges.$": f"States.JsonMerge($.merges, $.{BRANCHES_KEY}.merges, false)"}
        states[self.name(block.join)] = _then({"Type": "Pass", "Parameters": merged}, then)
        return name

    # --- node states -------------------------------------------------------------------------------------------

    def initial_state(self) -> dict[str, Any]:
        # The start's outputs are read from $.input; every other node's start out null until it runs.
        outputs = {node_id: {p.name: None for p in data_ports(self.s.nodes[node_id])[1]}
                   for node_id in self.s.order if self.s.nodes[node_id].kind != "start"}
        merges: dict[str, dict[str, None]] = {}
        for node_id, port in sorted(self.s.merge_ports):
            merges.setdefault(node_id, {})[port] = None
        return {"context.$": "$.context", "input.$": "$.input", "outputs": outputs, "merges": merges}

    def flow_output(self, node: Node) -> dict[str, Any]:
        config = self.s.configs[node.id]
        assert isinstance(config, EndConfig)
        inputs = self.inputs(node)
        output = {**{p.name: None for p in config.outputs if p.name not in inputs and f"{p.name}.$" not in inputs},
                  **inputs}
        return output if self.in_map_body else {"end": node.id, "output": output}

    def payload(self, node: Node) -> dict[str, Any]:
        return {"context.$": "$.context", "node": {"id": node.id, "kind": node.kind, "config": node.config},
                "inputs": self.inputs(node)}

    def task(self, node: Node, states: dict[str, Any]) -> dict[str, Any]:
        config = self.s.configs[node.id]
        assert isinstance(config, RunnableConfig)
        retry = [{"ErrorEquals": [RETRYABLE_ERROR], "IntervalSeconds": config.retry.interval_seconds,
                  "MaxAttempts": config.retry.max_attempts, "BackoffRate": config.retry.backoff_rate}]
        if isinstance(config, CrewConfig) and self.compiler.crew_state_machine_arn:
            child_input = {**self.payload(node), "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"}
            state: dict[str, Any] = {
                "Type": "Task", "Resource": START_CHILD_EXECUTION,
                "Parameters": {"StateMachineArn": self.compiler.crew_state_machine_arn, "Input": child_input},
                **self.keep_outputs(node, "$.Output"),
                "Retry": [{"ErrorEquals": STEP_FUNCTIONS_SERVICE_ERRORS, "IntervalSeconds": 2, "MaxAttempts": 3,
                           "BackoffRate": 2, "JitterStrategy": "FULL"}, *retry]}
        else:
            state = {"Type": "Task", "Resource": NODE_RUNNER_RESOURCE,
                     "Parameters": {"FunctionName": self.compiler.node_runner_arn, "Payload": self.payload(node)},
                     **self.keep_outputs(node, "$.Payload"),
                     "Retry": [_lambda_retry(), *retry]}
        if config.timeout_seconds is not None:
            state["TimeoutSeconds"] = config.timeout_seconds
        return state

    def approval(self, node: Node, states: dict[str, Any]) -> dict[str, Any]:
        config = self.s.configs[node.id]
        assert isinstance(config, HumanApprovalConfig)
        payload = {**self.payload(node), "task_token.$": "$$.Task.Token"}
        state = {"Type": "Task", "Resource": WAIT_FOR_TASK_TOKEN,
                 "Parameters": {"FunctionName": self.compiler.node_runner_arn, "Payload": payload},
                 **self.keep_outputs(node, "$"), "TimeoutSeconds": config.timeout_seconds, "Retry": [_lambda_retry()]}
        return state

    def map(self, node: Node, states: dict[str, Any]) -> dict[str, Any]:
        config = self.s.configs[node.id]
        assert isinstance(config, MapConfig)
        distributed = config.mode == "distributed" or (
            config.mode == "auto" and config.max_items is not None and config.max_items > self.compiler.threshold)
        processor = self.compiler.machine(config.body, (*self.scope, node.id), in_map_body=True)
        processor["ProcessorConfig"] = ({"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"} if distributed
                                        else {"Mode": "INLINE"})
        state = {"Type": "Map", "ItemsPath": self.input_path(node.id, "items"),
                 "ItemSelector": {"context.$": "$.context",
                                  "input": {"item.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"}},
                 "ItemProcessor": processor, "MaxConcurrency": config.max_concurrency,
                 "ResultSelector": {"results.$": "$"}, "ResultPath": _path("outputs", node.id)}
        if distributed:
            state["Label"] = _label(node.id)
        return state

    def keep_outputs(self, node: Node, result: str) -> dict[str, Any]:
        """``ResultSelector`` and ``ResultPath`` that store the node's declared outputs at ``$.outputs.<node>``."""
        outputs = data_ports(node)[1]
        if not outputs:
            return {"ResultPath": None}
        prefix = "$." if result == "$" else f"{result}."
        return {"ResultSelector": {f"{p.name}.$": f"{prefix}{p.name}" for p in outputs},
                "ResultPath": _path("outputs", node.id)}

    # --- paths ---------------------------------------------------------------------------------------------------

    def inputs(self, node: Node) -> dict[str, Any]:
        """The node's ``inputs``: each data input an edge feeds (by path) or the config gives (static)."""
        config = self.s.configs[node.id]
        configured = config.configured_inputs()
        fed = {port for port, _, _ in self.s.edges_in[node.id] if port != CONTROL_PORT}
        built: dict[str, Any] = {}
        for port in data_ports(node)[0]:
            if port.name in fed:
                built[f"{port.name}.$"] = self.input_path(node.id, port.name)
            elif port.name in configured:
                built[port.name] = configured[port.name]
        return built

    def input_path(self, node_id: str, port: str) -> str:
        if (node_id, port) in self.s.merge_ports:
            return _path("merges", node_id, port)
        source, source_port = next((s, sp) for p, s, sp in self.s.edges_in[node_id] if p == port)
        return self.output_path(source, source_port)

    def output_path(self, node_id: str, port: str) -> str:
        if self.s.nodes[node_id].kind == "start":
            return _path("input", port)
        return _path("outputs", node_id, port)


def _then(state: dict[str, Any], then: str | None) -> dict[str, Any]:
    return {**state, "Next": then} if then is not None else {**state, "End": True}


def _lambda_retry() -> dict[str, Any]:
    return {"ErrorEquals": LAMBDA_SERVICE_ERRORS, "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2,
            "JitterStrategy": "FULL"}


def _label(node_id: str) -> str:
    """A Distributed Map's ``Label`` (up to 40 characters, it names the child executions)."""
    return node_id if len(node_id) <= 40 else f"{node_id[:29]}-{hashlib.sha256(node_id.encode()).hexdigest()[:10]}"


def _choice_rule(variable: str, operator: str, value: Any) -> dict[str, Any]:
    """A Choice rule for ``<variable> <operator> <value>``; comparisons first check the value's type, so a value of
    another type does not match (instead of failing the execution)."""
    if operator == "not_equals":
        return {"Not": _choice_rule(variable, "equals", value)}
    if operator == "is_true":
        return _typed(variable, "IsBoolean", {"Variable": variable, "BooleanEquals": True})
    if operator == "is_false":
        return _typed(variable, "IsBoolean", {"Variable": variable, "BooleanEquals": False})
    if operator == "is_present":
        return {"And": [{"Variable": variable, "IsPresent": True}, {"Variable": variable, "IsNull": False}]}
    if operator == "is_absent":
        return {"Or": [{"Variable": variable, "IsPresent": False}, {"Variable": variable, "IsNull": True}]}
    if operator == "contains":
        escaped = str(value).replace("\\", "\\\\").replace("*", "\\*")
        return _typed(variable, "IsString", {"Variable": variable, "StringMatches": f"*{escaped}*"})
    if value is None:  # equals null
        return {"And": [{"Variable": variable, "IsPresent": True}, {"Variable": variable, "IsNull": True}]}
    if isinstance(value, bool):
        return _typed(variable, "IsBoolean", {"Variable": variable, "BooleanEquals": value})
    kind, check = ("Numeric", "IsNumeric") if isinstance(value, int | float) else ("String", "IsString")
    suffix = {"equals": "Equals", "greater_than": "GreaterThan", "greater_than_or_equal": "GreaterThanEquals",
              "less_than": "LessThan", "less_than_or_equal": "LessThanEquals"}[operator]
    return _typed(variable, check, {"Variable": variable, f"{kind}{suffix}": value})


def _typed(variable: str, check: str, rule: dict[str, Any]) -> dict[str, Any]:
    return {"And": [{"Variable": variable, "IsPresent": True}, {"Variable": variable, check: True}, rule]}
