"""Every problem of a flow graph at once, each with a stable ``code`` and the node, edge and path it concerns.

Codes (``PROBLEM_CODES``):

- ``invalid_config``: the node's config does not fit its kind's model (one problem per pydantic error, unknown keys
  included), or uses a key ending in ``.$`` (Step Functions would read it as a path);
- ``invalid_default``: ``config.defaults`` names a port that is not a data input of the node, or the node reads its
  inputs by path only (``condition``, ``map``);
- ``no_start``, ``multiple_starts``, ``no_end``; ``duplicate_node_id``, ``duplicate_edge_id``;
- ``edge_unknown_node``, ``edge_unknown_port``: dangling edges;
- ``type_mismatch``: connected ports whose types are not ``graph.compatible`` (``any`` matches every data type,
  otherwise the types must be equal, so ``number`` → ``string`` is a mismatch; control only connects to control);
- ``missing_required_input``: a required input port that no edge and no config value feeds;
- ``multiple_edges_into_port``: more than one edge into a data input port, unless each comes from a different
  branch of one condition (a merge point: the value of the branch that ran is read);
- ``condition_edge_without_branch``, ``unknown_branch``, ``branch_on_plain_edge``;
- ``cycle`` (``path`` is the cycle's node ids, first repeated last), ``unreachable_node`` (from the start);
- ``parallel_without_join``, ``join_without_parallel``, ``parallel_branch_escapes`` (a branch that does not lead
  to the join), ``parallel_branches_overlap`` (a node on the way to the join from two branches). A node that
  reads from a branch without leading to the join runs after the block;
- ``unstructured_block``: two condition or parallel blocks that share nodes without one lying inside a single
  branch of the other (ASL has no way to express it);
- ``multiple_ends_on_path``: two ``end`` nodes that would both run; ``no_end_on_path``: a way through the flow that
  finishes without reaching an ``end`` node;
- ``map_body_start_ports``: a map body's start declares inputs other than ``item`` and ``index``.

A map's body is validated as a flow of its own; its problems carry ``scope`` (the ids of the enclosing map nodes)
and a ``path`` into the body (``["nodes", 2, "config", "body", "nodes", 0, ...]``).

The block structure the checks compute (``Structure``) is what the compiler walks, so both agree on it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from crewhouse.flows.graph import (
    CONTROL_PORT,
    ConditionConfig,
    FlowGraph,
    MapConfig,
    Node,
    NodeConfig,
    StartConfig,
    compatible,
    node_config,
    ports,
)

PROBLEM_CODES = (
    "invalid_config", "invalid_default", "no_start", "multiple_starts", "no_end", "duplicate_node_id",
    "duplicate_edge_id", "edge_unknown_node", "edge_unknown_port", "type_mismatch", "missing_required_input",
    "multiple_edges_into_port", "condition_edge_without_branch", "unknown_branch", "branch_on_plain_edge", "cycle",
    "unreachable_node", "parallel_without_join", "join_without_parallel", "parallel_branch_escapes",
    "parallel_branches_overlap", "unstructured_block", "multiple_ends_on_path", "no_end_on_path",
    "map_body_start_ports",
)
MAP_BODY_INPUTS = frozenset({"item", "index"})
# Kinds whose inputs are read by path (a Choice's Variable, a Map's ItemsPath): a constant cannot feed them.
_PATH_ONLY_KINDS = frozenset({"condition", "map"})

PathPart = str | int


class FlowProblem(BaseModel):
    code: str
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    path: list[PathPart] = Field(default_factory=list, description="Where in the graph document")
    scope: list[str] = Field(default_factory=list, description="Ids of the map nodes whose body this is in")

    def problem_error(self, prefix: str = "graph") -> dict[str, Any]:
        """As one of a problem+json's ``errors``: the path dotted (``graph.nodes.2.config``), the code as its
        type, and the node or edge it is on, so a client can put it there."""
        error: dict[str, Any] = {"path": ".".join(str(part) for part in (prefix, *self.path)),
                                 "message": self.message, "type": self.code}
        error.update(self.model_dump(include={"node_id", "edge_id", "scope"}, exclude_none=True))
        return error


class InvalidFlow(ValueError):
    """A graph with problems was given to the compiler."""

    def __init__(self, problems: Sequence[FlowProblem]) -> None:
        self.problems = list(problems)
        super().__init__(f"the flow has {len(self.problems)} problem(s): "
                         + "; ".join(f"{p.code}: {p.message}" for p in self.problems[:5]))


def validate(graph: FlowGraph) -> list[FlowProblem]:
    """Every problem of ``graph`` (empty when it compiles), in a stable order."""
    return _validate(graph, path=[], scope=[], in_map_body=False)


# --- structure: blocks and the order nodes run in ---------------------------------------------------------------


@dataclass(frozen=True)
class ConditionBlock:
    node_id: str
    branches: tuple[str, ...]  # in config order, the default last
    heads: dict[str, tuple[str, ...]]  # branch -> first nodes
    bodies: dict[str, frozenset[str]]  # branch -> nodes that run only on that branch

    @property
    def members(self) -> frozenset[str]:
        return frozenset({self.node_id}).union(*self.bodies.values())


@dataclass(frozen=True)
class ParallelBlock:
    node_id: str
    join: str
    heads: tuple[str, ...]  # one per branch, sorted
    bodies: tuple[frozenset[str], ...]

    @property
    def members(self) -> frozenset[str]:
        return frozenset({self.node_id, self.join}).union(*self.bodies)


@dataclass(frozen=True)
class MergePort:
    """An input port fed from several branches of one condition: each branch copies its source's value."""

    node_id: str
    port: str
    condition: str
    sources: dict[str, tuple[str, str]]  # branch -> (source node, source port)


@dataclass
class Structure:
    """The graph as the compiler sees it (built from known nodes and edges that connect known ports)."""

    nodes: dict[str, Node]
    configs: dict[str, NodeConfig]
    edges_in: dict[str, list[tuple[str, str, str]]]  # target -> [(target_port, source, source_port)], sorted
    successors: dict[str, list[str]]
    descendants: dict[str, frozenset[str]]
    order: list[str]  # topological, ties by id
    edge_branches: dict[tuple[str, str], frozenset[str]]  # (condition, target) -> the branches of its edges
    conditions: dict[str, ConditionBlock] = field(default_factory=dict)
    parallels: dict[str, ParallelBlock] = field(default_factory=dict)
    merge_ports: dict[tuple[str, str], MergePort] = field(default_factory=dict)

    def blocks(self) -> dict[str, frozenset[str]]:
        return {**{c: b.members for c, b in self.conditions.items()},
                **{p: b.members for p, b in self.parallels.items()}}

    def sequence(self, region: Iterable[str]) -> list[str]:
        """The order the items of ``region`` run in: plain node ids and block openers (a condition or parallel
        whose block lies in the region stands for the whole block). ``end`` nodes come last among ready items."""
        region = frozenset(region)
        blocks = {opener: members for opener, members in self.blocks().items() if opener in region}
        inner = {n for opener, members in blocks.items() for n in members if n != opener}
        top = {opener: members for opener, members in blocks.items() if opener not in inner}
        item_of = {n: n for n in region}
        for opener, members in top.items():
            for n in members & region:
                item_of[n] = opener
        items = sorted(set(item_of.values()))
        depends: dict[str, set[str]] = {item: set() for item in items}
        for target in region:
            for _, source, _ in self.edges_in.get(target, []):
                if source in region and item_of[source] != item_of[target]:
                    depends[item_of[target]].add(item_of[source])
        waiting = {item: len(sources) for item, sources in depends.items()}
        dependents: dict[str, list[str]] = {item: [] for item in items}
        for item, sources in depends.items():
            for source in sources:
                dependents[source].append(item)
        ready = [(self._is_end(item), item) for item in items if waiting[item] == 0]
        heapq.heapify(ready)
        ordered = []
        while ready:
            _, item = heapq.heappop(ready)
            ordered.append(item)
            for dependent in dependents[item]:
                waiting[dependent] -= 1
                if waiting[dependent] == 0:
                    heapq.heappush(ready, (self._is_end(dependent), dependent))
        return ordered

    def _is_end(self, node_id: str) -> bool:
        return self.nodes[node_id].kind == "end"


def analyse(graph: FlowGraph) -> Structure:
    """The structure of a graph that ``validate`` accepts (the compiler's entry; no checks)."""
    nodes, configs, _ = _parse_nodes(graph, [], [])
    good_edges = [edge for edge in _sorted_edges(graph) if _edge_ports_known(edge, nodes, configs)]
    structure = _structure(nodes, configs, good_edges)
    if structure is None:
        raise InvalidFlow([FlowProblem(code="cycle", message="the graph has a cycle")])
    _blocks(structure, [], [])
    _merge_ports(structure, [], [])
    return structure


# --- the checks ---------------------------------------------------------------------------------------------------


def _validate(graph: FlowGraph, path: list[PathPart], scope: list[str], in_map_body: bool) -> list[FlowProblem]:
    problems: list[FlowProblem] = []

    def problem(code: str, message: str, *, node_id: str | None = None, edge_id: str | None = None,
                at: Sequence[PathPart] = ()) -> None:
        problems.append(FlowProblem(code=code, message=message, node_id=node_id, edge_id=edge_id,
                                    path=[*path, *at], scope=list(scope)))

    nodes, configs, config_problems = _parse_nodes(graph, path, scope)
    problems.extend(config_problems)
    index = {node.id: i for i, node in reversed(list(enumerate(graph.nodes)))}

    seen: set[str] = set()
    for i, node in enumerate(graph.nodes):
        if node.id in seen:
            problem("duplicate_node_id", f"another node is already called {node.id!r}", node_id=node.id,
                    at=["nodes", i, "id"])
        seen.add(node.id)

    starts = [node.id for node in nodes.values() if node.kind == "start"]
    ends = [node.id for node in nodes.values() if node.kind == "end"]
    if not starts:
        problem("no_start", "the flow needs exactly one start node", at=["nodes"])
    for extra in sorted(starts)[1:]:
        problem("multiple_starts", f"the flow has {len(starts)} start nodes; it needs exactly one",
                node_id=extra, at=["nodes", index[extra]])
    if not ends:
        problem("no_end", "the flow needs at least one end node", at=["nodes"])

    for node_id, config in configs.items():
        _check_defaults(nodes[node_id], config, lambda code, message, at, n=node_id: problem(
            code, message, node_id=n, at=["nodes", index[n], "config", *at]))
    if in_map_body:
        for start in starts:
            start_config = configs.get(start)
            extra_inputs = sorted({p.name for p in start_config.inputs} - MAP_BODY_INPUTS) \
                if isinstance(start_config, StartConfig) else []
            if extra_inputs:
                problem("map_body_start_ports", f"a map body's start receives only item and index, not "
                        f"{', '.join(extra_inputs)}", node_id=start, at=["nodes", index[start], "config", "inputs"])

    # Edges: duplicates, dangling ends, branches, types.
    good_edges = []
    edge_keys: set[str] = set()
    for i, edge in enumerate(graph.edges):
        at: list[PathPart] = ["edges", i]
        if edge.key in edge_keys:
            problem("duplicate_edge_id", f"another edge is already called {edge.key!r}", edge_id=edge.key, at=at)
        edge_keys.add(edge.key)
        ok = True
        for end_name, node_id in (("source", edge.source), ("target", edge.target)):
            if node_id not in nodes:
                problem("edge_unknown_node", f"the edge's {end_name} {node_id!r} is not a node of the flow",
                        edge_id=edge.key, at=[*at, end_name])
                ok = False
        if not ok:
            continue
        source, target = nodes[edge.source], nodes[edge.target]
        outputs = {p.name: p for p in ports(source)[1]}
        inputs = {p.name: p for p in ports(target)[0]}
        source_port, target_port = outputs.get(edge.source_port), inputs.get(edge.target_port)
        if source_port is None and source.id in configs:
            problem("edge_unknown_port", f"{source.kind} node {source.id!r} has no output port "
                    f"{edge.source_port!r} (it has {', '.join(outputs) or 'none'})", edge_id=edge.key,
                    node_id=source.id, at=[*at, "source_port"])
        if target_port is None and target.id in configs:
            problem("edge_unknown_port", f"{target.kind} node {target.id!r} has no input port "
                    f"{edge.target_port!r} (it has {', '.join(inputs) or 'none'})", edge_id=edge.key,
                    node_id=target.id, at=[*at, "target_port"])
        source_config = configs.get(source.id)
        if source.kind == "condition":
            if edge.branch is None:
                problem("condition_edge_without_branch", f"an edge leaving condition {source.id!r} must name "
                        "the branch it belongs to", edge_id=edge.key, node_id=source.id, at=[*at, "branch"])
            elif isinstance(source_config, ConditionConfig) and edge.branch not in source_config.branch_names:
                problem("unknown_branch", f"condition {source.id!r} has no branch {edge.branch!r} (it has "
                        f"{', '.join(source_config.branch_names)})", edge_id=edge.key, node_id=source.id,
                        at=[*at, "branch"])
        elif edge.branch is not None:
            problem("branch_on_plain_edge", f"only edges leaving a condition carry a branch; {source.id!r} is a "
                    f"{source.kind}", edge_id=edge.key, at=[*at, "branch"])
        if source_port is None or target_port is None:
            continue
        if not compatible(source_port.type, target_port.type):
            problem("type_mismatch", f"{source.id}.{source_port.name} is {source_port.type} but "
                    f"{target.id}.{target_port.name} takes {target_port.type} (any matches every data type; "
                    "otherwise the types must be equal, and control connects only to control)",
                    edge_id=edge.key, node_id=target.id, at=[*at])
        good_edges.append(edge)

    # Required inputs.
    fed = {(edge.target, edge.target_port) for edge in good_edges}
    for node_id, config in configs.items():
        node = nodes[node_id]
        configured = {} if node.kind in _PATH_ONLY_KINDS else config.configured_inputs()
        for port in ports(node)[0]:
            if port.required and (node_id, port.name) not in fed and port.name not in configured:
                problem("missing_required_input", f"{node.kind} node {node_id!r} needs its {port.name!r} input: "
                        "connect an edge to it" + ("" if node.kind in _PATH_ONLY_KINDS else
                                                    " or give it a value in config.defaults"),
                        node_id=node_id, at=["nodes", index[node_id]])

    structure = _structure(nodes, configs, sorted(good_edges, key=_edge_sort_key))
    if structure is None:
        for cycle in _cycles(nodes, good_edges):
            problem("cycle", "the flow loops: " + " -> ".join(cycle), node_id=cycle[0], at=list(cycle))
    else:
        _check_reachable(structure, starts, index, problem)
        structure_problems: list[tuple[str, str, str | None]] = []
        _blocks(structure, structure_problems, [n for n in nodes if nodes[n].kind == "join"])
        _merge_ports(structure, structure_problems, [])
        _check_multiple_edges(structure, structure_problems)
        nested = not any(code == "unstructured_block" for code, _, _ in structure_problems)
        if nested and len(starts) == 1 and ends:
            _check_ends(structure, structure_problems)
        for code, message, concerned in structure_problems:
            problem(code, message, node_id=concerned,
                    at=["nodes", index[concerned]] if concerned in index else [])

    # Map bodies: flows of their own.
    for node_id, config in configs.items():
        if isinstance(config, MapConfig):
            problems.extend(_validate(config.body, [*path, "nodes", index[node_id], "config", "body"],
                                      [*scope, node_id], in_map_body=True))
    return problems


def _parse_nodes(graph: FlowGraph, path: list[PathPart], scope: list[str]
                 ) -> tuple[dict[str, Node], dict[str, NodeConfig], list[FlowProblem]]:
    """The first node of each id, and the configs that parse (the others become problems)."""
    nodes: dict[str, Node] = {}
    configs: dict[str, NodeConfig] = {}
    problems: list[FlowProblem] = []
    for i, node in enumerate(graph.nodes):
        if node.id in nodes:
            continue
        nodes[node.id] = node
        try:
            configs[node.id] = node_config(node)
        except ValidationError as error:
            for detail in error.errors():
                location = [part for part in detail["loc"] if isinstance(part, str | int)]
                problems.append(FlowProblem(
                    code="invalid_config", message=f"{'.'.join(map(str, location)) or 'config'}: {detail['msg']}",
                    node_id=node.id, path=[*path, "nodes", i, "config", *location], scope=list(scope)))
            continue
        for location in _path_keys(node.config, []):
            problems.append(FlowProblem(
                code="invalid_config", message=f"{'.'.join(map(str, location))}: keys ending in '.$' are "
                "reserved (Step Functions reads them as paths)", node_id=node.id,
                path=[*path, "nodes", i, "config", *location], scope=list(scope)))
            configs.pop(node.id, None)
    return nodes, configs, problems


def _path_keys(value: Any, location: list[PathPart]) -> Iterable[list[PathPart]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and key.endswith(".$"):
                yield [*location, key]
            elif key != "body":  # a map body is checked as a flow of its own
                yield from _path_keys(item, [*location, key])
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _path_keys(item, [*location, i])


def _check_defaults(node: Node, config: NodeConfig, problem: Any) -> None:
    data_inputs = {p.name for p in ports(node)[0] if p.type != "control"}
    for name in sorted(config.defaults):
        if node.kind in _PATH_ONLY_KINDS:
            problem("invalid_default", f"a {node.kind}'s inputs are read by path: connect an edge to "
                    f"{name!r} instead", ["defaults", name])
        elif name not in data_inputs:
            problem("invalid_default", f"{node.kind} node {node.id!r} has no data input {name!r}",
                    ["defaults", name])


def _edge_ports_known(edge: Any, nodes: dict[str, Node], configs: dict[str, NodeConfig]) -> bool:
    if edge.source not in nodes or edge.target not in nodes:
        return False
    return (edge.source_port in {p.name for p in ports(nodes[edge.source])[1]}
            and edge.target_port in {p.name for p in ports(nodes[edge.target])[0]})


def _edge_sort_key(edge: Any) -> tuple[str, ...]:
    return edge.target, edge.target_port, edge.source, edge.source_port, edge.branch or "", edge.key


def _sorted_edges(graph: FlowGraph) -> list[Any]:
    return sorted(graph.edges, key=_edge_sort_key)


def _structure(nodes: dict[str, Node], configs: dict[str, NodeConfig], edges: list[Any]) -> Structure | None:
    """The structure, or None when the edges make a cycle."""
    edges_in: dict[str, list[tuple[str, str, str]]] = {n: [] for n in nodes}
    successors: dict[str, set[str]] = {n: set() for n in nodes}
    edge_branches: dict[tuple[str, str], set[str]] = {}
    for edge in edges:
        edges_in[edge.target].append((edge.target_port, edge.source, edge.source_port))
        successors[edge.source].add(edge.target)
        if edge.branch is not None:
            edge_branches.setdefault((edge.source, edge.target), set()).add(edge.branch)
    waiting = {n: len({s for _, s, _ in edges_in[n]}) for n in nodes}
    ready = sorted(n for n, count in waiting.items() if count == 0)
    heapq.heapify(ready)
    order = []
    while ready:
        node_id = heapq.heappop(ready)
        order.append(node_id)
        for successor in successors[node_id]:
            waiting[successor] -= 1
            if waiting[successor] == 0:
                heapq.heappush(ready, successor)
    if len(order) < len(nodes):
        return None
    descendants: dict[str, frozenset[str]] = {}
    for node_id in reversed(order):
        descendants[node_id] = frozenset(successors[node_id]).union(*(descendants[s] for s in successors[node_id]))
    return Structure(nodes=nodes, configs=configs, edges_in=edges_in,
                     successors={n: sorted(s) for n, s in successors.items()}, descendants=descendants, order=order,
                     edge_branches={key: frozenset(b) for key, b in edge_branches.items()})


def _cycles(nodes: dict[str, Node], edges: list[Any]) -> list[list[str]]:
    """Each distinct cycle a depth-first search meets, as node ids from its smallest id round to it again."""
    successors: dict[str, list[str]] = {n: [] for n in nodes}
    for edge in edges:
        if edge.target not in successors[edge.source]:
            successors[edge.source].append(edge.target)
    for targets in successors.values():
        targets.sort()
    found: dict[tuple[str, ...], list[str]] = {}
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node_id: str) -> None:
        state[node_id] = 1
        stack.append(node_id)
        for target in successors[node_id]:
            if state.get(target) == 1:
                loop = stack[stack.index(target):]
                first = loop.index(min(loop))
                loop = loop[first:] + loop[:first]
                found.setdefault(tuple(loop), [*loop, loop[0]])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node_id] = 2

    for node_id in sorted(nodes):
        if node_id not in state:
            visit(node_id)
    return [found[key] for key in sorted(found)]


def _check_reachable(structure: Structure, starts: list[str], index: dict[str, int], problem: Any) -> None:
    if len(starts) != 1:
        return
    reachable = structure.descendants[starts[0]] | {starts[0]}
    for node_id in sorted(set(structure.nodes) - reachable):
        problem("unreachable_node", f"{node_id!r} cannot be reached from the start", node_id=node_id,
                at=["nodes", index[node_id]])


def _blocks(structure: Structure, problems: list[tuple[str, str, str | None]], joins: list[str]) -> None:
    """Fill ``structure.conditions`` and ``.parallels``; report parallels without joins, escapes, overlaps, joins
    no parallel matches and blocks that do not nest."""
    descendants = structure.descendants
    for node_id in structure.order:
        node = structure.nodes[node_id]
        config = structure.configs.get(node_id)
        if node.kind == "condition" and isinstance(config, ConditionConfig):
            heads = {branch: tuple(t for t in structure.successors[node_id]
                                   if branch in structure.edge_branches.get((node_id, t), ()))
                     for branch in config.branch_names}
            reached = {b: frozenset(h).union(*(descendants[n] for n in h)) for b, h in heads.items()}
            counts: dict[str, int] = {}
            for nodes in reached.values():
                for n in nodes:
                    counts[n] = counts.get(n, 0) + 1
            shared = {n for n, count in counts.items() if count > 1}
            structure.conditions[node_id] = ConditionBlock(
                node_id=node_id, branches=tuple(config.branch_names), heads=heads,
                bodies={b: nodes - shared for b, nodes in reached.items()})
        elif node.kind == "parallel":
            branch_heads = tuple(structure.successors[node_id])
            if not branch_heads:
                problems.append(("parallel_without_join", f"parallel {node_id!r} has no branches", node_id))
                continue
            reached_by = [frozenset({h}) | descendants[h] for h in branch_heads]
            joins_reached = [n for n in frozenset.union(*reached_by) if structure.nodes[n].kind == "join"]
            by_all = [j for j in joins_reached if all(j in nodes for nodes in reached_by)]
            candidates = by_all or joins_reached
            earliest = sorted(j for j in candidates if not any(j in descendants[other] for other in candidates))
            if not earliest:
                problems.append(("parallel_without_join", f"parallel {node_id!r} has no join that its branches "
                                 "lead to", node_id))
                continue
            join = earliest[0]
            for head, nodes in zip(branch_heads, reached_by, strict=True):
                if join not in nodes:
                    problems.append(("parallel_branch_escapes", f"the branch of parallel {node_id!r} that starts "
                                     f"at {head!r} does not lead to its join {join!r}", head))
            # A branch is what lies on its way to the join; what only reads from it runs after the block.
            leads_to_join = frozenset(n for n in structure.nodes if join in descendants[n])
            bodies = tuple((nodes & leads_to_join) - {join} for nodes in reached_by)
            for n in sorted({n for i, a in enumerate(bodies) for b in bodies[i + 1:] for n in a & b}):
                problems.append(("parallel_branches_overlap", f"{n!r} is reached from two branches of parallel "
                                 f"{node_id!r} before its join {join!r}", n))
            structure.parallels[node_id] = ParallelBlock(node_id=node_id, join=join, heads=branch_heads,
                                                         bodies=bodies)
    matched = {block.join for block in structure.parallels.values()}
    for join in sorted(set(joins) - matched):
        problems.append(("join_without_parallel", f"join {join!r} closes no parallel (every branch of a "
                         "parallel must lead to it)", join))
    blocks = sorted(structure.blocks().items())
    bodies_of = {**{c: list(b.bodies.values()) for c, b in structure.conditions.items()},
                 **{p: list(b.bodies) for p, b in structure.parallels.items()}}
    for i, (first, first_members) in enumerate(blocks):
        for second, second_members in blocks[i + 1:]:
            common = first_members & second_members
            if not common:
                continue
            nested = (any(first_members <= body for body in bodies_of[second])
                      or any(second_members <= body for body in bodies_of[first]))
            if not nested:
                problems.append(("unstructured_block", f"the blocks of {first!r} and {second!r} share "
                                 f"{', '.join(sorted(common))} but neither lies inside one branch of the other",
                                 first))


def _merge_ports(structure: Structure, problems: list[tuple[str, str, str | None]], _: list[str]) -> None:
    """Fill ``structure.merge_ports`` with the data ports fed from different branches of one condition."""
    for target in structure.order:
        by_port: dict[str, list[tuple[str, str]]] = {}
        for port, source, source_port in structure.edges_in[target]:
            if port != CONTROL_PORT:
                by_port.setdefault(port, []).append((source, source_port))
        for port, sources in sorted(by_port.items()):
            if len(sources) < 2:
                continue
            for condition in structure.conditions.values():
                branch_of: dict[str, tuple[str, str]] = {}
                for fed_by in sources:
                    branch = next((b for b, body in condition.bodies.items() if fed_by[0] in body), None)
                    if branch is None or branch in branch_of:
                        break
                    branch_of[branch] = fed_by
                else:
                    structure.merge_ports[(target, port)] = MergePort(target, port, condition.node_id, branch_of)
                    break


def _check_multiple_edges(structure: Structure, problems: list[tuple[str, str, str | None]]) -> None:
    for target in structure.order:
        counts: dict[str, int] = {}
        for port, _, _ in structure.edges_in[target]:
            if port != CONTROL_PORT:
                counts[port] = counts.get(port, 0) + 1
        for port, count in sorted(counts.items()):
            if count > 1 and (target, port) not in structure.merge_ports:
                problems.append(("multiple_edges_into_port", f"{count} edges feed {target}.{port}: only one may, "
                                 "unless each comes from a different branch of one condition", target))


def _check_ends(structure: Structure, problems: list[tuple[str, str, str | None]]) -> None:
    """Two ends that would both run, and ways through the flow that reach no end."""

    def walk(region: frozenset[str], continuation_ends: bool) -> bool:
        items = structure.sequence(region)
        ends = [item for item in items if structure.nodes[item].kind == "end"]
        for extra in ends[1:]:
            problems.append(("multiple_ends_on_path", f"end {extra!r} would run after end {ends[0]!r} has "
                             "finished the flow: put them on different branches of a condition", extra))
        reaches = continuation_ends
        for item in reversed(items):
            if structure.nodes[item].kind == "end":
                reaches = True
            elif item in structure.conditions:
                block = structure.conditions[item]
                every_branch = True
                for branch in block.branches:
                    before = len(problems)
                    if not walk(block.bodies[branch], reaches):
                        every_branch = False
                        if len(problems) == before:
                            problems.append(("no_end_on_path", f"branch {branch!r} of condition {item!r} can "
                                             "finish the flow without reaching an end node", item))
                reaches = every_branch
            elif item in structure.parallels:
                for body in structure.parallels[item].bodies:
                    walk(body, True)
        return reaches

    before = len(problems)
    if not walk(frozenset(structure.nodes), False) and len(problems) == before:
        start = next(n for n in structure.order if structure.nodes[n].kind == "start")
        problems.append(("no_end_on_path", "the flow can finish without reaching an end node", start))
