"""The dependency layer, built with ``pip --platform`` (never Docker) and cached under build/.

Lambda runs Python 3.13 on arm64, so wheels are chosen for that platform explicitly; without
``--python-version`` pip would pick this machine's 3.11 wheels and pydantic-core would not import on Lambda.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

from crewhouse_cdk.paths import BUILD_DIR, ROOT

LAMBDA_PYTHON = "3.13"
LAMBDA_PLATFORM = "manylinux2014_aarch64"
# Provided by the Lambda runtime; packaging them would only grow the layer.
PROVIDED_BY_RUNTIME = ("boto3", "botocore")
# A PEP 508 requirement starts with the project name; extras, specifiers and markers follow it.
_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")


def requirement_name(requirement: str) -> str:
    """The normalized (PEP 503) project name of a requirement: ``Boto3[crt]>=1.40`` -> ``boto3``."""
    match = _REQUIREMENT_NAME.match(requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def layer_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [d for d in deps if requirement_name(d) not in PROVIDED_BY_RUNTIME]


def pip_command(requirements: Sequence[str], target: Path) -> list[str]:
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
        "--platform", LAMBDA_PLATFORM, "--python-version", LAMBDA_PYTHON, "--implementation", "cp",
        "--only-binary=:all:", "--target", str(target), *requirements,
    ]


def build_layer(
    requirements: Sequence[str] | None = None,
    build_dir: Path = BUILD_DIR,
    run: Callable[[list[str]], object] = lambda cmd: subprocess.run(cmd, check=True),
) -> Path:
    """Directory whose ``python/`` holds the dependencies; rebuilt only when the requirements change."""
    requirements = list(requirements if requirements is not None else layer_requirements())
    digest = hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:16]
    layer_dir = build_dir / f"layer-{digest}"
    stamp = layer_dir / ".complete"
    if not stamp.exists():
        target = layer_dir / "python"
        target.mkdir(parents=True, exist_ok=True)
        run(pip_command(requirements, target))
        stamp.write_text("\n".join(requirements) + "\n")
    return layer_dir


def placeholder_layer(build_dir: Path = BUILD_DIR) -> Path:
    """An empty layer for synths that never run on Lambda (tests, the embedded cloud)."""
    layer_dir = build_dir / "layer-placeholder"
    (layer_dir / "python").mkdir(parents=True, exist_ok=True)
    (layer_dir / "python" / "PLACEHOLDER.txt").write_text(
        "Synthesized with CREWHOUSE_LAYER=skip: dependencies come from the local virtualenv.\n"
    )
    return layer_dir
