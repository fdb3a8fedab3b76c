"""The coverage floor (pyproject [tool.coverage.report] fail_under) may only rise: checked against HEAD~1.

CI runs on a clone of main with its history, so HEAD~1 is the commit before the one under test. A repository
with one commit has no earlier floor: the comparison is then against 0, which any floor meets."""

import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _floor(pyproject_text: str) -> float:
    return float(
        tomllib.loads(pyproject_text).get("tool", {}).get("coverage", {}).get("report", {}).get("fail_under", 0)
    )


def _previous_pyproject() -> str:
    """pyproject.toml at HEAD~1; empty when there is no earlier commit. Any other git failure fails the test."""
    if subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD~1"], cwd=ROOT, capture_output=True,
                      check=False).returncode != 0:
        return ""
    return subprocess.run(["git", "show", "HEAD~1:pyproject.toml"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


def test_coverage_floor_never_drops_below_the_previous_commits() -> None:
    current = _floor((ROOT / "pyproject.toml").read_text())
    previous = _floor(_previous_pyproject())
    assert current >= previous, f"the coverage floor (fail_under) may only rise: {previous:g} -> {current:g}"
    assert current >= 80, "the issue's minimum floor is 80 %"
