"""The dependency layers: split by capability, built from ``requirements/layer.lock`` with ``pip --platform``
(never Docker) and cached under build/.

``LAYERS`` is the one place that says which runtime dependency goes into which layer; a function gets the
layers whose packages its handler's code can import (``layers_for_handler``, from the imports themselves).
Lambda runs Python 3.13 on arm64 (Amazon Linux 2023, glibc 2.34), so wheels are chosen for that platform
explicitly: every manylinux tag up to 2_34 loads there (pillow publishes its aarch64 cp313 wheels as
manylinux_2_28 only). Without ``--python-version`` pip would pick this machine's 3.11 wheels.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

from crewhouse_cdk.handler_imports import third_party_imports
from crewhouse_cdk.paths import BUILD_DIR, ROOT

LAMBDA_PYTHON = "3.13"
# Newest first; pip takes a wheel of any of them. uv locks for aarch64-manylinux_2_34, the same set.
LAMBDA_PLATFORMS = ("manylinux_2_34_aarch64", "manylinux_2_28_aarch64", "manylinux_2_17_aarch64",
                    "manylinux2014_aarch64")
REQUIREMENTS_DIR = ROOT / "requirements"
LAYER_LOCK = REQUIREMENTS_DIR / "layer.lock"
DEV_LOCK = REQUIREMENTS_DIR / "dev.lock"
# Provided by the Lambda runtime (s3transfer only boto3 needs); packaging them would only grow the layers.
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")
# Imported only by the local OCR provider (OCR_PROVIDER=tesseract, the embedded cloud): Lambda uses Textract.
LOCAL_ONLY_IMPORTS = ("pytesseract", "pypdfium2")
# Layer -> the runtime dependencies of pyproject.toml it carries, with whatever they pull in that no earlier
# layer has. Lambda attaches at most 5 layers to a function; the MCP server needs all five.
LAYERS: dict[str, tuple[str, ...]] = {
    # Every function: Powertools, the HTTP stack, models, ids; the LLM client and job schemas are small.
    "base": ("aws-lambda-powertools", "fastapi", "mangum", "pydantic", "python-ulid", "python-dateutil",
             "httpx", "jsonschema", "pyjwt"),  # pyjwt: the API authorizer's JWT checks (cryptography)
    "dates": ("dateparser",),  # quick add's natural-language dates (regex, pytz, locale data)
    # rendering, sanitizing, web clips (lxml, babel); notifications' Liquid templates (babel too; no layer of
    # their own: the parent stack is at CloudFormation's 500 resources)
    "notes": ("markdown-it-py", "nh3", "trafilatura", "python-liquid"),
    "media": ("pillow", "filetype"),  # files: MIME sniffing, thumbnails
    "mcp": ("mcp",),  # the MCP server's transport (uvicorn, sse-starlette; pyjwt comes from base)
}
MAX_LAYERS_PER_FUNCTION = 5
# A PEP 508 requirement starts with the project name; extras, specifiers and markers follow it.
_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_VIA_PROJECT = re.compile(r"^(\S+) \(pyproject\.toml\)$")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The normalized (PEP 503) project name of a requirement: ``Boto3[crt]>=1.40`` -> ``boto3``."""
    match = _REQUIREMENT_NAME.match(requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return normalize(match.group(1))


def layer_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The runtime dependencies of ``pyproject.toml`` that go into layers (not those the runtime provides)."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [d for d in deps if requirement_name(d) not in PROVIDED_BY_RUNTIME]


@dataclass(frozen=True)
class Locked:
    """One package of a ``uv pip compile --generate-hashes`` lock."""

    name: str
    version: str
    text: str  # the requirement with its hashes, as pip reads it
    via: frozenset[str]  # who asked for it; "" for the project itself

    @property
    def hashes(self) -> tuple[str, ...]:
        return tuple(re.findall(r"--hash=(\S+)", self.text))


def read_lock(path: Path = LAYER_LOCK) -> dict[str, Locked]:
    """The packages of a lock file by normalized name, each with its ``# via`` annotation."""
    packages: dict[str, Locked] = {}
    entry: list[str] = []
    via: set[str] = set()

    def finish() -> None:
        if entry:
            pin = entry[0].split(";")[0].strip().rstrip("\\").strip()
            name, _, version = pin.partition("==")
            packages[normalize(name)] = Locked(normalize(name), version.strip(), "\n".join(entry), frozenset(via))
        entry.clear()
        via.clear()

    for line in path.read_text().splitlines():
        stripped = line.strip()
        if line and not line[0].isspace() and not line.startswith("#"):
            finish()
            entry.append(line)
        elif stripped.startswith("--hash") and entry:
            entry.append(line)
        elif stripped.startswith("# via") or (stripped.startswith("#   ") and entry):
            parent = stripped.removeprefix("# via").lstrip("# ").strip()
            if parent and not parent.startswith("-"):  # ``-c requirements/dev.lock``: a constraint, no parent
                project = _VIA_PROJECT.match(parent)
                via.add("" if project else normalize(parent))
    finish()
    return packages


def _dependents(lock: dict[str, Locked]) -> dict[str, set[str]]:
    """Package -> the locked packages it depends on (the ``# via`` annotations read the other way)."""
    children: dict[str, set[str]] = {}
    for package in lock.values():
        for parent in package.via:
            children.setdefault(parent, set()).add(package.name)
    return children


def dependency_closure(roots: Iterable[str], lock: dict[str, Locked]) -> set[str]:
    """``roots`` and every locked package they pull in, stopping at what the Lambda runtime provides."""
    return _closure(roots, _dependents(lock))


def _closure(roots: Iterable[str], children: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [normalize(r) for r in roots]
    while todo:
        name = todo.pop()
        if name not in seen and name not in PROVIDED_BY_RUNTIME:
            seen.add(name)
            todo.extend(children.get(name, ()))
    return seen


@dataclass(frozen=True)
class LayerPlan:
    packages: dict[str, tuple[Locked, ...]]  # layer -> its locked packages
    requires: dict[str, tuple[str, ...]]  # layer -> the other layers its packages import from

    def owner(self, package: str) -> str | None:
        return next((layer for layer, locked in self.packages.items() if any(p.name == package for p in locked)),
                    None)


def plan_layers(lock: dict[str, Locked], layers: dict[str, tuple[str, ...]] = LAYERS) -> LayerPlan:
    """Each locked package in the first layer (in ``layers`` order) whose dependencies reach it."""
    children = _dependents(lock)
    missing = {normalize(r) for roots in layers.values() for r in roots} - lock.keys()
    if missing:
        raise ValueError(f"layer packages missing from the lock (run `make lock`): {sorted(missing)}")
    assigned: dict[str, str] = {}
    for layer, roots in layers.items():
        for name in sorted(_closure(roots, children)):
            assigned.setdefault(name, layer)
    packages = {layer: tuple(lock[n] for n in sorted(assigned) if assigned[n] == layer) for layer in layers}
    requires = {
        layer: tuple(other for other in layers
                     if other != layer and any(assigned[n] == other for n in _closure(roots, children)))
        for layer, roots in layers.items()
    }
    return LayerPlan(packages, requires)


@cache
def project_plan() -> LayerPlan:
    return plan_layers(read_lock(LAYER_LOCK))


@cache
def _import_owners() -> dict[str, tuple[str, ...]]:
    """Top-level import name -> normalized distributions that install it (from this interpreter's metadata)."""
    return {top: tuple(normalize(d) for d in dists) for top, dists in packages_distributions().items()}


def layers_for_handler(handler: str, plan: LayerPlan | None = None) -> tuple[str, ...]:
    """The layers a handler needs: those holding what its code imports, and the layers those import from."""
    plan = plan or project_plan()
    needed: set[str] = set()
    tops: dict[str, set[str]] = {}
    for name, modules in third_party_imports(handler).items():
        tops.setdefault(name.split(".")[0], set()).update(modules)
    for top, importers in sorted(tops.items()):
        if top in LOCAL_ONLY_IMPORTS:
            continue
        dists = _import_owners().get(top, ())
        if any(d in PROVIDED_BY_RUNTIME for d in dists):
            continue
        owners = {plan.owner(d) for d in dists} - {None}
        if not owners:
            raise ValueError(f"{handler}: {sorted(importers)} import {top!r}, which no layer provides "
                             f"(add its distribution to LAYERS in {__name__} and run `make lock`)")
        needed.update(o for o in owners if o is not None)
    for layer in list(needed):
        needed.update(plan.requires[layer])
    ordered = tuple(layer for layer in plan.packages if layer in needed)
    if len(ordered) > MAX_LAYERS_PER_FUNCTION:
        raise ValueError(f"{handler} needs {len(ordered)} layers, Lambda allows {MAX_LAYERS_PER_FUNCTION}")
    return ordered


def pip_command(requirements_file: Path, target: Path, *, lambda_platform: bool = True) -> list[str]:
    """pip installing exactly the locked (hashed) packages of ``requirements_file``; for Lambda's platform,
    or (``lambda_platform=False``) this machine's, for tests that import the handlers against the layers."""
    platform = [arg for tag in LAMBDA_PLATFORMS for arg in ("--platform", tag)]
    lambda_args = [*platform, "--python-version", LAMBDA_PYTHON, "--implementation", "cp"] if lambda_platform else []
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check",
        *lambda_args, "--only-binary=:all:", "--no-deps", "--require-hashes",
        "--target", str(target), "-r", str(requirements_file),
    ]


def build_layer(
    packages: Sequence[Locked],
    name: str,
    build_dir: Path = BUILD_DIR,
    run: Callable[[list[str]], object] = lambda cmd: subprocess.run(cmd, check=True),
    *,
    lambda_platform: bool = True,
) -> Path:
    """Directory whose ``python/`` holds the packages; rebuilt only when their locked lines change."""
    text = "\n".join(p.text for p in sorted(packages, key=lambda p: p.name)) + "\n"
    flavour = "arm64" if lambda_platform else "host"
    digest = hashlib.sha256(f"{flavour}\n{text}".encode()).hexdigest()[:16]
    layer_dir = build_dir / ("layers" if lambda_platform else "test-layers") / f"{name}-{digest}"
    stamp = layer_dir.parent / f"{layer_dir.name}.complete"  # outside the asset: it must not change its hash
    if not stamp.exists():
        # Built aside, then renamed into place: parallel test workers may build the same layer at once.
        layer_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{layer_dir.name}-", dir=layer_dir.parent))
        try:
            requirements = staging / "requirements.txt"
            requirements.write_text(text)
            (staging / "layer" / "python").mkdir(parents=True)
            run(pip_command(requirements, staging / "layer" / "python", lambda_platform=lambda_platform))
            try:
                (staging / "layer").rename(layer_dir)
            except OSError:
                if not layer_dir.is_dir():
                    raise  # otherwise another build of the same locked lines got there first
            stamp.write_text(text)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return layer_dir


def build_project_layers(build_dir: Path = BUILD_DIR, *, lambda_platform: bool = True) -> dict[str, Path]:
    plan = project_plan()
    return {name: build_layer(packages, name, build_dir, lambda_platform=lambda_platform)
            for name, packages in plan.packages.items()}


def placeholder_layer(name: str, build_dir: Path = BUILD_DIR) -> Path:
    """An empty layer for synths that never run on Lambda (tests, the embedded cloud)."""
    layer_dir = build_dir / "layers" / f"{name}-placeholder"
    (layer_dir / "python").mkdir(parents=True, exist_ok=True)
    (layer_dir / "python" / "PLACEHOLDER.txt").write_text(
        f"The {name} layer, synthesized with CREWHOUSE_LAYER=skip: dependencies come from the local virtualenv.\n"
    )
    return layer_dir


if __name__ == "__main__":  # `make layer`
    for layer_name, path in build_project_layers().items():
        print(layer_name, path)
