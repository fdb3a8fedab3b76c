"""A package that re-exports names from its modules, importing a module only when one of its names is asked for.

The context model packages use it (PEP 562): ``from crewhouse.tasks.models import Task`` keeps working,
while a Lambda that needs only a few models builds only those (pydantic builds a model when its class is
defined, 1-3 ms a model at a cold start).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any


def lazy_exports(package: str, modules: Mapping[str, tuple[str, ...]], namespace: MutableMapping[str, Any]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``: ``modules`` maps a submodule to the names it defines."""
    defined_in = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = defined_in.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value  # found directly next time
        return value

    exported = sorted(defined_in)

    def __dir__() -> list[str]:
        return sorted({*namespace, *exported})

    return __getattr__, __dir__, exported
