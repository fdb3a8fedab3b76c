"""Cycle detection for "blocked by" edges, checked against brute-force reachability."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crewhouse.tasks.graph import DependencyGraphTooLarge, find_cycle, open_blockers

INF = float("inf")


def name(i: int) -> str:
    return f"t{i}"


def distances(n: int, edges: set[tuple[int, int]]) -> list[list[float]]:
    """Floyd-Warshall shortest path lengths (number of edges); INF when unreachable."""
    dist = [[0.0 if i == j else INF for j in range(n)] for i in range(n)]
    for a, b in edges:
        if a != b:
            dist[a][b] = 1
    for k in range(n):
        for i in range(n):
            for j in range(n):
                if dist[i][k] + dist[k][j] < dist[i][j]:
                    dist[i][j] = dist[i][k] + dist[k][j]
    return dist


def port(edges: set[tuple[int, int]]) -> Callable[[str], Iterator[str]]:
    def depends_on(task: str) -> Iterator[str]:
        source = int(task[1:])
        yield from (name(b) for a, b in sorted(edges) if a == source)

    return depends_on


@st.composite
def dags_with_new_edge(draw: st.DrawFn, acyclic: bool = True) -> tuple[int, set[tuple[int, int]], int, int]:
    n = draw(st.integers(min_value=1, max_value=12))
    pairs = [(a, b) for a in range(n) for b in range(n) if (a < b if acyclic else a != b)]
    edges = set(draw(st.lists(st.sampled_from(pairs), unique=True))) if pairs else set()
    u = draw(st.integers(min_value=0, max_value=n - 1))
    v = draw(st.integers(min_value=0, max_value=n - 1))
    return n, edges, u, v


def check(n: int, edges: set[tuple[int, int]], u: int, v: int) -> None:
    dist = distances(n, edges)
    cycle = find_cycle(name(u), name(v), port(edges))
    closes = u == v or dist[v][u] < INF
    assert (cycle is not None) == closes
    if cycle is None:
        return
    assert cycle[0] == cycle[-1] == name(u)
    assert cycle[1] == name(v)
    indexes = [int(node[1:]) for node in cycle]
    # the first step is the new edge; every other step is an existing edge
    assert all(pair in edges for pair in pairwise(indexes[1:]))
    # shortest: the new edge plus the shortest path back from the dependency
    assert len(cycle) - 1 == 1 + (0 if u == v else dist[v][u])


@given(dags_with_new_edge())
def test_random_dag_new_edge_matches_brute_force(case: tuple[int, set[tuple[int, int]], int, int]) -> None:
    check(*case)


@given(dags_with_new_edge(acyclic=False))
def test_also_correct_when_the_graph_already_has_cycles(case: tuple[int, set[tuple[int, int]], int, int]) -> None:
    check(*case)


def test_self_dependency() -> None:
    assert find_cycle("a", "a", lambda _: []) == ["a", "a"]


def test_simple_cycle_path() -> None:
    graph = {"b": ["c"], "c": ["a"], "a": []}
    assert find_cycle("a", "b", lambda t: graph.get(t, [])) == ["a", "b", "c", "a"]
    assert find_cycle("c", "b", lambda t: graph.get(t, [])) == ["c", "b", "c"]
    assert find_cycle("d", "b", lambda t: graph.get(t, [])) is None


def test_visited_set_keeps_diamonds_linear() -> None:
    # 40 stacked diamonds: 2**40 paths, 121 tasks
    layers = 40
    calls: list[str] = []

    def depends_on(task: str) -> list[str]:
        calls.append(task)
        kind, level = task[0], int(task[1:])
        if level == layers:
            return []
        if kind == "j":
            return [f"l{level}", f"r{level}"]
        return [f"j{level + 1}"]

    assert find_cycle("start", "j0", depends_on) is None
    assert len(calls) == len(set(calls)) == 3 * layers + 1


def test_guard_on_huge_graphs() -> None:
    def endless(task: str) -> list[str]:
        return [f"n{int(task[1:]) + 1}"]

    with pytest.raises(DependencyGraphTooLarge) as raised:
        find_cycle("x", "n0", endless)
    assert raised.value.limit == 10_000
    with pytest.raises(DependencyGraphTooLarge):
        find_cycle("x", "n0", endless, max_nodes=50)
    # a cycle found before the limit is still reported
    assert find_cycle("n0", "n1", lambda t: ["n0"] if t == "n30" else [f"n{int(t[1:]) + 1}"], max_nodes=50) == [
        f"n{i}" for i in [0, *range(1, 31), 0]
    ]


def test_open_blockers() -> None:
    graph = {"a": ["b", "c", "b", "d"]}
    done = {"c"}
    assert open_blockers("a", lambda t: graph.get(t, []), lambda t: t not in done) == ["b", "d"]
    assert open_blockers("z", lambda t: graph.get(t, []), lambda t: True) == []
