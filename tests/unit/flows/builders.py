"""Small builders for flow graphs in tests and the compiler benchmark."""

from __future__ import annotations

from typing import Any

from crewhouse.flows.graph import FlowGraph

RUNNER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:crewhouse-flow-node-runner"
CREW_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:crewhouse-crew-run"


def node(node_id: str, kind: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "kind": kind, "config": config}


def edge(source: str, source_port: str, target: str, target_port: str, branch: str | None = None,
         **extra: Any) -> dict[str, Any]:
    found = {"source": source, "source_port": source_port, "target": target, "target_port": target_port, **extra}
    if branch is not None:
        found["branch"] = branch
    return found


def flow(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> FlowGraph:
    return FlowGraph.model_validate({"nodes": nodes, "edges": edges})


def start(*inputs: tuple[str, str], node_id: str = "start") -> dict[str, Any]:
    return node(node_id, "start", inputs=[{"name": name, "type": kind, "required": True} for name, kind in inputs])


def end(*outputs: tuple[str, str], node_id: str = "end") -> dict[str, Any]:
    return node(node_id, "end", outputs=[{"name": name, "type": kind} for name, kind in outputs])


def llm(node_id: str, prompt: str = "Say something") -> dict[str, Any]:
    return node(node_id, "llm", prompt=prompt)


def item_body() -> dict[str, Any]:
    """A map body: summarise the item."""
    return {"nodes": [start(("item", "string")), llm("summarise", "Summarise the item"), end(("summary", "string"))],
            "edges": [edge("start", "item", "summarise", "context"), edge("summarise", "text", "end", "summary")]}


def generated_flow(size: int = 50) -> FlowGraph:
    """A flow of exactly ``size`` nodes (at least 20): a chain of llm nodes, a parallel block of three chains, a
    condition whose two branches merge into a tool, a map over the tool's result, then a chain to the end."""
    if size < 20:
        raise ValueError("a generated flow has at least 20 nodes")
    nodes = [start(("topic", "string")), end(("text", "string"), ("results", "array"))]
    edges = []
    previous = "start"

    def then(node_id: str) -> None:
        nonlocal previous
        edges.append(edge(previous, "flow", node_id, "flow"))
        previous = node_id

    fixed = 2 + 2 + 1 + 1 + 1  # start, end; parallel, join; condition; tool; map
    spare = size - fixed
    lead, branch_length, arm_length = spare // 4, spare // 8, spare // 8
    tail = spare - lead - 3 * branch_length - 2 * arm_length
    for i in range(lead):
        nodes.append(llm(f"lead{i}"))
        edges.append(edge("start", "topic", f"lead{i}", "context"))
        then(f"lead{i}")
    nodes += [node("fan", "parallel"), node("fan_in", "join")]
    then("fan")
    for b in range(3):
        last = "fan"
        for i in range(branch_length):
            nodes.append(llm(f"branch{b}_{i}"))
            edges.append(edge(last, "flow", f"branch{b}_{i}", "flow"))
            last = f"branch{b}_{i}"
        edges.append(edge(last, "flow", "fan_in", "flow"))
    previous = "fan_in"
    nodes.append(node("route", "condition", branches=[
        {"name": "long", "when": {"port": "text", "operator": "contains", "value": "long"}}]))
    edges.append(edge("branch0_0", "text", "route", "text"))
    then("route")
    nodes.append(node("collect", "tool", tool_id="collect",
                      input_schema={"type": "object", "properties": {"text": {"type": "string"}}},
                      output_schema={"type": "object", "properties": {"items": {"type": "array"}}}))
    for arm, branch in (("long", "long"), ("short", "default")):
        last = "route"
        for i in range(arm_length):
            nodes.append(node(f"{arm}{i}", "agent", agent_id=f"agent-{arm}"))
            edges.append(edge("start", "topic", f"{arm}{i}", "task"))
            edges.append(edge(last, "flow", f"{arm}{i}", "flow", branch=branch if last == "route" else None))
            last = f"{arm}{i}"
        edges.append(edge(last, "text", "collect", "text"))
    previous = "collect"
    nodes.append(node("each", "map", body=item_body(), max_concurrency=5))
    edges.append(edge("collect", "items", "each", "items"))
    previous = "each"
    for i in range(tail):
        nodes.append(llm(f"tail{i}"))
        then(f"tail{i}")
    edges.append(edge(previous, "text", "end", "text") if tail else edge(previous, "flow", "end", "flow"))
    edges.append(edge("each", "results", "end", "results"))
    if tail:
        edges.append(edge(previous, "flow", "end", "flow"))
    assert len(nodes) == size, len(nodes)
    return flow(nodes, edges)
