"""/health's release: the version from pyproject.toml and the commit a pipeline passes, else git's."""

import tomllib

import aws_cdk as cdk

from crewhouse_cdk.paths import ROOT
from crewhouse_cdk.release import COMMIT_CONTEXT, release_of


def test_a_pipeline_names_the_commit() -> None:
    app = cdk.App(context={COMMIT_CONTEXT: "feedbeef1234"})
    release = release_of(app)
    assert release.commit == "feedbeef1234"
    assert release.version == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert release.environment() == {"RELEASE_VERSION": release.version, "RELEASE_COMMIT": "feedbeef1234"}


def test_without_context_the_commit_is_gits_or_unknown() -> None:
    commit = release_of(cdk.App()).commit
    assert commit == "unknown" or (len(commit) == 12 and int(commit, 16) >= 0)
