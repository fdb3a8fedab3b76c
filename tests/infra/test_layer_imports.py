"""Every function imports with only its own layers: its handler module, and every third-party name its code
can import (lazy imports inside functions included), in a clean interpreter (``python -I -S``) whose
``sys.path`` is the function's code asset, its layers and what the Lambda runtime provides (boto3).

The real layers hold aarch64 cp313 wheels, which do not load here; the same locked packages are installed
for this machine instead (``build/test-layers``, cached by the lock's lines: the first run downloads them).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from crewhouse_cdk.handler_imports import third_party_imports
from crewhouse_cdk.layer import LOCAL_ONLY_IMPORTS, build_project_layers, layers_for_handler
from tests.infra.assembly import Assembly
from tests.infra.conftest import Synthesized

# What Lambda's Python runtime has on sys.path besides the layers: boto3 and what boto3 needs.
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")

# Imports each name; a name that is a module's attribute (``ulid.ULID``) passes when the module has it.
PROBE = """
import importlib, json, sys
sys.path[:0] = json.loads(sys.argv[1])
failures = []
for name in json.loads(sys.argv[2]):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        parent, _, attribute = name.rpartition(".")
        try:
            ok = bool(parent) and error.name == name and hasattr(importlib.import_module(parent), attribute)
        except Exception:
            ok = False
        if not ok:
            failures.append(f"{name}: {error!r}")
    except Exception as error:
        failures.append(f"{name}: {error!r}")
print(json.dumps({"failures": failures, "site": [p for p in sys.path if "site-packages" in p]}))
"""


@pytest.fixture(scope="session")
def host_layers() -> dict[str, Path]:
    return {name: path / "python" for name, path in build_project_layers(lambda_platform=False).items()}


@pytest.fixture(scope="session")
def lambda_runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with only the runtime's SDK modules (links to this environment's copies)."""
    runtime = tmp_path_factory.mktemp("var-runtime")
    for name in RUNTIME_MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    return runtime


def probe(paths: list[Path], names: list[str]) -> dict[str, list[str]]:
    result = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE, json.dumps([str(p) for p in paths]),
                             json.dumps(names)], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    outcome: dict[str, list[str]] = json.loads(result.stdout)
    return outcome


def test_probe_sees_nothing_but_the_given_paths(lambda_runtime: Path) -> None:
    # The test is only as good as its isolation: without the layers, fastapi must not import.
    outcome = probe([lambda_runtime], ["boto3", "fastapi"])

    assert outcome["site"] == []
    assert len(outcome["failures"]) == 1 and outcome["failures"][0].startswith("fastapi:")


def test_every_function_imports_with_only_its_layers(synth_ok: Synthesized, host_layers: dict[str, Path],
                                                    lambda_runtime: Path) -> None:
    assembly = Assembly(synth_ok.outdir)
    # Functions with the same code and layers share a sys.path: one interpreter per such group.
    groups: dict[tuple[Path, tuple[str, ...]], set[str]] = defaultdict(set)
    for function in assembly.functions:
        handler = assembly.handler(function)
        module = handler.rpartition(".")[0]
        lazy = [name for name in third_party_imports(handler) if name.split(".")[0] not in LOCAL_ONLY_IMPORTS]
        groups[assembly.code_dir(function), layers_for_handler(handler)].update([module, handler, *lazy])

    failures = {}
    for (code, layers), names in groups.items():
        outcome = probe([code, *(host_layers[layer] for layer in layers), lambda_runtime], sorted(names))
        if outcome["failures"]:
            failures[layers] = outcome["failures"]

    assert len(groups) >= 4, "expected functions with different layer sets"
    assert not failures, json.dumps({"+".join(k): v for k, v in failures.items()}, indent=2)
