"""What is being deployed: the project's version (pyproject.toml) and the git commit, for ``/health``.

The commit comes from the ``crewhouse:commit`` context when a pipeline passes it, else from git at synth
time, else ``unknown`` (a source archive without .git)."""

from __future__ import annotations

import subprocess
import tomllib
from dataclasses import dataclass

from constructs import Construct

from crewhouse_cdk.paths import ROOT

COMMIT_CONTEXT = "crewhouse:commit"


@dataclass(frozen=True)
class Release:
    version: str
    commit: str

    def environment(self) -> dict[str, str]:
        return {"RELEASE_VERSION": self.version, "RELEASE_COMMIT": self.commit}


def release_of(scope: Construct) -> Release:
    version = str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])
    commit = scope.node.try_get_context(COMMIT_CONTEXT) or _git_commit()
    return Release(version=version, commit=str(commit))


def _git_commit() -> str:
    try:
        found = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.strip() or "unknown"
