"""The compiler: golden ASL per node kind, determinism, state names, and what a compiled flow does when run by the
small interpreter in ``asl_sim`` (which nodes run, what they receive, nulls after a condition's merge point).

Golden files are ``tests/unit/flows/golden/<case>.asl.json``. After an intended change to the compiler, rewrite them
and review the diff:

    CREWHOUSE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/flows/test_compiler.py -q
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crewhouse.flows.compiler import compile_flow, dumps, node_of_state, state_name
from crewhouse.flows.contract import NodeTask, RunContext, execution_input
from crewhouse.flows.graph import FlowGraph, Node, data_ports
from crewhouse.flows.validation import InvalidFlow
from tests.unit.flows import asl_sim
from tests.unit.flows.builders import (
    CREW_MACHINE_ARN,
    RUNNER_ARN,
    edge,
    end,
    flow,
    generated_flow,
    item_body,
    llm,
    node,
    start,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CREWHOUSE_UPDATE_GOLDEN") == "1"


def _simple(middle: dict[str, Any], in_port: str, out_port: str, out_type: str = "string") -> FlowGraph:
    return flow([start(("topic", "string")), middle, end(("result", out_type))],
                [edge("start", "topic", middle["id"], in_port), edge(middle["id"], out_port, "end", "result")])


def _merge_flow() -> FlowGraph:
    """check: big -> a; small -> b; default -> nothing. after reads a.text and b.text; end.text merges a and b."""
    return flow(
        [start(("topic", "string"), ("n", "number")),
         node("check", "condition", branches=[
             {"name": "big", "when": {"port": "n", "operator": "greater_than", "value": 3}},
             {"name": "small", "when": {"port": "n", "operator": "less_than_or_equal", "value": 3}}],
              default="other"),
         llm("a", "Long answer"), llm("b", "Short answer"), node("after", "tool", tool_id="t", input_schema={
             "type": "object", "properties": {"from_a": {"type": "string"}, "from_b": {"type": "string"}}}),
         end(("text", "string"), ("summary", "any"))],
        [edge("start", "n", "check", "n"), edge("start", "topic", "a", "context"),
         edge("start", "topic", "b", "context"),
         edge("check", "flow", "a", "flow", branch="big"), edge("check", "flow", "b", "flow", branch="small"),
         edge("check", "flow", "after", "flow", branch="other"),
         edge("a", "text", "after", "from_a"), edge("b", "text", "after", "from_b"),
         edge("a", "text", "end", "text"), edge("b", "text", "end", "text"), edge("after", "result", "end", "summary")])


def _parallel_flow() -> FlowGraph:
    return flow(
        [start(("topic", "string")), node("fan", "parallel"), llm("research"),
         node("outline", "agent", agent_id="planner"), llm("polish"), node("fan_in", "join"), llm("combine"),
         end(("text", "string"))],
        [edge("start", "flow", "fan", "flow"), edge("fan", "flow", "research", "flow"),
         edge("fan", "flow", "outline", "flow"), edge("start", "topic", "outline", "task"),
         edge("outline", "text", "polish", "context"), edge("research", "flow", "fan_in", "flow"),
         edge("polish", "flow", "fan_in", "flow"), edge("fan_in", "flow", "combine", "flow"),
         edge("research", "text", "combine", "context"), edge("combine", "text", "end", "text")])


def _map_flow(**config: Any) -> FlowGraph:
    return flow([start(("topics", "array")), node("each", "map", body=item_body(), **config), end(("all", "array"))],
                [edge("start", "topics", "each", "items"), edge("each", "results", "end", "all")])


CASES: dict[str, tuple[Callable[[], FlowGraph], dict[str, Any]]] = {
    "start_end": (lambda: flow([start(("topic", "string")), end(("topic", "string"))],
                               [edge("start", "topic", "end", "topic")]), {}),
    "llm": (lambda: _simple(node("draft", "llm", prompt="Write about the topic", model="claude", temperature=0.2),
                            "context", "text"), {}),
    "agent": (lambda: _simple(node("writer", "agent", agent_id="agent-1", timeout_seconds=300,
                                   retry={"max_attempts": 4, "interval_seconds": 5, "backoff_rate": 1.5}),
                              "task", "text"), {}),
    "crew": (lambda: _simple(node("team", "crew", crew_id="crew-1"), "context", "text"), {}),
    "crew_child_execution": (lambda: _simple(node("team", "crew", crew_id="crew-1"), "context", "text"),
                             {"crew_state_machine_arn": CREW_MACHINE_ARN}),
    "tool": (lambda: _simple(node("search", "tool", tool_id="web", defaults={"limit": 5}, input_schema={
        "type": "object", "required": ["query"],
        "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}}},
        output_schema={"type": "object", "properties": {"hits": {"type": "array"}}}), "query", "hits", "array"), {}),
    "tool_without_schema": (lambda: flow(
        [start(("payload", "object")), node("echo", "tool", tool_id="echo"), end(("result", "any"))],
        [edge("start", "payload", "echo", "input"), edge("echo", "result", "end", "result")]), {}),
    "condition": (_merge_flow, {}),
    "parallel": (_parallel_flow, {}),
    "map_inline": (lambda: _map_flow(max_concurrency=4), {}),
    "map_distributed": (lambda: _map_flow(mode="auto", max_items=10_000), {}),
    "human_approval": (lambda: flow(
        [start(("draft", "string")), node("review", "human_approval", prompt="Publish this?", timeout_seconds=3600),
         end(("approved", "boolean"), ("comment", "string"))],
        [edge("start", "draft", "review", "details"), edge("review", "approved", "end", "approved"),
         edge("review", "comment", "end", "comment")]), {}),
    "long_ids": (lambda: _simple(llm("n" * 100), "context", "text"), {}),
}


def _compile(graph: FlowGraph, **options: Any) -> dict[str, Any]:
    return compile_flow(graph, node_runner_arn=RUNNER_ARN, **options)


def golden_paths() -> list[Path]:
    return sorted(GOLDEN.glob("*.asl.json"))


def _states(machine: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state of a definition, nested ones included."""
    found = {}
    for name, state in machine["States"].items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(_states(branch))
        if "ItemProcessor" in state:
            found.update(_states(state["ItemProcessor"]))
    return found


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str) -> None:
    build, options = CASES[case]
    written = dumps(_compile(build(), **options)) + "\n"
    path = GOLDEN / f"{case}.asl.json"
    if UPDATE:
        path.write_text(written)
    assert path.read_text() == written, f"{case}: compiled ASL changed (see the module docstring to update)"


def test_no_golden_file_is_left_over() -> None:
    assert sorted(p.name for p in golden_paths()) == sorted(f"{case}.asl.json" for case in CASES)


def test_runnable_nodes_are_tasks_on_the_node_runner_with_retry_and_no_catch() -> None:
    definition = _compile(CASES["agent"][0]())
    task = definition["States"]["writer"]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke"
    assert task["Parameters"]["FunctionName"] == RUNNER_ARN
    assert task["Parameters"]["Payload"]["node"] == {"id": "writer", "kind": "agent", "config": {
        "agent_id": "agent-1", "timeout_seconds": 300,
        "retry": {"max_attempts": 4, "interval_seconds": 5, "backoff_rate": 1.5}}}
    assert task["Parameters"]["Payload"]["inputs"] == {"task.$": "$.input.topic"}
    assert task["Retry"][1] == {"ErrorEquals": ["Flow.Retryable"], "IntervalSeconds": 5, "MaxAttempts": 4,
                                "BackoffRate": 1.5}
    assert "Lambda.TooManyRequestsException" in task["Retry"][0]["ErrorEquals"]
    assert task["TimeoutSeconds"] == 300
    # A failure fails the execution at the node's own state, where RedriveExecution restarts it.
    assert "Catch" not in task


def test_no_state_catches_a_failure_and_no_fail_states_are_compiled() -> None:
    for name, (build, options) in CASES.items():
        every = _states(_compile(build(), **options))
        assert not [state for state in every if "Catch" in every[state]], name
        assert not [state for state in every if every[state]["Type"] == "Fail"], name


def test_the_same_graph_compiles_byte_for_byte_the_same_whatever_its_order() -> None:
    graph = generated_flow(50)
    expected = dumps(_compile(graph))
    shuffler = random.Random(7)
    for _ in range(5):
        document = graph.model_dump(exclude_none=True)
        shuffler.shuffle(document["nodes"])
        shuffler.shuffle(document["edges"])
        document["nodes"] = [{**n, "config": dict(reversed(list(n["config"].items())))} for n in document["nodes"]]
        assert dumps(_compile(FlowGraph.model_validate(document))) == expected


def test_an_invalid_graph_is_refused_with_every_problem() -> None:
    graph = flow([start(), llm("lonely")], [])
    with pytest.raises(InvalidFlow) as refused:
        _compile(graph)
    assert sorted(p.code for p in refused.value.problems) == ["no_end", "unreachable_node"]


def test_state_names_are_node_ids_fitted_to_80_characters_and_map_back() -> None:
    assert state_name("draft") == "draft"
    assert state_name("sum", ("each",)) == "each@sum"
    long = state_name("n" * 100)
    assert len(long) == 80 and long.startswith("n" * 69 + ".") and long == state_name("n" * 100)
    assert state_name("n" * 100) != state_name("n" * 99 + "m")
    definition = _compile(_map_flow())
    every = _states(definition)
    assert {"start", "each", "end", "each@start", "each@summarise", "each@end"} <= set(every)
    assert all(len(name) <= 80 for name in every)
    graph = _map_flow()
    assert node_of_state(graph, "each@summarise") == (("each",), "summarise")
    assert node_of_state(graph, "each@summarise.failed") is None
    assert node_of_state(graph, "each") == ((), "each")
    assert node_of_state(graph, "nobody") is None
    assert node_of_state(CASES["long_ids"][0](), long) == ((), "n" * 100)


def test_map_mode_follows_the_threshold() -> None:
    def mode(**config: Any) -> str:
        options = {k: config.pop(k) for k in list(config) if k == "distributed_map_threshold"}
        state = _compile(_map_flow(**config), **options)["States"]["each"]
        return str(state["ItemProcessor"]["ProcessorConfig"]["Mode"])

    assert mode() == "INLINE"  # auto without a size: inline
    assert mode(max_items=200) == "INLINE"
    assert mode(max_items=201) == "DISTRIBUTED"
    assert mode(max_items=50, distributed_map_threshold=10) == "DISTRIBUTED"
    assert mode(mode="distributed") == "DISTRIBUTED"
    assert mode(mode="inline", max_items=10_000) == "INLINE"


def test_a_crew_runs_on_the_node_runner_unless_a_crew_state_machine_is_given() -> None:
    graph = CASES["crew"][0]()
    assert _compile(graph)["States"]["team"]["Resource"] == "arn:aws:states:::lambda:invoke"
    child = _compile(graph, crew_state_machine_arn=CREW_MACHINE_ARN)["States"]["team"]
    assert child["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    assert child["Parameters"]["StateMachineArn"] == CREW_MACHINE_ARN
    assert child["ResultSelector"]["text.$"] == "$.Output.text"


# --- what compiled flows do ------------------------------------------------------------------------------------

CONTEXT = {"tenant_id": "t1", "flow_id": "f1", "flow_version": 3, "run_id": "r1"}


class Runner:
    """A node runner that records each node's inputs and answers every declared output port: ``text`` is
    ``"<node>: <its context input>"``, ``result`` ``"<node> done"``, arrays two items, anything else null."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, Any]] = {}

    def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        task = NodeTask.model_validate(payload)
        assert task.context.model_dump() == CONTEXT
        self.seen[task.node.id] = task.inputs
        if task.node.kind == "human_approval":
            assert task.task_token == "token-1"
        else:
            assert task.task_token is None
        answers = {"text": f"{task.node.id}: {task.inputs.get('context')}", "result": f"{task.node.id} done",
                   "approved": True}
        node = Node(id=task.node.id, kind=task.node.kind, config=task.node.config)
        return {port.name: answers.get(port.name, [1, 2] if port.type == "array" else None)
                for port in data_ports(node)[1]}


def _run(graph: FlowGraph, values: dict[str, Any]) -> tuple[dict[str, Any], Runner]:
    runner = Runner()
    return asl_sim.run(_compile(graph), {"context": CONTEXT, "input": values}, runner), runner


def test_a_node_after_a_merge_point_reads_null_for_a_branch_that_did_not_run() -> None:
    output, runner = _run(_merge_flow(), {"topic": "tides", "n": 5})
    assert sorted(runner.seen) == ["a", "after"]  # b is on the branch not taken
    assert runner.seen["a"] == {"prompt": "Long answer", "context": "tides"}
    assert runner.seen["after"] == {"from_a": "a: tides", "from_b": None}
    assert output == {"end": "end", "output": {"text": "a: tides", "summary": "after done"}}
    output, runner = _run(_merge_flow(), {"topic": "tides", "n": 1})
    assert runner.seen["after"] == {"from_a": None, "from_b": "b: tides"}
    assert output["output"]["text"] == "b: tides"


def test_the_default_branch_skips_to_the_merge_point_with_nulls() -> None:
    output, runner = _run(_merge_flow(), {"topic": "tides", "n": "not a number"})
    assert sorted(runner.seen) == ["after"]
    assert runner.seen["after"] == {"from_a": None, "from_b": None}
    assert output["output"] == {"text": None, "summary": "after done"}


def test_parallel_branch_outputs_are_merged_back_for_later_nodes() -> None:
    output, runner = _run(_parallel_flow(), {"topic": "tides"})
    assert sorted(runner.seen) == ["combine", "outline", "polish", "research"]
    assert runner.seen["outline"] == {"task": "tides"}
    assert runner.seen["polish"] == {"prompt": "Say something", "context": "outline: None"}
    assert runner.seen["combine"] == {"prompt": "Say something", "context": "research: None"}
    assert output["output"] == {"text": "combine: research: None"}


def test_a_map_runs_its_body_per_item_and_collects_the_results() -> None:
    output, _ = _run(_map_flow(), {"topics": ["sun", "moon"]})
    assert output["output"] == {"all": [{"summary": "summarise: sun"}, {"summary": "summarise: moon"}]}


def test_optional_flow_inputs_left_out_read_as_null() -> None:
    graph = flow([node("start", "start", inputs=[{"name": "topic", "type": "string", "required": True},
                                                 {"name": "tone", "type": "string"}]), llm("draft"), end()],
                 [edge("start", "tone", "draft", "context"), edge("draft", "flow", "end", "flow")])
    execution = execution_input(graph, RunContext.model_validate(CONTEXT), {"topic": "tides"})
    assert execution.input == {"topic": "tides", "tone": None}
    runner = Runner()
    asl_sim.run(_compile(graph), execution.model_dump(), runner)
    assert runner.seen["draft"] == {"prompt": "Say something", "context": None}
    with pytest.raises(asl_sim.MissingPath):  # without it, the path is missing (States.Runtime in AWS)
        asl_sim.run(_compile(graph), {"context": CONTEXT, "input": {"topic": "tides"}}, runner)


def test_a_failing_node_fails_the_execution_at_its_own_state() -> None:
    graph = CASES["agent"][0]()

    def broken(payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("model unavailable")

    with pytest.raises(asl_sim.Failed) as failed:
        asl_sim.run(_compile(graph), {"context": CONTEXT, "input": {"topic": "x"}}, broken)
    assert failed.value.state == "writer"


def test_the_generated_flow_runs_end_to_end() -> None:
    output, runner = _run(generated_flow(50), {"topic": "tides"})
    assert output["end"] == "end"
    assert output["output"]["results"] == [{"summary": "summarise: 1"}, {"summary": "summarise: 2"}]
    assert not any(name.startswith("long") for name in runner.seen)  # branch0_0's text lacks "long": default
    arm = [name for name in runner.seen if name.startswith("short")]
    assert arm and runner.seen["collect"] == {"text": f"{arm[-1]}: None"}  # the merge point reads the arm run
    # Every node ran but start, end, parallel, join, condition and map (no runner) and the other arm (as long as
    # this one); the map's body adds its one node.
    assert len(runner.seen) == 50 - 6 - len(arm) + 1


# --- properties --------------------------------------------------------------------------------------------------


@st.composite
def random_dags(draw: st.DrawFn) -> FlowGraph:
    """A start, up to 25 llm nodes each depending on some earlier nodes, and an end after everything."""
    count = draw(st.integers(min_value=1, max_value=25))
    nodes = [start(("topic", "string")), end(("text", "string"))]
    edges = []
    names = ["start"]
    for i in range(count):
        name = f"n{i}"
        nodes.append(llm(name))
        parents = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
        for parent in parents:
            edges.append(edge(parent, "topic" if parent == "start" else "text", name, "context")
                         if parent == parents[0] else edge(parent, "flow", name, "flow"))
        names.append(name)
    for name in names[1:]:
        edges.append(edge(name, "flow", "end", "flow"))
    edges.append(edge(names[-1], "text", "end", "text") if count else edge("start", "topic", "end", "text"))
    return flow(nodes, edges)


@settings(max_examples=60, deadline=None)
@given(random_dags())
def test_random_dags_compile_and_every_next_names_an_existing_state(graph: FlowGraph) -> None:
    definition = _compile(graph)
    states = _states(definition)
    for state in states.values():
        for target in [state.get("Next"), state.get("Default"), *(c["Next"] for c in state.get("Catch", [])),
                       *(c["Next"] for c in state.get("Choices", []))]:
            assert target is None or target in states
    _, runner = _run(graph, {"topic": "x"})
    assert len(runner.seen) == len(graph.nodes) - 2  # every llm ran once
    assert json.loads(dumps(definition)) == definition
