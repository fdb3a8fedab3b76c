"""Validation: a graph per problem code that has exactly that problem, several problems reported at once, cycle paths
and problems inside a map body."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crewhouse.flows.graph import FlowGraph
from crewhouse.flows.validation import PROBLEM_CODES, FlowProblem, validate
from tests.unit.flows.builders import edge, end, flow, item_body, llm, node, start

Edges = list[dict[str, Any]]


def _base(extra_nodes: list[dict[str, Any]] = (), extra_edges: Edges = ()) -> FlowGraph:  # type: ignore[assignment]
    """start(topic) -> draft (llm) -> end(text): valid."""
    return flow([start(("topic", "string")), llm("draft"), end(("text", "string")), *extra_nodes],
                [edge("start", "topic", "draft", "context"), edge("draft", "text", "end", "text"), *extra_edges])


def _condition(extra_edges: Edges = (), default_end: bool = True) -> FlowGraph:  # type: ignore[assignment]
    """start(n) -> check: big -> a -> end_big; default -> b [-> end_default]."""
    nodes = [start(("n", "number")),
             node("check", "condition", branches=[{"name": "big", "when": {"port": "n", "operator": "greater_than",
                                                                          "value": 3}}]),
             llm("a"), llm("b"), end(("text", "string"), node_id="end_big")]
    edges = [edge("start", "n", "check", "n"), edge("check", "flow", "a", "flow", branch="big"),
             edge("check", "flow", "b", "flow", branch="default"), edge("a", "text", "end_big", "text"), *extra_edges]
    if default_end:
        nodes.append(end(("text", "string"), node_id="end_default"))
        edges.append(edge("b", "text", "end_default", "text"))
    return flow(nodes, edges)


def _parallel(branches: Edges, extra_nodes: list[dict[str, Any]] = ()) -> FlowGraph:  # type: ignore[assignment]
    nodes = [start(), node("fan", "parallel"), llm("p1"), llm("p2"), node("fan_in", "join"), end(), *extra_nodes]
    return flow(nodes, [edge("start", "flow", "fan", "flow"), *branches, edge("fan_in", "flow", "end", "flow")])


GRAPHS: dict[str, Callable[[], FlowGraph]] = {
    "invalid_config": lambda: flow(
        [start(("topic", "string")), node("a", "agent", temprature=1), end(("text", "string"))],
        [edge("start", "topic", "a", "task"), edge("a", "text", "end", "text")]),
    "invalid_default": lambda: flow(
        [start(("topic", "string")), node("draft", "llm", prompt="x", defaults={"nope": 1}), end()],
        [edge("start", "topic", "draft", "context"), edge("draft", "flow", "end", "flow")]),
    "no_start": lambda: flow([llm("draft"), end(("text", "string"))], [edge("draft", "text", "end", "text")]),
    "multiple_starts": lambda: _base([start(node_id="start2")]),
    "no_end": lambda: flow([start(("topic", "string")), llm("draft")], [edge("start", "topic", "draft", "context")]),
    "duplicate_node_id": lambda: _base([llm("draft", "another")]),
    "duplicate_edge_id": lambda: flow(
        [start(("topic", "string")), llm("draft"), end(("text", "string"))],
        [edge("start", "topic", "draft", "context", id="e1"), edge("draft", "text", "end", "text", id="e1")]),
    "edge_unknown_node": lambda: _base(extra_edges=[edge("ghost", "text", "end", "flow")]),
    "edge_unknown_port": lambda: _base(extra_edges=[edge("draft", "text", "end", "summary")]),
    "type_mismatch": lambda: flow(
        [start(("topic", "string")), llm("draft"), end(("count", "number"))],
        [edge("start", "topic", "draft", "context"), edge("draft", "text", "end", "count")]),
    "missing_required_input": lambda: flow(
        [start(("topic", "string")), node("a", "agent", agent_id="writer"), end(("text", "string"))],
        [edge("start", "topic", "a", "context"), edge("a", "text", "end", "text")]),
    "multiple_edges_into_port": lambda: _base(extra_edges=[edge("start", "topic", "end", "text")]),
    "condition_edge_without_branch": lambda: _condition([edge("check", "flow", "b", "flow", id="plain")]),
    "unknown_branch": lambda: _condition([edge("check", "flow", "b", "flow", branch="maybe", id="maybe")]),
    "branch_on_plain_edge": lambda: flow(
        [start(("topic", "string")), llm("draft"), end(("text", "string"))],
        [edge("start", "topic", "draft", "context", branch="yes"), edge("draft", "text", "end", "text")]),
    "cycle": lambda: flow(
        [start(("topic", "string")), llm("a"), llm("b"), end(("text", "string"))],
        [edge("start", "topic", "a", "context"), edge("a", "text", "b", "context"), edge("b", "flow", "a", "flow"),
         edge("b", "text", "end", "text")]),
    "unreachable_node": lambda: _base([llm("lonely")]),
    "parallel_without_join": lambda: flow(
        [start(), node("fan", "parallel"), llm("p1"), end()],
        [edge("start", "flow", "fan", "flow"), edge("fan", "flow", "p1", "flow"), edge("p1", "flow", "end", "flow")]),
    "join_without_parallel": lambda: flow(
        [start(), node("fan_in", "join"), end()],
        [edge("start", "flow", "fan_in", "flow"), edge("fan_in", "flow", "end", "flow")]),
    "parallel_branch_escapes": lambda: _parallel(
        [edge("fan", "flow", "p1", "flow"), edge("p1", "flow", "fan_in", "flow"), edge("fan", "flow", "p2", "flow")]),
    "parallel_branches_overlap": lambda: _parallel(
        [edge("fan", "flow", "p1", "flow"), edge("fan", "flow", "p2", "flow"), edge("p1", "flow", "both", "flow"),
         edge("p2", "text", "both", "context"), edge("both", "flow", "fan_in", "flow")], [llm("both")]),
    "unstructured_block": lambda: flow(
        [start(("ok", "boolean")),
         node("check", "condition", branches=[{"name": "yes", "when": {"port": "ok", "operator": "is_true"}}]),
         node("fan", "parallel"), llm("p1"), llm("other"), node("fan_in", "join"), end()],
        [edge("start", "ok", "check", "ok"), edge("check", "flow", "fan", "flow", branch="yes"),
         edge("fan", "flow", "p1", "flow"), edge("p1", "flow", "fan_in", "flow"),
         edge("check", "flow", "other", "flow", branch="default"), edge("other", "flow", "fan_in", "flow"),
         edge("fan_in", "flow", "end", "flow")]),
    "multiple_ends_on_path": lambda: _base([end(node_id="end2")], [edge("start", "flow", "end2", "flow")]),
    "no_end_on_path": lambda: _condition(default_end=False),
    "map_body_start_ports": lambda: flow(
        [start(("topics", "array")),
         node("each", "map", body={**item_body(), "nodes": [start(("item", "string"), ("other", "string")),
                                                             *item_body()["nodes"][1:]]}),
         end(("results", "array"))],
        [edge("start", "topics", "each", "items"), edge("each", "results", "end", "results")]),
}


def _codes(problems: list[FlowProblem]) -> list[str]:
    return sorted({problem.code for problem in problems})


def test_every_code_has_a_graph() -> None:
    assert sorted(GRAPHS) == sorted(PROBLEM_CODES)


def test_the_valid_shapes_are_valid() -> None:
    assert validate(_base()) == []
    assert validate(_condition()) == []
    assert validate(_parallel([edge("fan", "flow", "p1", "flow"), edge("fan", "flow", "p2", "flow"),
                               edge("p1", "flow", "fan_in", "flow"), edge("p2", "flow", "fan_in", "flow")])) == []


@pytest.mark.parametrize("code", sorted(GRAPHS))
def test_a_graph_with_one_problem_reports_exactly_it(code: str) -> None:
    problems = validate(GRAPHS[code]())
    assert _codes(problems) == [code], [p.message for p in problems]
    assert all(p.message for p in problems)


def test_problems_name_what_they_concern() -> None:
    missing, unknown = validate(GRAPHS["invalid_config"]())
    assert (missing.node_id, missing.path) == ("a", ["nodes", 1, "config", "agent_id"])
    assert (unknown.node_id, unknown.path) == ("a", ["nodes", 1, "config", "temprature"])
    assert "Extra inputs are not permitted" in unknown.message
    [dangling] = validate(GRAPHS["edge_unknown_node"]())
    assert (dangling.edge_id, dangling.path) == ("ghost.text->end.flow", ["edges", 2, "source"])
    [mismatch] = validate(GRAPHS["type_mismatch"]())
    assert (mismatch.node_id, mismatch.edge_id) == ("end", "draft.text->end.count")
    assert "string" in mismatch.message and "number" in mismatch.message
    [required] = validate(GRAPHS["missing_required_input"]())
    assert (required.node_id, required.path) == ("a", ["nodes", 1])
    [unreachable] = validate(GRAPHS["unreachable_node"]())
    assert unreachable.node_id == "lonely"


def test_a_cycle_reports_its_path() -> None:
    [cycle] = validate(GRAPHS["cycle"]())
    assert cycle.path == ["a", "b", "a"]
    assert cycle.message == "the flow loops: a -> b -> a"


def test_every_problem_is_reported_at_once() -> None:
    graph = flow(
        [start(("topic", "string")), node("a", "agent"), node("w", "agent", agent_id="writer"),
         llm("lonely"), llm("x"), llm("y"), end(("count", "number"))],
        [edge("start", "topic", "a", "task"), edge("a", "text", "w", "context"), edge("w", "text", "end", "count"),
         edge("ghost", "flow", "end", "flow"), edge("x", "text", "y", "context"), edge("y", "flow", "x", "flow")])
    problems = validate(graph)
    assert _codes(problems) == ["cycle", "edge_unknown_node", "invalid_config", "missing_required_input",
                                "type_mismatch"]
    assert [p.path for p in problems if p.code == "cycle"] == [["x", "y", "x"]]
    # Without the cycle, unreachable nodes are reported too.
    graph.edges.pop()
    assert "unreachable_node" in _codes(validate(graph))
    assert sorted(str(p.node_id) for p in validate(graph) if p.code == "unreachable_node") == ["lonely", "x", "y"]


def test_several_cycles_are_each_reported() -> None:
    graph = flow([start(), llm("a"), llm("b"), llm("c"), end()],
                 [edge("start", "flow", "a", "flow"), edge("a", "flow", "b", "flow"), edge("b", "flow", "a", "flow",
                                                                                          id="back"),
                  edge("b", "flow", "c", "flow"), edge("c", "flow", "c", "flow", id="self"),
                  edge("c", "flow", "end", "flow")])
    assert sorted(p.path for p in validate(graph) if p.code == "cycle") == [["a", "b", "a"], ["c", "c"]]


def test_a_merge_point_after_a_condition_may_take_several_edges_into_one_port() -> None:
    graph = flow([*_condition().model_dump()["nodes"][:4], end(("text", "string"))],
                 [edge("start", "n", "check", "n"), edge("check", "flow", "a", "flow", branch="big"),
                  edge("check", "flow", "b", "flow", branch="default"), edge("a", "text", "end", "text"),
                  edge("b", "text", "end", "text")])
    assert validate(graph) == []
    # Two edges from the same branch are not a merge.
    graph.edges.append(FlowGraph.model_validate({"edges": [edge("start", "n", "end", "text", id="x")]}).edges[0])
    assert _codes(validate(graph)) == ["multiple_edges_into_port", "type_mismatch"]


def test_map_body_problems_carry_the_path_into_the_body() -> None:
    body = {"nodes": [start(("item", "string")), llm("summarise")],
            "edges": [edge("start", "item", "summarise", "context"), edge("summarise", "text", "ghost", "text")]}
    graph = flow([start(("topics", "array")), node("each", "map", body=body), end(("results", "array"))],
                 [edge("start", "topics", "each", "items"), edge("each", "results", "end", "results")])
    problems = validate(graph)
    assert [(p.code, p.scope, p.path) for p in problems] == [
        ("no_end", ["each"], ["nodes", 1, "config", "body", "nodes"]),
        ("edge_unknown_node", ["each"], ["nodes", 1, "config", "body", "edges", 1, "target"]),
    ]


def test_keys_read_as_paths_are_refused() -> None:
    graph = flow([start(("topic", "string")), node("t", "tool", tool_id="x", defaults={"input": {"a.$": "$.b"}}),
                  end()],
                 [edge("start", "topic", "t", "flow"), edge("t", "flow", "end", "flow")])
    problems = validate(graph)
    assert [(p.code, p.path) for p in problems] == [
        ("invalid_config", ["nodes", 1, "config", "defaults", "input", "a.$"]), ("type_mismatch", ["edges", 0])]
