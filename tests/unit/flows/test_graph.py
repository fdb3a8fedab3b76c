"""Ports by kind and config, and the type rule between connected ports."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crewhouse.flows.graph import (
    CONTROL_PORT,
    Comparison,
    ConditionConfig,
    Node,
    Port,
    compatible,
    node_config,
    ports,
)
from tests.unit.flows.builders import edge, flow, item_body, node


def _names(found: tuple[Port, ...]) -> dict[str, tuple[str, bool]]:
    return {port.name: (port.type, port.required) for port in found}


def _ports(kind: str, **config: object) -> tuple[dict[str, tuple[str, bool]], dict[str, tuple[str, bool]]]:
    inputs, outputs = ports(Node.model_validate(node("n", kind, **config)))
    return _names(inputs), _names(outputs)


def test_fixed_ports_by_kind() -> None:
    assert _ports("llm") == (
        {"prompt": ("string", True), "context": ("any", False), CONTROL_PORT: ("control", False)},
        {"text": ("string", False), "usage": ("object", False), CONTROL_PORT: ("control", False)})
    assert _ports("human_approval", prompt="ok?")[1] == {
        "approved": ("boolean", False), "comment": ("string", False), CONTROL_PORT: ("control", False)}
    assert _ports("map", body=item_body()) == (
        {"items": ("array", True), CONTROL_PORT: ("control", False)},
        {"results": ("array", False), CONTROL_PORT: ("control", False)})
    assert _ports("parallel") == ({CONTROL_PORT: ("control", False)}, {CONTROL_PORT: ("control", False)})


def test_start_outputs_are_the_flows_inputs_and_end_inputs_its_outputs() -> None:
    inputs, outputs = _ports("start", inputs=[{"name": "topic", "type": "string", "required": True},
                                              {"name": "limit", "type": "number"}])
    assert inputs == {}
    assert outputs == {"topic": ("string", True), "limit": ("number", False), CONTROL_PORT: ("control", False)}
    inputs, outputs = _ports("end", outputs=[{"name": "report", "type": "string", "required": True}])
    assert inputs == {"report": ("string", True), CONTROL_PORT: ("control", False)}
    assert outputs == {}


def test_tool_ports_come_from_its_json_schemas() -> None:
    inputs, outputs = _ports("tool", tool_id="search", input_schema={
        "type": "object", "required": ["query"],
        "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}, "filters": {},
                       "either": {"type": ["string", "null"]}, "not a port": {"type": "string"}}},
        output_schema={"type": "object", "properties": {"hits": {"type": "array"}, "ok": {"type": "boolean"}}})
    assert inputs == {"query": ("string", True), "limit": ("number", False), "filters": ("any", False),
                      "either": ("any", False), CONTROL_PORT: ("control", False)}
    assert outputs == {"hits": ("array", False), "ok": ("boolean", False), CONTROL_PORT: ("control", False)}


def test_a_tool_without_schemas_takes_its_whole_input_and_gives_its_whole_result() -> None:
    assert _ports("tool", tool_id="x") == (
        {"input": ("object", False), CONTROL_PORT: ("control", False)},
        {"result": ("any", False), CONTROL_PORT: ("control", False)})


def test_condition_inputs_are_the_ports_its_branches_compare() -> None:
    inputs, outputs = _ports("condition", branches=[
        {"name": "big", "when": {"port": "size", "operator": "greater_than", "value": 10}},
        {"name": "tiny", "when": {"port": "size", "operator": "less_than", "value": 2}},
        {"name": "yes", "when": {"port": "approved", "operator": "is_true"}}])
    assert inputs == {"size": ("any", True), "approved": ("any", True), CONTROL_PORT: ("control", False)}
    assert outputs == {CONTROL_PORT: ("control", False)}


def test_a_bad_config_gives_no_config_ports() -> None:
    assert _ports("tool", tool_id="x", input_schema="not a schema") == (
        {CONTROL_PORT: ("control", False)}, {CONTROL_PORT: ("control", False)})


@pytest.mark.parametrize(("source", "target", "expected"), [
    ("string", "string", True), ("number", "string", False), ("string", "number", False),
    ("any", "number", True), ("object", "any", True), ("array", "object", False), ("boolean", "string", False),
    ("control", "control", True), ("control", "any", False), ("any", "control", False),
])
def test_type_rule(source: str, target: str, expected: bool) -> None:
    assert compatible(source, target, ) is expected  # type: ignore[arg-type]


def test_comparison_values_must_fit_their_operator() -> None:
    Comparison(port="n", operator="greater_than", value=3)
    for bad in ({"operator": "greater_than", "value": True}, {"operator": "contains", "value": 3},
                {"operator": "is_true", "value": 1}):
        with pytest.raises(ValidationError):
            Comparison.model_validate({"port": "n", **bad})
    with pytest.raises(ValidationError, match="unique"):
        ConditionConfig.model_validate({"branches": [{"name": "default", "when": {"port": "n",
                                                                                  "operator": "is_true"}}]})


def test_configs_refuse_unknown_keys_and_graphs_refuse_bad_ids() -> None:
    with pytest.raises(ValidationError):
        node_config(Node.model_validate(node("a", "agent", agent_id="x", temperature=2)))
    with pytest.raises(ValidationError):
        flow([node("has space", "start")], [])
    with pytest.raises(ValidationError):
        flow([node("a", "teleport")], [])


def test_an_edge_without_an_id_is_named_by_its_ends() -> None:
    graph = flow([], [edge("a", "text", "b", "prompt"), edge("a", "text", "b", "prompt", id="mine")])
    assert [e.key for e in graph.edges] == ["a.text->b.prompt", "mine"]
