"""The payloads between a compiled flow's state machine and the node-runner Lambda (``compiler`` writes the ASL
that builds them; the runner reads ``NodeTask`` and answers a ``NodeResult``).

Execution input (the API's ``StartExecution``)::

    {"context": {"tenant_id", "flow_id", "flow_version", "run_id"}, "input": {<start node's port>: value}}

Every declared input must be present (``null`` for an optional one the caller left out): nodes read
``$.input.<port>``, and a missing key fails the execution. ``execution_input`` builds it so.

State during a run (``RunState``)::

    {"context": …, "input": …, "outputs": {<node_id>: {<output port>: value}}, "merges": {<node_id>: {<port>: value}}}

The start state sets ``outputs`` to every node of the graph with every data output port ``null``, so a node after a
condition's merge point that reads a node of a branch that did not run reads ``null`` instead of failing on a
missing path.

Each Task's ``Payload`` (``NodeTask``)::

    {"context": …, "node": {"id", "kind", "config"}, "inputs": {<input port>: value}, "task_token"?: "…"}

``inputs`` holds every data input port that an edge or the config feeds (config values are static, edge values
come from ``$.input``/``$.outputs``/``$.merges`` by JSONPath); a port neither feeds is absent. ``task_token`` is
present for ``human_approval`` only (``.waitForTaskToken``): the runner stores it and returns; the approve and
reject endpoints answer ``SendTaskSuccess`` with the node's outputs (``{"approved": false, …}`` on a reject, so the
flow can branch on it). A timeout is ``States.Timeout``; like any node failure it fails the execution at the node.

The runner answers the node's outputs as one JSON object, **every declared data output port present** (``null``
when it has none): the state machine stores ``Payload`` at ``$.outputs.<node_id>`` and later nodes read
``$.outputs.<node_id>.<port>``, which fails the execution when the key is missing. A tool without an output schema
answers ``{"result": <the tool's result>}``. An error worth retrying is raised with the name ``Flow.Retryable``
(``RETRYABLE_ERROR``: the node's own retry settings apply); any other error fails the node at once. Either error's
message is ``node <id> failed: <why>`` (``node_failure``), so a failed execution's cause names its node.

Values travel by JSON inside Step Functions' 256 KiB state limit. The runner offloads a value over its limit to S3
and passes a reference object in its place; the compiled state machine never looks inside values.

Change to the agreed shape, and why: ``merges`` (state only; the runner never sees it). An input port fed from
nodes on different branches of one condition (a merge point) needs the value of whichever branch ran; JSONPath
cannot pick the non-null of several paths, so each branch ends with a Pass that copies its value to
``$.merges.<node_id>.<port>`` and the merge node reads it from there. The start state initialises it like
``outputs``.

The flow's output (the execution's output) is ``FlowOutput``: which end node finished and its inputs.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.flows.graph import FlowGraph, NodeKind, data_ports

NODE_RUNNER_RESOURCE = "arn:aws:states:::lambda:invoke"
RETRYABLE_ERROR = "Flow.Retryable"
NODE_FAILED_ERROR = "Flow.NodeFailed"
NODE_FAILURE = re.compile(r"^node (?P<node>[A-Za-z0-9_-]+) failed: (?P<message>.*)$", re.S)


def node_failure(node_id: str, message: str) -> str:
    """The node runner's error message for a node's failure (``NODE_FAILURE`` reads it back)."""
    return f"node {node_id} failed: {message}"


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunContext(_Contract):
    tenant_id: str
    flow_id: str
    flow_version: int
    run_id: str


class ExecutionInput(_Contract):
    """What the API passes to ``StartExecution``."""

    context: RunContext
    input: dict[str, Any] = Field(default_factory=dict, description="The start node's ports")


class RunState(ExecutionInput):
    """The state between two states of a run."""

    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    merges: dict[str, dict[str, Any]] = Field(default_factory=dict)


class NodeRef(_Contract):
    id: str
    kind: NodeKind
    config: dict[str, Any]


class NodeTask(_Contract):
    """The Lambda's event for one node (the Task's ``Payload``)."""

    context: RunContext
    node: NodeRef
    inputs: dict[str, Any] = Field(default_factory=dict)
    task_token: str | None = None


NodeResult = dict[str, Any]
"""What the runner returns: ``{<output port>: value}``, every declared data output port present."""


class FlowOutput(_Contract):
    """The execution's output."""

    end: str = Field(description="The id of the end node that finished the run")
    output: dict[str, Any] = Field(description="The end node's inputs: the flow's declared outputs")


def execution_input(graph: FlowGraph, context: RunContext, values: dict[str, Any]) -> ExecutionInput:
    """The ``StartExecution`` input: ``values`` (already checked against the start node) with every declared input
    the caller left out set to ``null``."""
    declared = [port.name for node in graph.nodes if node.kind == "start" for port in data_ports(node)[1]]
    return ExecutionInput(context=context, input={**dict.fromkeys(declared), **values})
