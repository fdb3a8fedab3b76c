"""Every golden definition and a large generated flow pass the npm-pinned ``asl-validator`` (package.json).

``make test`` installs it (``node_modules/.package-lock.json``); alone: ``make node_modules/.package-lock.json``.
``--no-install``: a missing validator fails the test instead of downloading one.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from crewhouse.flows.compiler import compile_flow, dumps
from tests.unit.flows.builders import RUNNER_ARN, generated_flow
from tests.unit.flows.test_compiler import golden_paths

ROOT = Path(__file__).resolve().parents[3]


def _validate(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    arguments = [argument for path in paths for argument in ("--json-path", str(path))]
    return subprocess.run(["npx", "--no-install", "asl-validator", "--silent", *arguments], cwd=ROOT,
                          capture_output=True, text=True, check=False)


def test_every_golden_definition_passes_asl_validator() -> None:
    paths = golden_paths()
    assert len(paths) >= 11
    result = _validate(paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_large_generated_flow_passes_asl_validator(tmp_path: Path) -> None:
    path = tmp_path / "large.asl.json"
    path.write_text(dumps(compile_flow(generated_flow(200), node_runner_arn=RUNNER_ARN)))
    result = _validate([path])
    assert result.returncode == 0, result.stdout + result.stderr


def test_asl_validator_rejects_a_broken_definition(tmp_path: Path) -> None:
    """The check can fail: a Next naming no state is refused."""
    definition = json.loads(dumps(compile_flow(generated_flow(20), node_runner_arn=RUNNER_ARN)))
    definition["States"]["start"]["Next"] = "nowhere"
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(definition))
    assert _validate([path]).returncode != 0
