"""Every metered row, module by module in name order, and the OpenAPI operations deliberately left unmetered."""

from __future__ import annotations

import importlib
import pkgutil

from tests.cost.catalog import Metered

# Operation -> why it has no row (none today: every operation of docs/openapi.json has one). A new operation gets a
# row, or an entry here whose reason says what would make its row honest.
UNMETERED: dict[str, str] = {}


def all_metered(modules: set[str] | None = None) -> list[Metered]:
    """Every row, or only the rows of ``modules`` (``CREWHOUSE_COST_MODULES=files,notes`` in the test)."""
    rows: list[Metered] = []
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if modules is not None and module not in modules:
            continue
        rows.extend(getattr(importlib.import_module(f"{__name__}.{module}"), "METERED", []))
    names = [row.name for row in rows]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    assert not duplicated, f"rows named twice: {duplicated}"
    return rows
