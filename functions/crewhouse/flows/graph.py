"""A flow graph: nodes with typed ports and edges between ports (the JSON the flows API stores and returns).

```json
{"nodes": [{"id": "start", "kind": "start",
            "config": {"inputs": [{"name": "topic", "type": "string", "required": true}]}},
           {"id": "draft", "kind": "llm", "config": {"prompt": "Write about {topic}"}},
           {"id": "end", "kind": "end", "config": {"outputs": [{"name": "text", "type": "string"}]}}],
 "edges": [{"source": "start", "source_port": "topic", "target": "draft", "target_port": "context"},
           {"source": "draft", "source_port": "text", "target": "end", "target_port": "text"}]}
```

Every edge is a dependency: its target runs after its source. An edge between two data ports also carries the
source's value into the target's input. Every node also has a **control port** named ``flow`` (type
``control``; ``start`` has only the output, ``end`` only the input): an edge between control ports orders two
nodes without passing a value (``parallel``, ``join`` and ``condition`` have no data outputs, so everything after
them hangs off ``flow``). Edges leaving a ``condition`` carry the ``branch`` they belong to.

A node's ``config`` is kept as a plain dict here so that a graph with a bad config still parses and validation
can report it on the node; ``node_config`` parses it with the kind's model (``CONFIG_MODELS``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PortType = Literal["string", "number", "boolean", "object", "array", "any", "control"]
DataPortType = Literal["string", "number", "boolean", "object", "array", "any"]
NodeKind = Literal[
    "start", "end", "agent", "crew", "tool", "llm", "condition", "parallel", "join", "map", "human_approval"
]
NODE_KINDS: tuple[NodeKind, ...] = (
    "start", "end", "agent", "crew", "tool", "llm", "condition", "parallel", "join", "map", "human_approval"
)
# Kinds that run on the node-runner Lambda (Task states with Retry).
RUNNABLE_KINDS: frozenset[str] = frozenset({"agent", "crew", "tool", "llm"})
CONTROL_PORT = "flow"

# Node ids become state names and JSONPath keys ($.outputs.<id>): letters, digits, "_" and "-" only.
NODE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
# Port names are JSONPath keys too, and must not start with a digit or a hyphen.
PORT_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"

NodeId = Annotated[str, Field(pattern=NODE_ID_PATTERN, description="Unique in its graph; the state's name in ASL")]
PortName = Annotated[str, Field(pattern=PORT_NAME_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Port(_Strict):
    """One input or output of a node. Also the shape of a flow's declared inputs (``start``) and outputs (``end``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: PortName
    type: PortType = "any"
    required: bool = False
    description: str | None = None


class DeclaredPort(Port):
    """A port the user declares in a config (a flow input or output): never a control port."""

    type: DataPortType = "any"


class Position(_Strict):
    """Where an editor drew the node; the compiler ignores it."""

    x: float
    y: float


class Node(_Strict):
    id: NodeId
    kind: NodeKind
    name: str | None = Field(default=None, max_length=200, description="Label shown in an editor")
    config: dict[str, Any] = Field(default_factory=dict, description="Parsed by the kind's model in CONFIG_MODELS")
    position: Position | None = None


class Edge(_Strict):
    id: str | None = Field(default=None, max_length=200, description="Optional; `key` names the edge either way")
    source: str
    source_port: str
    target: str
    target_port: str
    branch: str | None = Field(default=None, description="The condition branch this edge leaves on")

    @property
    def key(self) -> str:
        """The edge's id, or one made of its ends when it has none (stable: the same edge, the same key)."""
        return self.id or f"{self.source}.{self.source_port}->{self.target}.{self.target_port}"


class FlowGraph(_Strict):
    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)

    def node(self, node_id: str) -> Node | None:
        return next((node for node in self.nodes if node.id == node_id), None)


# --- configs, one model per kind ----------------------------------------------------------------------------


class NodeConfig(_Strict):
    defaults: dict[str, Any] = Field(
        default_factory=dict, description="Values for input ports no edge feeds (satisfy a required port)")

    def configured_inputs(self) -> dict[str, Any]:
        """Input values the config gives (used when no edge feeds the port)."""
        return dict(self.defaults)


class RetrySettings(_Strict):
    """The node's own retries of a ``Flow.Retryable`` error (Lambda's throttles are retried regardless)."""

    max_attempts: int = Field(default=2, ge=0, le=10, description="Retries after the first attempt")
    interval_seconds: int = Field(default=2, ge=1, le=3600)
    backoff_rate: float = Field(default=2.0, ge=1.0, le=10.0)


class RunnableConfig(NodeConfig):
    retry: RetrySettings = Field(default_factory=RetrySettings)
    timeout_seconds: int | None = Field(default=None, ge=1, le=31_536_000, description="The Task's timeout")


class StartConfig(NodeConfig):
    inputs: list[DeclaredPort] = Field(default_factory=list, description="The flow's inputs (the start's outputs)")


class EndConfig(NodeConfig):
    outputs: list[DeclaredPort] = Field(default_factory=list, description="The flow's outputs (the end's inputs)")


class AgentConfig(RunnableConfig):
    agent_id: str = Field(min_length=1)


class CrewConfig(RunnableConfig):
    crew_id: str = Field(min_length=1)


class ToolConfig(RunnableConfig):
    tool_id: str = Field(min_length=1)
    input_schema: dict[str, Any] | None = Field(default=None, description="JSON Schema object: its properties")
    output_schema: dict[str, Any] | None = Field(default=None, description="JSON Schema object: its properties")


class LlmConfig(RunnableConfig):
    prompt: str | None = Field(default=None, description="Template for the `prompt` port when no edge feeds it")
    system: str | None = None
    provider_id: str | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)

    def configured_inputs(self) -> dict[str, Any]:
        configured = super().configured_inputs()
        if self.prompt is not None:
            configured.setdefault("prompt", self.prompt)
        return configured


Operator = Literal[
    "equals", "not_equals", "greater_than", "greater_than_or_equal", "less_than", "less_than_or_equal",
    "contains", "is_true", "is_false", "is_present", "is_absent",
]
UNARY_OPERATORS: frozenset[str] = frozenset({"is_true", "is_false", "is_present", "is_absent"})
ORDERING_OPERATORS: frozenset[str] = frozenset(
    {"greater_than", "greater_than_or_equal", "less_than", "less_than_or_equal"})


class Comparison(_Strict):
    """``<input port> <operator> <value>``: the port is one of the condition node's inputs (fed by an edge)."""

    port: PortName
    operator: Operator
    value: str | int | float | bool | None = None

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Comparison:
        if self.operator in UNARY_OPERATORS:
            if self.value is not None:
                raise ValueError(f"{self.operator} takes no value")
        elif self.operator in ORDERING_OPERATORS:
            if isinstance(self.value, bool) or not isinstance(self.value, int | float | str):
                raise ValueError(f"{self.operator} compares with a number or a string")
        elif self.operator == "contains" and not isinstance(self.value, str):
            raise ValueError("contains looks for a string")
        return self


class Branch(_Strict):
    name: PortName
    when: Comparison


class ConditionConfig(NodeConfig):
    """Branches are tried in order; the first that matches runs, else the ``default`` branch."""

    branches: list[Branch] = Field(min_length=1)
    default: PortName = Field(default="default", description="The name of the branch taken when none matches")

    @model_validator(mode="after")
    def _names_are_unique(self) -> ConditionConfig:
        names = [branch.name for branch in self.branches] + [self.default]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"branch names must be unique (the default's too): {', '.join(duplicates)}")
        return self

    @property
    def branch_names(self) -> list[str]:
        return [branch.name for branch in self.branches] + [self.default]


class ParallelConfig(NodeConfig):
    pass


class JoinConfig(NodeConfig):
    pass


MapMode = Literal["auto", "inline", "distributed"]


class MapConfig(NodeConfig):
    """Runs ``body`` once per element of ``items``; the body's start declares ``item`` (and may declare ``index``)."""

    body: FlowGraph
    max_concurrency: int = Field(default=0, ge=0, le=10_000, description="0: as many at once as Step Functions allows")
    mode: MapMode = "auto"
    max_items: int | None = Field(
        default=None, ge=0, description="The longest list expected; with mode auto it picks inline or distributed")


class HumanApprovalConfig(NodeConfig):
    prompt: str = Field(min_length=1, description="What the approver is asked")
    timeout_seconds: int = Field(default=86_400, ge=1, le=31_536_000)


CONFIG_MODELS: dict[str, type[NodeConfig]] = {
    "start": StartConfig,
    "end": EndConfig,
    "agent": AgentConfig,
    "crew": CrewConfig,
    "tool": ToolConfig,
    "llm": LlmConfig,
    "condition": ConditionConfig,
    "parallel": ParallelConfig,
    "join": JoinConfig,
    "map": MapConfig,
    "human_approval": HumanApprovalConfig,
}


def node_config(node: Node) -> NodeConfig:
    """The node's config parsed with its kind's model; raises pydantic's ``ValidationError`` when it is bad."""
    return CONFIG_MODELS[node.kind].model_validate(node.config)


# --- ports ------------------------------------------------------------------------------------------------------

_CONTROL = Port(name=CONTROL_PORT, type="control")
_FIXED_PORTS: dict[str, tuple[tuple[Port, ...], tuple[Port, ...]]] = {
    "agent": (
        (Port(name="task", type="string", required=True), Port(name="context", type="any")),
        (Port(name="text", type="string"), Port(name="usage", type="object")),
    ),
    "crew": (
        (Port(name="inputs", type="object"), Port(name="context", type="any")),
        (Port(name="text", type="string"), Port(name="tasks", type="array"), Port(name="usage", type="object")),
    ),
    "llm": (
        (Port(name="prompt", type="string", required=True), Port(name="context", type="any")),
        (Port(name="text", type="string"), Port(name="usage", type="object")),
    ),
    "human_approval": (
        (Port(name="details", type="any"),),
        (Port(name="approved", type="boolean"), Port(name="comment", type="string")),
    ),
    "map": ((Port(name="items", type="array", required=True),), (Port(name="results", type="array"),)),
    "parallel": ((), ()),
    "join": ((), ()),
}
# Ports of a tool that declares no schema: the whole input and the whole result.
TOOL_INPUT_PORT = Port(name="input", type="object")
TOOL_RESULT_PORT = Port(name="result", type="any")
_JSON_SCHEMA_TYPES: dict[str, PortType] = {
    "string": "string", "number": "number", "integer": "number", "boolean": "boolean",
    "object": "object", "array": "array",
}


def ports(node: Node) -> tuple[tuple[Port, ...], tuple[Port, ...]]:
    """The node's ``(inputs, outputs)``, control port included. A bad config yields no config-derived ports
    (validation reports the config itself)."""
    inputs, outputs = _data_ports(node)
    if node.kind != "start":
        inputs = (*inputs, _CONTROL)
    if node.kind != "end":
        outputs = (*outputs, _CONTROL)
    return inputs, outputs


def data_ports(node: Node) -> tuple[tuple[Port, ...], tuple[Port, ...]]:
    """``ports`` without the control ports: what the runner receives and returns."""
    return _data_ports(node)


def _data_ports(node: Node) -> tuple[tuple[Port, ...], tuple[Port, ...]]:
    if node.kind in _FIXED_PORTS:
        return _FIXED_PORTS[node.kind]
    try:
        config = node_config(node)
    except ValidationError:
        return (), ()
    if isinstance(config, StartConfig):
        return (), tuple(Port(**port.model_dump()) for port in config.inputs)
    if isinstance(config, EndConfig):
        return tuple(Port(**port.model_dump()) for port in config.outputs), ()
    if isinstance(config, ToolConfig):
        inputs = schema_ports(config.input_schema) if config.input_schema is not None else (TOOL_INPUT_PORT,)
        outputs = schema_ports(config.output_schema) if config.output_schema is not None else (TOOL_RESULT_PORT,)
        return inputs, outputs
    if isinstance(config, ConditionConfig):
        names = dict.fromkeys(branch.when.port for branch in config.branches)  # ordered, unique
        return tuple(Port(name=name, type="any", required=True) for name in names), ()
    return (), ()


def schema_ports(schema: dict[str, Any]) -> tuple[Port, ...]:
    """Ports from a JSON Schema object's ``properties`` (in their order) and ``required``.

    ``integer`` is a ``number`` port; a list of types, a missing type or anything else is ``any``. Properties
    whose names are not valid port names are left out (validation of the tool's schema reports them)."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return ()
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    found = []
    for name, spec in properties.items():
        json_type = spec.get("type") if isinstance(spec, dict) else None
        port_type = _JSON_SCHEMA_TYPES.get(json_type, "any") if isinstance(json_type, str) else "any"
        try:
            found.append(Port(name=name, type=port_type, required=name in (required or [])))
        except ValidationError:
            continue
    return tuple(found)


def compatible(source: PortType, target: PortType) -> bool:
    """Whether a value of type ``source`` may feed an input of type ``target``.

    Control ports connect only to control ports. ``any`` on either side matches every data type (the runner
    checks the value). Otherwise types must be equal: no implicit conversion, so ``number`` → ``string`` is a
    mismatch (an ``llm`` or a ``tool`` that formats the number in between is the explicit way)."""
    if source == "control" or target == "control":
        return source == target
    return source == "any" or target == "any" or source == target
