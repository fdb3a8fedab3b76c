"""``make deploy-check``: what this machine can prove of ``make deploy``, on the cloud assembly its synth wrote
(real layers from requirements/layer.lock): ``python -m tests.infra.deploy_check cdk.out``.

* every Lambda's handler resolves to a module file in its code asset, defining the handler;
* every state machine definition, its ``DefinitionSubstitutions`` filled with placeholder ARNs, passes the
  npm-pinned ``asl-validator``;
* every function with its layers is within Lambda's limits (250 MB unzipped, 5 layers);
* no asset carries local-only code (``crewhouse/local``, or a package only the embedded cloud, the CDK app or
  the dev tools need);
* cfn-lint and cdk-nag are clean on the template, as ``tests/infra`` requires of the test synth.

Prints the size of every asset, zipped and unzipped, and the largest function with its layers.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crewhouse_cdk.layer import DEV_LOCK, LAYER_LOCK, dependency_closure, normalize, read_lock, requirement_name
from crewhouse_cdk.paths import ROOT
from tests.infra.assembly import Assembly, unzipped_size, zipped_size
from tests.infra.test_cfn_lint import run_cfn_lint
from tests.infra.test_nag import VALIDATION_REPORT, format_violations

UNZIPPED_LIMIT = 262_144_000  # 250 MB: a function's code and all its layers, unzipped
MAX_LAYERS = 5
PLACEHOLDER_ACCOUNT, PLACEHOLDER_REGION = "123456789012", "us-east-1"
LOCAL_ONLY_CODE = "crewhouse/local"


# --- handlers ----------------------------------------------------------------------------------------------


def _defines(path: Path, name: str) -> bool:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return True
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return True
        if isinstance(node, ast.ImportFrom | ast.Import) and any((a.asname or a.name) == name for a in node.names):
            return True
    return False


def handler_problems(assembly: Assembly) -> list[str]:
    problems = []
    for function in assembly.functions:
        handler = assembly.handler(function)
        module, _, attribute = handler.rpartition(".")
        base = assembly.code_dir(function).joinpath(*module.split("."))
        path = next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)
        if path is None:
            problems.append(f"{function}: handler {handler}: no module {module} in its code asset")
        elif not _defines(path, attribute):
            problems.append(f"{function}: handler {handler}: {path.name} defines no {attribute!r}")
    return problems


# --- state machines ----------------------------------------------------------------------------------------

_ARN_SERVICE = {"AWS::Lambda::Function": ("lambda", "function:"), "AWS::SQS::Queue": ("sqs", ""),
                "AWS::SNS::Topic": ("sns", ""), "AWS::DynamoDB::Table": ("dynamodb", "table/"),
                "AWS::Events::EventBus": ("events", "event-bus/"), "AWS::StepFunctions::StateMachine":
                ("states", "stateMachine:"), "AWS::S3::Bucket": ("s3", "")}


def placeholder_value(value: Any, resources: dict[str, Any]) -> str:
    """A stand-in for a substitution: literals as they are, a resource's Arn attribute as an ARN of its
    service, anything else (Ref, other attributes) as the logical ID."""
    if isinstance(value, str):
        return value
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        service, prefix = _ARN_SERVICE.get(resources[logical_id]["Type"], ("unknown", ""))
        if attribute == "Arn":
            region = "" if service == "s3" else PLACEHOLDER_REGION
            account = "" if service == "s3" else PLACEHOLDER_ACCOUNT
            return f"arn:aws:{service}:{region}:{account}:{prefix}{logical_id}"
        return logical_id
    if "Ref" in value:
        return str(value["Ref"])
    raise ValueError(f"cannot stand in for {value!r}")


def state_machine_definitions(assembly: Assembly) -> dict[str, dict[str, Any]]:
    """Each state machine's definition with its substitutions filled in."""
    resources = assembly.template["Resources"]
    definitions = {}
    for name, machine in assembly.resources("AWS::StepFunctions::StateMachine").items():
        props = machine["Properties"]
        text = props["DefinitionString"] if "DefinitionString" in props else json.dumps(props["Definition"])
        assert isinstance(text, str), f"{name}: DefinitionString is not a literal: {text!r}"
        substitutions = props.get("DefinitionSubstitutions", {})
        filled = text
        for key, value in substitutions.items():
            filled = filled.replace(f"${{{key}}}", placeholder_value(value, resources))
        left = re.findall(r"\$\{[A-Za-z0-9_]+\}", filled)
        assert not left, f"{name}: substitutions without a value: {left}"
        definitions[name] = json.loads(filled)
    return definitions


def asl_problems(assembly: Assembly, scratch: Path, npx: Callable[[list[str]], subprocess.CompletedProcess[str]]
                 ) -> list[str]:
    problems = []
    for name, definition in state_machine_definitions(assembly).items():
        path = scratch / f"{name}.asl.json"
        path.write_text(json.dumps(definition, indent=2))
        result = npx(["asl-validator", "--json-path", str(path)])
        if result.returncode != 0:
            problems.append(f"{name}: asl-validator: {(result.stdout + result.stderr).strip()}")
    if not problems and not state_machine_definitions(assembly):
        problems.append("no state machine in the template: nothing was validated")
    return problems


def run_npx(args: list[str]) -> subprocess.CompletedProcess[str]:
    """The project's npm-pinned tool (``npm ci`` installs it; --no-install: never a download at check time)."""
    return subprocess.run(["npx", "--no-install", *args], cwd=ROOT, capture_output=True, text=True, check=False)


# --- sizes and contents ------------------------------------------------------------------------------------


def local_only_distributions() -> set[str]:
    """Packages only the embedded cloud, the CDK app and the dev tools need (from the dev lock)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = read_lock(DEV_LOCK)
    tooling = [requirement_name(r) for extra in project["optional-dependencies"].values() for r in extra]
    runtime = [requirement_name(r) for r in project["dependencies"]]
    return dependency_closure(tooling, lock) - dependency_closure(runtime, lock) - set(read_lock(LAYER_LOCK))


def _distributions(path: Path) -> set[str]:
    return {normalize(p.name.split("-")[0]) for p in path.rglob("*.dist-info")}


def content_problems(assembly: Assembly) -> list[str]:
    local_only = local_only_distributions()
    dirs = {f"function {f}": assembly.code_dir(f) for f in assembly.functions}
    # CDK's own prebuilt layers (the console deployment's AWS CLI) are not built from our locks.
    dirs |= {f"layer {layer}": assembly.layer_dir(layer) for layer in assembly.layers
             if not assembly.prebuilt(assembly.layers[layer]["Properties"]["Content"]["S3Key"])}
    problems = []
    for what, path in sorted(dirs.items()):
        if (path / LOCAL_ONLY_CODE).exists() or any(path.rglob(f"**/{LOCAL_ONLY_CODE}")):
            problems.append(f"{what} ships {LOCAL_ONLY_CODE}")
        if shipped := sorted(_distributions(path) & local_only):
            problems.append(f"{what} ships local-only packages {shipped}")
    return problems


def size_table(assembly: Assembly, scratch: Path) -> tuple[list[str], list[str]]:
    """(report lines, problems): every asset's size, and each function's code plus layers against the limits."""
    unzipped: dict[Path, int] = {}
    lines = [f"{'asset':<48} {'zipped MB':>10} {'unzipped MB':>12}"]
    assets = {f"layer {layer}": assembly.layer_dir(layer) for layer in assembly.layers}
    code_dirs = {assembly.code_dir(f): f for f in assembly.functions}  # one asset when every function shares it
    assets |= {f"code of {function}" + (" (every function)" if len(code_dirs) == 1 else ""): path
               for path, function in code_dirs.items()}
    for what, path in assets.items():
        unzipped[path] = unzipped_size(path)
        lines.append(f"{what:<48} {zipped_size(path, scratch) / 1e6:>10.1f} {unzipped[path] / 1e6:>12.1f}")
    problems = []
    totals = {}
    for function in assembly.functions:
        layers = assembly.layer_ids(function)
        code = assembly.code_dir(function)
        totals[function] = unzipped.get(code) or unzipped_size(code)
        totals[function] += sum(unzipped[assembly.layer_dir(layer)] for layer in layers)
        if totals[function] > UNZIPPED_LIMIT:
            problems.append(f"{function}: {totals[function] / 1e6:.1f} MB unzipped with its layers, over 250 MB")
        if len(layers) > MAX_LAYERS:
            problems.append(f"{function}: {len(layers)} layers, Lambda allows {MAX_LAYERS}")
    by_layers: dict[tuple[str, ...], list[str]] = {}
    for function in assembly.functions:
        by_layers.setdefault(tuple(assembly.layer_ids(function)), []).append(function)
    for combination, functions in sorted(by_layers.items(), key=lambda item: totals[item[1][0]]):
        # DependenciesMediaE9E7254D -> Media
        names = "+".join(re.sub(r"^Dependencies|[0-9A-F]{8}$", "", layer) for layer in combination) or "no layer"
        lines.append(f"{len(functions):>3} functions with {names}: {totals[functions[0]] / 1e6:.1f} MB unzipped")
    largest = max(totals, key=lambda f: totals[f])
    lines.append(f"largest function with its layers: {largest} {totals[largest] / 1e6:.1f} MB unzipped "
                 f"({len(assembly.layer_ids(largest))} layers); smallest {min(totals.values()) / 1e6:.1f} MB")
    return lines, problems


# --- cfn-lint and cdk-nag ----------------------------------------------------------------------------------


def lint_problems(assembly: Assembly) -> list[str]:
    findings = [f"{path.name}: {finding}" for path in assembly.template_paths for finding in run_cfn_lint(path)[0]]
    report_path = assembly.outdir / VALIDATION_REPORT
    if not report_path.is_file():
        return [*findings, f"no {VALIDATION_REPORT}: cdk-nag did not run at synth"]
    report: dict[str, Any] = json.loads(report_path.read_text())
    nag = [f"cdk-nag: {line.strip()}" for line in format_violations(report).splitlines()]
    return [*findings, *nag]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args(argv)
    assembly = Assembly(args.outdir)
    started = time.perf_counter()
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        lines, size_findings = size_table(assembly, scratch)
        print("\n".join(lines))
        problems += size_findings
        problems += handler_problems(assembly)
        problems += content_problems(assembly)
        problems += asl_problems(assembly, scratch, run_npx)
        problems += lint_problems(assembly)
    checked = (f"{len(assembly.functions)} functions, {len(assembly.layers)} layers, "
               f"{len(assembly.resources('AWS::StepFunctions::StateMachine'))} state machines")
    print(f"deploy-check: {checked} checked in {time.perf_counter() - started:.1f} s")
    for problem in problems:
        print(f"  PROBLEM {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
