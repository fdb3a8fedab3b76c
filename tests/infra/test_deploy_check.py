"""The checks of ``make deploy-check`` (tests/infra/deploy_check.py): on the session's synth (placeholder
layers, the real code asset), and on small hand-made assemblies that break one rule each."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra import deploy_check
from tests.infra.assembly import Assembly
from tests.infra.conftest import Synthesized


def fake_assembly(tmp_path: Path, handler: str, files: dict[str, str], layer_files: dict[str, str] | None = None,
                  ) -> Assembly:
    """One function (its code asset holds ``files``) and, optionally, one layer holding ``layer_files``."""
    resources: dict[str, Any] = {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "Handler": handler, "Code": {"S3Key": "code.zip"}, "Layers": []}}}
    for asset, contents in (("code", files), ("layer", layer_files)):
        if contents is None:
            continue
        for name, text in contents.items():
            path = tmp_path / f"asset.{asset}" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if layer_files is not None:
        resources["Layer"] = {"Type": "AWS::Lambda::LayerVersion", "Properties": {"Content": {"S3Key": "layer.zip"}}}
        resources["Fn"]["Properties"]["Layers"] = [{"Ref": "Layer"}]
    (tmp_path / "Stack.template.json").write_text(json.dumps({"Resources": resources}))
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"artifacts": {"Stack": {"properties": {"templateFile": "Stack.template.json"}}}}))
    return Assembly(tmp_path, stack="Stack")


def test_the_synthesized_assembly_passes_the_static_checks(synth_ok: Synthesized, tmp_path: Path) -> None:
    assembly = Assembly(synth_ok.outdir)

    assert deploy_check.handler_problems(assembly) == []
    assert deploy_check.content_problems(assembly) == []
    lines, problems = deploy_check.size_table(assembly, tmp_path)
    assert problems == []
    # The app's layers are placeholders in this synth: CDK's AWS CLI layer (the console's deployment) is the largest.
    assert any(line.startswith("largest function with its layers: CustomCDKBucketDeployment") for line in lines)


@pytest.mark.parametrize(("handler", "files", "problem"), [
    ("app.missing.handler", {"app/__init__.py": ""}, "no module app.missing"),
    ("app.api.handler", {"app/__init__.py": "", "app/api.py": "def other(): ...\n"}, "defines no 'handler'"),
])
def test_a_handler_that_does_not_resolve_is_a_problem(tmp_path: Path, handler: str, files: dict[str, str],
                                                      problem: str) -> None:
    assert problem in " ".join(deploy_check.handler_problems(fake_assembly(tmp_path, handler, files)))


@pytest.mark.parametrize("source", ["def handler(event, context): ...\n", "handler = make()\n",
                                    "from app.core import handler\n", "handler: object = make()\n"])
def test_a_handler_defined_any_usual_way_resolves(tmp_path: Path, source: str) -> None:
    assembly = fake_assembly(tmp_path, "app.api.handler", {"app/__init__.py": "", "app/api.py": source})

    assert deploy_check.handler_problems(assembly) == []


def test_local_only_code_or_packages_in_an_asset_are_problems(tmp_path: Path) -> None:
    assembly = fake_assembly(
        tmp_path, "crewhouse.api.handler",
        {"crewhouse/api.py": "handler = 1\n", "crewhouse/local/cli.py": ""},
        {"python/moto-5.2.5.dist-info/METADATA": "", "python/fastapi-0.163.2.dist-info/METADATA": ""},
    )

    problems = deploy_check.content_problems(assembly)

    assert "function Fn ships crewhouse/local" in problems
    assert "layer Layer ships local-only packages ['moto']" in problems
    assert len(problems) == 2  # fastapi is a runtime dependency


def test_uvicorn_and_pyjwt_are_not_local_only_because_mcp_needs_them() -> None:
    local_only = deploy_check.local_only_distributions()

    assert {"moto", "aws-cdk-lib", "cdk-nag", "pytesseract", "pypdfium2", "pytest", "uv"} <= local_only
    assert not {"uvicorn", "pyjwt", "fastapi", "pillow"} & local_only


def test_a_function_over_lambdas_limits_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assembly = fake_assembly(tmp_path, "app.handler", {"app.py": "x" * 600}, {"python/big.bin": "y" * 500})
    monkeypatch.setattr(deploy_check, "UNZIPPED_LIMIT", 1000)

    _, problems = deploy_check.size_table(assembly, tmp_path)

    assert problems == ["Fn: 0.0 MB unzipped with its layers, over 250 MB"]


def test_state_machine_substitutions_become_placeholder_arns(synth_ok: Synthesized) -> None:
    definitions = deploy_check.state_machine_definitions(Assembly(synth_ok.outdir))

    assert definitions, "the template has the agent job state machine"
    text = json.dumps(definitions)
    assert "${" not in text
    assert '"arn:aws:lambda:us-east-1:123456789012:function:JobsJobStepFunction' in text


def test_asl_validator_is_run_on_every_definition_and_its_verdict_counts(synth_ok: Synthesized,
                                                                         tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def npx(args: list[str]) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        definition = json.loads(Path(args[args.index("--json-path") + 1]).read_text())
        ok = "States" in definition
        return subprocess.CompletedProcess(args, 0 if ok else 1, "" if ok else "missing States", "")

    assembly = Assembly(synth_ok.outdir)
    assert deploy_check.asl_problems(assembly, tmp_path, npx) == []
    assert len(calls) == len(assembly.resources("AWS::StepFunctions::StateMachine"))
    assert all(call[0] == "asl-validator" for call in calls)

    def failing(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, 1, "", "States.Foo is not valid")

    assert "asl-validator: States.Foo is not valid" in " ".join(deploy_check.asl_problems(assembly, tmp_path, failing))
