"""The coverage floor (pyproject [tool.coverage.report] fail_under) may only rise: checked against HEAD~1."""

import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _floor(pyproject_text: str) -> float:
    return float(
        tomllib.loads(pyproject_text).get("tool", {}).get("coverage", {}).get("report", {}).get("fail_under", 0)
    )


def test_coverage_floor_never_drops_below_the_previous_commits() -> None:
    previous = subprocess.run(
        ["git", "show", "HEAD~1:pyproject.toml"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if previous.returncode != 0:
        has_history = subprocess.run(["git", "rev-parse", "HEAD~1"], cwd=ROOT, capture_output=True, check=False)
        if has_history.returncode != 0:
            pytest.skip("no previous commit to compare with (a shallow or fresh repository)")
        pytest.fail(f"git show HEAD~1:pyproject.toml failed: {previous.stderr}")
    current = _floor((ROOT / "pyproject.toml").read_text())
    assert current >= _floor(previous.stdout), "the coverage floor (fail_under) may only rise"
