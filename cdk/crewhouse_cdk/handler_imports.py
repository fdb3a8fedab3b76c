"""What a Lambda handler can import: the ``crewhouse`` modules it reaches and the third-party modules they name.

Static (the source's syntax tree), so that the imports made inside functions count: Crewhouse imports heavy
libraries lazily (Pillow, dateparser, trafilatura …) to keep cold starts short, and a layer missing such a
library would fail only on the request that first needs it. Conservative: every import statement of a
reached module counts, whichever branch or function it sits in.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

from crewhouse_cdk.paths import FUNCTIONS_DIR

PACKAGE = "crewhouse"


def _module_file(module: str, root: Path) -> Path | None:
    path = root.joinpath(*module.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


@cache
def _imported_names(module: str, root: Path) -> frozenset[str]:
    """Dotted names ``module`` imports (``from a import b`` counts ``a`` and ``a.b``: b may be a module)."""
    path = _module_file(module, root)
    assert path is not None, module
    source = path.read_text()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            names.add(origin)
            names.update(f"{origin}.{alias.name}" for alias in node.names)
    if path.name == "__init__.py" and "lazy_exports(" in source:
        # crewhouse.core.lazy_exports imports a package's submodules by name on first attribute access.
        names.update(f"{module}.{child.stem}" for child in path.parent.glob("*.py") if child.stem != "__init__")
    return frozenset(names)


@cache
def reached_modules(module: str, root: Path = FUNCTIONS_DIR) -> frozenset[str]:
    """The ``crewhouse`` modules importing ``module`` can load, itself and its parent packages included."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen or _module_file(current, root) is None:
            continue
        seen.add(current)
        parts = current.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(name for name in _imported_names(current, root) if name.split(".")[0] == PACKAGE)
    return frozenset(seen)


def third_party_imports(handler: str, root: Path = FUNCTIONS_DIR) -> dict[str, frozenset[str]]:
    """Third-party dotted name -> the ``crewhouse`` modules that import it, for a handler
    ``crewhouse.ctx.module.function`` (the standard library left out). A name may be a module's attribute:
    ``from ulid import ULID`` gives ``ulid`` and ``ulid.ULID``."""
    module = handler.rpartition(".")[0]
    importers: dict[str, set[str]] = {}
    for reached in reached_modules(module, root):
        for name in _imported_names(reached, root):
            top = name.split(".")[0]
            if top and top != PACKAGE and top != "__future__" and top not in sys.stdlib_module_names:
                importers.setdefault(name, set()).add(reached)
    return {name: frozenset(modules) for name, modules in importers.items()}
