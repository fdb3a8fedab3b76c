"""The tasks, notes and files model packages: one module per group of routes, behind a lazy facade.

Each HTTP function imports only the model modules its routes use (pydantic builds a model when its class is
defined, a cold-start cost). ``from crewhouse.<context>.models import X`` must keep working for every model
and must build only the module that defines ``X``.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGES = ("crewhouse.tasks.models", "crewhouse.notes.models", "crewhouse.files.models")


def type_checking_names(package: str) -> set[str]:
    """Names the package imports under ``if TYPE_CHECKING:`` (what type checkers see)."""
    source = Path(importlib.import_module(package).__file__ or "").read_text()
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            names.update(alias.asname or alias.name for stmt in node.body if isinstance(stmt, ast.ImportFrom)
                         for alias in stmt.names)
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves_from_its_module(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        assert value is not None, f"{package}.{name}"
    models = {name for name in module.__all__ if isinstance(getattr(module, name), type)}
    unseen = models - type_checking_names(package)
    assert not unseen, f"{package}: type checkers do not see {unseen} (add them under TYPE_CHECKING)"
    with pytest.raises(AttributeError):
        _ = module.NoSuchModel


@pytest.mark.parametrize("package", PACKAGES)
def test_importing_the_package_builds_no_model(package: str) -> None:
    code = (f"import sys, {package} as p; "
            f"print(sorted(m for m in sys.modules if m.startswith('{package}.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", f"importing {package} imported {loaded}"


def test_a_name_builds_only_its_own_module() -> None:
    code = ("import sys; from crewhouse.tasks.models import MoveRequest; "
            "print(sorted(m for m in sys.modules if m.startswith('crewhouse.tasks.models.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "['crewhouse.tasks.models.actions', 'crewhouse.tasks.models.task']"
