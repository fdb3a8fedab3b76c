"""The dependency-layer builder, with a fake ``run`` in place of pip: no network, no wheels."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from crewhouse_cdk.layer import build_layer, layer_requirements, pip_command, placeholder_layer, requirement_name

REQUIREMENTS = ["fastapi==0.163.2", "pydantic==2.14.3", "aws-lambda-powertools[tracer]==3.37.0"]


class FakePip:
    """Stands in for ``subprocess.run``: records each command and fills ``--target`` like pip would."""

    def __init__(self, fail: bool = False) -> None:
        self.commands: list[list[str]] = []
        self.fail = fail

    def __call__(self, command: list[str]) -> None:
        self.commands.append(command)
        if self.fail:
            raise RuntimeError("pip failed")
        target = Path(command[command.index("--target") + 1])
        (target / "installed.txt").write_text("\n".join(command[command.index("--target") + 2:]))


def option(command: list[str], name: str) -> str:
    """The value following ``name`` in ``command``."""
    assert name in command, f"{name} missing from {command}"
    return command[command.index(name) + 1]


def test_pip_command_targets_lambda_python_313_on_arm64(tmp_path: Path) -> None:
    command = pip_command(REQUIREMENTS, tmp_path / "python")

    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    assert option(command, "--platform") == "manylinux2014_aarch64"
    assert option(command, "--python-version") == "3.13"
    assert option(command, "--implementation") == "cp"
    assert "--only-binary=:all:" in command  # never build sdists for this machine
    assert option(command, "--target") == str(tmp_path / "python")
    assert command[-len(REQUIREMENTS):] == REQUIREMENTS


def test_build_runs_pip_into_the_layers_python_dir(tmp_path: Path) -> None:
    pip = FakePip()

    layer_dir = build_layer(REQUIREMENTS, tmp_path, run=pip)

    assert len(pip.commands) == 1
    assert pip.commands[0] == pip_command(REQUIREMENTS, layer_dir / "python")
    assert layer_dir.parent == tmp_path
    # Lambda puts a layer's python/ on sys.path: that is where the packages must land.
    assert (layer_dir / "python" / "installed.txt").is_file()


def test_second_build_with_same_requirements_is_cached(tmp_path: Path) -> None:
    pip = FakePip()
    first = build_layer(REQUIREMENTS, tmp_path, run=pip)

    again = build_layer(list(reversed(REQUIREMENTS)), tmp_path, run=pip)  # order does not matter

    assert again == first
    assert len(pip.commands) == 1, "the cache stamp should have skipped pip"


def test_changed_requirements_rebuild_into_a_new_dir(tmp_path: Path) -> None:
    pip = FakePip()
    first = build_layer(REQUIREMENTS, tmp_path, run=pip)

    changed = [*REQUIREMENTS[:-1], "aws-lambda-powertools[tracer]==3.38.0"]
    second = build_layer(changed, tmp_path, run=pip)

    assert second != first
    assert len(pip.commands) == 2
    assert option(pip.commands[1], "--target") == str(second / "python")
    assert pip.commands[1][-len(changed):] == changed
    assert (first / "python" / "installed.txt").is_file(), "the previous layer stays cached"


def test_failed_build_is_not_cached(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        build_layer(REQUIREMENTS, tmp_path, run=FakePip(fail=True))

    pip = FakePip()
    build_layer(REQUIREMENTS, tmp_path, run=pip)

    assert len(pip.commands) == 1, "a failed pip run must not leave a cache stamp behind"


@pytest.mark.parametrize("provided", [
    "boto3==1.44.5", "botocore==1.44.5", "Boto3==1.44.5", "boto3>=1.40", "botocore~=1.44", "boto3[crt]==1.44.5",
    "boto3", "boto3 ; python_version >= '3.11'",
])
def test_runtime_provided_sdk_is_left_out(tmp_path: Path, provided: str) -> None:
    pyproject = tmp_path / "pyproject.toml"
    deps = ["fastapi==0.163.2", provided, "boto3-stubs==1.44.0", "mypy-boto3-dynamodb==1.44.0"]
    pyproject.write_text("[project]\nname = 'x'\ndependencies = [\n" + "".join(f'  "{d}",\n' for d in deps) + "]\n")

    # Lambda's runtime ships boto3/botocore; other packages merely named like them are real dependencies.
    assert layer_requirements(pyproject) == ["fastapi==0.163.2", "boto3-stubs==1.44.0", "mypy-boto3-dynamodb==1.44.0"]


def test_project_layer_requirements_are_the_runtime_dependencies_without_boto3() -> None:
    requirements = layer_requirements()

    names = {requirement_name(r) for r in requirements}
    assert "boto3" not in names and "botocore" not in names
    assert {"aws-lambda-powertools", "fastapi", "mangum", "pydantic"} <= names


def test_placeholder_layer_is_an_empty_python_dir(tmp_path: Path) -> None:
    layer_dir = placeholder_layer(tmp_path)

    assert [p.name for p in (layer_dir / "python").iterdir()] == ["PLACEHOLDER.txt"]
