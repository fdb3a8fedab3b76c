"""Notebook nesting rules: at most five levels, and never inside its own subtree. Pure: the caller
passes lookups (``parent_of``, ``children_of``) so the rules are tested without a table."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from crewhouse.notes.models import MAX_NOTEBOOK_DEPTH


class UnknownNotebook(LookupError):
    def __init__(self, notebook_id: str) -> None:
        super().__init__(f"No notebook {notebook_id}.")
        self.notebook_id = notebook_id


class NotebookCycle(ValueError):
    pass


class TooDeep(ValueError):
    pass


def depth_of(notebook_id: str, parent_of: Callable[[str], str | None], *, moving: str | None = None) -> int:
    """Level of ``notebook_id`` (a top-level notebook is 1), walking up its parents.

    ``parent_of`` raises :class:`UnknownNotebook` for a missing notebook. Meeting ``moving`` on the way up
    means ``notebook_id`` lies inside the subtree being moved: :class:`NotebookCycle`.
    """
    depth = 0
    current: str | None = notebook_id
    seen: set[str] = set()
    while current is not None:
        if current == moving:
            raise NotebookCycle(f"Notebook {moving} cannot move into its own subtree.")
        if current in seen or depth > MAX_NOTEBOOK_DEPTH:
            raise NotebookCycle(f"The notebooks above {notebook_id} form a cycle.")  # damaged data: refuse
        seen.add(current)
        depth += 1
        current = parent_of(current)
    return depth


def subtree(root: str, children_of: Callable[[str], Iterable[str]]) -> list[tuple[str, int]]:
    """``root`` and every notebook below it with its level relative to ``root`` (root is 1), breadth first.

    Stops after :data:`MAX_NOTEBOOK_DEPTH` levels: the rules never let a tree grow deeper.
    """
    found = [(root, 1)]
    level = [root]
    for depth in range(2, MAX_NOTEBOOK_DEPTH + 1):
        level = [child for parent in level for child in children_of(parent)]
        if not level:
            break
        found.extend((child, depth) for child in level)
    return found


def check_placement(parent_id: str | None, parent_of: Callable[[str], str | None], *, height: int = 1,
                    moving: str | None = None) -> None:
    """A subtree ``height`` levels tall may hang below ``parent_id`` (None: top level)."""
    if parent_id is None:
        depth = 0
    else:
        if parent_id == moving:
            raise NotebookCycle("A notebook cannot be its own parent.")
        depth = depth_of(parent_id, parent_of, moving=moving)
    if depth + height > MAX_NOTEBOOK_DEPTH:
        raise TooDeep(f"Notebooks nest at most {MAX_NOTEBOOK_DEPTH} levels deep "
                      f"(this would make {depth + height}).")
