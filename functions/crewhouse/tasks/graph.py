"""Task dependency rules: refuse an edge that would close a cycle, so "blocked by" always terminates.

The graph is never loaded whole: ``depends_on`` is a port the store layer implements (one query per
visited task), and the walk is bounded so a huge or corrupt graph fails loudly instead of timing out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

MAX_NODES = 10_000


class DependencyGraphTooLarge(RuntimeError):
    """The walk visited more tasks than allowed; the caller should refuse the change, not guess."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"dependency graph walk exceeded {limit} tasks; refusing to decide about a cycle")
        self.limit = limit


def find_cycle(
    task_id: str,
    new_dependency: str,
    depends_on: Callable[[str], Iterable[str]],
    *,
    max_nodes: int = MAX_NODES,
) -> list[str] | None:
    """The cycle that the edge ``task_id -> new_dependency`` would close, or ``None``.

    ``depends_on(x)`` yields the tasks ``x`` is blocked by. The new edge closes a cycle exactly when
    ``task_id`` is already reachable from ``new_dependency``; the answer is the shortest such cycle
    as ``[task_id, new_dependency, ..., task_id]`` (breadth-first), so it can be shown to the user.
    """
    if task_id == new_dependency:
        return [task_id, task_id]
    parent: dict[str, str | None] = {new_dependency: None}
    queue = deque([new_dependency])
    while queue:
        node = queue.popleft()
        for dependency in depends_on(node):
            if dependency in parent:
                continue
            parent[dependency] = node
            if dependency == task_id:
                return [task_id, *_path_to(dependency, parent)]
            if len(parent) > max_nodes:
                raise DependencyGraphTooLarge(max_nodes)
            queue.append(dependency)
    return None


def _path_to(node: str, parent: dict[str, str | None]) -> list[str]:
    """The BFS path from the root to ``node``, root first."""
    path: list[str] = []
    current: str | None = node
    while current is not None:
        path.append(current)
        current = parent[current]
    path.reverse()
    return path


def open_blockers(
    task_id: str,
    depends_on: Callable[[str], Iterable[str]],
    is_open: Callable[[str], bool],
) -> list[str]:
    """The direct dependencies still open, in order and without repeats: a task with none is unblocked."""
    seen: set[str] = set()
    blockers: list[str] = []
    for dependency in depends_on(task_id):
        if dependency not in seen:
            seen.add(dependency)
            if is_open(dependency):
                blockers.append(dependency)
    return blockers
