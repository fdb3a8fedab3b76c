"""Flow graphs for the flows API's tests and benchmark (the pure core's own builders are in tests/unit/flows)."""

from __future__ import annotations

from typing import Any


def node(node_id: str, kind: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "kind": kind, "config": config}


def edge(source: str, source_port: str, target: str, target_port: str, branch: str | None = None) -> dict[str, Any]:
    found = {"source": source, "source_port": source_port, "target": target, "target_port": target_port}
    return {**found, "branch": branch} if branch else found


def start(*inputs: tuple[str, str, bool]) -> dict[str, Any]:
    return node("start", "start", inputs=[{"name": n, "type": t, "required": r} for n, t, r in inputs])


def end(node_id: str, *outputs: tuple[str, str]) -> dict[str, Any]:
    return node(node_id, "end", outputs=[{"name": n, "type": t} for n, t in outputs])


def simple_flow(prompt: str = "Write about {topic}") -> dict[str, Any]:
    """start(topic) -> draft (llm) -> end(text)."""
    return {"nodes": [start(("topic", "string", True), ("words", "number", False)),
                      node("draft", "llm", prompt=prompt), end("end", ("text", "string"))],
            "edges": [edge("start", "topic", "draft", "context"), edge("draft", "text", "end", "text")]}


def item_body() -> dict[str, Any]:
    return {"nodes": [start(("item", "string", True)), node("summarise", "llm", prompt="Summarise {item}"),
                      end("end", ("summary", "string"))],
            "edges": [edge("start", "item", "summarise", "context"), edge("summarise", "text", "end", "summary")]}


def ten_node_flow() -> dict[str, Any]:
    """Ten nodes: start, draft, a parallel block of two llm branches, a map over the input's items, polish, end."""
    nodes = [start(("topic", "string", True), ("items", "array", True)),
             node("draft", "llm", prompt="Outline {topic}"),
             node("fan", "parallel"), node("left", "llm", prompt="Argue for"),
             node("right", "llm", prompt="Argue against"),
             node("fan_in", "join"), node("each", "map", body=item_body(), max_concurrency=4),
             node("polish", "llm", prompt="Polish the draft"), node("verdict", "llm", prompt="Decide"),
             end("end", ("text", "string"), ("results", "array"))]
    edges = [edge("start", "topic", "draft", "context"), edge("draft", "flow", "fan", "flow"),
             edge("fan", "flow", "left", "flow"), edge("fan", "flow", "right", "flow"),
             edge("left", "flow", "fan_in", "flow"), edge("right", "flow", "fan_in", "flow"),
             edge("fan_in", "flow", "each", "flow"), edge("start", "items", "each", "items"),
             edge("each", "flow", "polish", "flow"), edge("draft", "text", "polish", "context"),
             edge("polish", "text", "verdict", "context"), edge("verdict", "text", "end", "text"),
             edge("each", "results", "end", "results")]
    return {"nodes": nodes, "edges": edges}


def approval_flow() -> dict[str, Any]:
    """llm, parallel/join, map, a human approval, then a condition on its answer: ``done`` or ``rejected``."""
    graph = ten_node_flow()
    nodes = [n for n in graph["nodes"] if n["id"] not in ("end", "verdict")]
    edges = [e for e in graph["edges"] if "end" not in (e["target"],) and "verdict" not in (e["source"], e["target"])]
    nodes += [node("review", "human_approval", prompt="Publish {text}?", timeout_seconds=600),
              node("route", "condition",
                   branches=[{"name": "yes", "when": {"port": "approved", "operator": "is_true"}}]),
              node("publish", "llm", prompt="Announce it"),
              end("done", ("text", "string"), ("results", "array")), end("rejected", ("comment", "string"))]
    edges += [edge("polish", "flow", "review", "flow"), edge("polish", "text", "review", "details"),
              edge("review", "approved", "route", "approved"),
              edge("route", "flow", "publish", "flow", branch="yes"),
              edge("route", "flow", "rejected", "flow", branch="default"),
              edge("publish", "text", "done", "text"), edge("each", "results", "done", "results"),
              edge("review", "comment", "rejected", "comment")]
    return {"nodes": nodes, "edges": edges}


def failing_flow() -> dict[str, Any]:
    """start -> draft (llm) -> lookup (a tool nobody registered: the node fails) -> end."""
    return {"nodes": [start(("topic", "string", True)), node("draft", "llm", prompt="Draft {topic}"),
                      node("lookup", "tool", tool_id="no-such-tool", retry={"max_attempts": 0}),
                      end("end", ("result", "any"))],
            "edges": [edge("start", "topic", "draft", "context"), edge("draft", "flow", "lookup", "flow"),
                      edge("lookup", "result", "end", "result")]}


def agents_flow(planner_id: str, crew_id: str) -> dict[str, Any]:
    """start(request) -> plan (a hosted agent with builtin:create_task) -> lookup (the builtin get_tasks tool) ->
    desk (a crew, given the plan as context) -> end(plan, tasks, report)."""
    return {"nodes": [start(("request", "string", True)), node("plan", "agent", agent_id=planner_id),
                      node("lookup", "tool", tool_id="builtin:get_tasks", defaults={"input": {"status": ["todo"]}}),
                      node("desk", "crew", crew_id=crew_id),
                      end("end", ("plan", "string"), ("tasks", "any"), ("report", "string"))],
            "edges": [edge("start", "request", "plan", "task"), edge("plan", "flow", "lookup", "flow"),
                      edge("lookup", "flow", "desk", "flow"), edge("plan", "text", "desk", "context"),
                      edge("plan", "text", "end", "plan"), edge("lookup", "result", "end", "tasks"),
                      edge("desk", "text", "end", "report")]}
