"""pyproject.toml and the two locks agree (offline: both parsed, nothing resolved).

``make lock`` regenerates requirements/dev.lock (what `make dev`/`make test` install) and
requirements/layer.lock (what the Lambda layers are built from); a pin changed in pyproject.toml without
``make lock`` fails here.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from crewhouse_cdk.layer import (
    DEV_LOCK,
    LAMBDA_PLATFORMS,
    LAMBDA_PYTHON,
    LAYER_LOCK,
    PROVIDED_BY_RUNTIME,
    dependency_closure,
    normalize,
    read_lock,
    requirement_name,
)
from crewhouse_cdk.paths import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = PROJECT["dependencies"]
EXTRAS = [req for extra in ("local", "dev") for req in PROJECT["optional-dependencies"][extra]]


def pin(requirement: str) -> tuple[str, str]:
    match = re.search(r"==\s*([^\s;,]+)", requirement)
    assert match, f"{requirement!r}: pyproject.toml pins every dependency with =="
    return requirement_name(requirement), match.group(1)


@pytest.mark.parametrize("requirement", RUNTIME + EXTRAS)
def test_every_pyproject_pin_is_in_the_dev_lock_at_the_same_version(requirement: str) -> None:
    name, version = pin(requirement)
    lock = read_lock(DEV_LOCK)

    assert name in lock, f"{name} is missing from {DEV_LOCK.name}: run `make lock`"
    assert lock[name].version == version, f"{name}: pyproject {version}, {DEV_LOCK.name} {lock[name].version}"


@pytest.mark.parametrize("requirement", RUNTIME)
def test_every_runtime_pin_is_in_the_layer_lock_unless_lambda_provides_it(requirement: str) -> None:
    name, version = pin(requirement)
    lock = read_lock(LAYER_LOCK)

    if name in PROVIDED_BY_RUNTIME:
        assert name not in lock, f"{name} is provided by the Lambda runtime and must not be locked into a layer"
    else:
        assert name in lock, f"{name} is missing from {LAYER_LOCK.name}: run `make lock`"
        assert lock[name].version == version, f"{name}: pyproject {version}, {LAYER_LOCK.name} {lock[name].version}"


def test_layer_lock_holds_only_what_the_runtime_dependencies_pull_in() -> None:
    lock = read_lock(LAYER_LOCK)
    reached = dependency_closure([requirement_name(r) for r in RUNTIME], lock)

    assert set(lock) == reached, f"locked but pulled in only by what the runtime provides: {set(lock) - reached}"


def test_layer_lock_was_resolved_for_lambda() -> None:
    command = LAYER_LOCK.read_text().splitlines()[1]
    platform = LAMBDA_PLATFORMS[0].replace("_aarch64", "")

    assert f"--python-platform aarch64-{platform}" in command
    assert f"--python-version {LAMBDA_PYTHON}" in command
    assert all(f"--no-emit-package {name}" in command for name in PROVIDED_BY_RUNTIME)


def test_tests_run_the_versions_that_ship() -> None:
    dev, layer = read_lock(DEV_LOCK), read_lock(LAYER_LOCK)

    differ = {name: (dev[name].version if name in dev else None, p.version) for name, p in layer.items()
              if name not in dev or dev[name].version != p.version}
    assert not differ, f"dev lock vs layer lock: {differ}"


@pytest.mark.parametrize("path", [DEV_LOCK, LAYER_LOCK], ids=lambda p: p.name)
def test_every_locked_package_has_hashes(path: Path) -> None:
    lock = read_lock(path)

    assert lock and all(p.hashes for p in lock.values())
    assert all(normalize(n) == n for n in lock)


# The npm projects: the CDK CLI's (top level) and the web console's. `npm ci` installs exactly their locks.
NPM_PROJECTS = (ROOT, ROOT / "console")


@pytest.mark.parametrize("project", NPM_PROJECTS, ids=lambda path: path.name)
def test_every_npm_dependency_is_pinned_and_locked_with_its_integrity(project: Path) -> None:
    manifest = json.loads((project / "package.json").read_text())
    lock = json.loads((project / "package-lock.json").read_text())
    locked = lock["packages"]
    declared = {**manifest.get("dependencies", {}), **manifest.get("devDependencies", {})}
    for name, version in declared.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{project.name}: {name} is pinned exactly, not {version!r}"
        assert locked[f"node_modules/{name}"]["version"] == version, f"{project.name}: {name} differs in the lock"
    unpinned = [path for path, entry in locked.items()
                if path and not entry.get("link") and not (entry.get("version") and entry.get("integrity"))]
    assert not unpinned, f"{project.name}/package-lock.json: packages without a version and integrity: {unpinned}"
