"""The delivery pipeline (issue 21): its synth installs from the locks and runs ``make test``, then staging, a smoke
test on staging's outputs, a manual approval and prod, in that order; cdk-nag (AwsSolutions) finds nothing
unacknowledged in the pipeline stack or in the stages it deploys."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from crewhouse.local.nested_stacks import nested_template_files
from crewhouse_cdk.app import build_app
from crewhouse_cdk.pipeline_stack import PIPELINE_CONTEXT, PIPELINE_STACK_NAME, PipelineSettings, PipelineStack
from tests.infra.test_cfn_lint import run_cfn_lint

CONTEXT: dict[str, Any] = {PIPELINE_CONTEXT: "true", "crewhouse:repository": "example/crewhouse",
           "crewhouse:connectionArn": "arn:aws:codeconnections:eu-west-1:111111111111:connection/abc",
           "crewhouse:stagingAccount": "222222222222", "crewhouse:prodAccount": "333333333333",
           "crewhouse:region": "eu-west-1",
           # What `cdk synth` with credentials caches in cdk.context.json (the code sandbox VPC's zones); without
           # it CDK writes placeholder zones (dummy1a), which cfn-lint rightly flags.
           **{f"availability-zones:account={account}:region=eu-west-1": ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
              for account in ("222222222222", "333333333333")}}


@dataclass
class PipelineSynth:
    outdir: Path
    stack: PipelineStack
    error: BaseException | None

    @property
    def template(self) -> Template:
        return Template.from_json(json.loads((self.outdir / self.stack.template_file).read_text()))

    def stages(self) -> list[dict[str, Any]]:
        pipelines = self.template.find_resources("AWS::CodePipeline::Pipeline")
        assert len(pipelines) == 1
        return list(next(iter(pipelines.values()))["Properties"]["Stages"])

    def actions(self, stage: str) -> list[dict[str, Any]]:
        found = [s for s in self.stages() if s["Name"] == stage]
        assert found, f"no stage {stage}: {[s['Name'] for s in self.stages()]}"
        return sorted(found[0]["Actions"], key=lambda a: a["RunOrder"])

    def build_spec(self, action: dict[str, Any]) -> dict[str, Any]:
        """The inline buildspec of the CodeBuild project a pipeline action runs."""
        project_ref = action["Configuration"]["ProjectName"]["Ref"]
        project = self.template.to_json()["Resources"][project_ref]
        return dict(json.loads(project["Properties"]["Source"]["BuildSpec"]))


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch) -> PipelineSynth:
    outdir = tmp_path_factory.mktemp("pipeline.out")
    for var in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION", "CREWHOUSE_LAYER"):
        monkeypatch_module.delenv(var, raising=False)
    monkeypatch_module.setenv("CDK_DEFAULT_ACCOUNT", "111111111111")
    monkeypatch_module.setenv("CDK_DEFAULT_REGION", "eu-west-1")
    app = build_app(outdir, layer_mode="skip", context=CONTEXT)
    error: BaseException | None = None
    try:
        app.synth()
    except Exception as exc:  # cdk-nag's findings surface as a jsii RuntimeError (ValidationFailed)
        error = exc
    stack = app.node.find_child(PIPELINE_STACK_NAME)
    assert isinstance(stack, PipelineStack)
    return PipelineSynth(outdir=outdir, stack=stack, error=error)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_synth_passes_cdk_nag_for_the_pipeline_and_both_stages(synth: PipelineSynth) -> None:
    assert synth.error is None, str(synth.error)


def test_the_pipeline_needs_a_repository_and_a_connection() -> None:
    app = cdk.App(context={PIPELINE_CONTEXT: "true", "crewhouse:repository": "example/crewhouse"})
    with pytest.raises(ValueError, match="connectionArn"):
        PipelineSettings.from_context(app)


def test_stages_run_source_synth_self_mutation_staging_then_prod(synth: PipelineSynth) -> None:
    assert [stage["Name"] for stage in synth.stages()] == ["Source", "Build", "UpdatePipeline", "Assets",
                                                            "Staging", "Prod"]


def test_the_source_is_the_repository_s_branch_through_the_connection(synth: PipelineSynth) -> None:
    (source,) = synth.actions("Source")
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["FullRepositoryId"] == "example/crewhouse"
    assert source["Configuration"]["BranchName"] == "main"
    assert source["Configuration"]["ConnectionArn"] == CONTEXT["crewhouse:connectionArn"]


def test_the_synth_installs_from_the_locks_and_runs_make_test(synth: PipelineSynth) -> None:
    (build,) = synth.actions("Build")
    spec = synth.build_spec(build)
    install, commands = spec["phases"]["install"]["commands"], spec["phases"]["build"]["commands"]
    assert "make .venv/.installed-dev" in install and any(c.startswith("npm ci") for c in install)
    assert commands[0] == "make test"
    assert any("cdk synth" in c and f"-c {PIPELINE_CONTEXT}=true" in c for c in commands[1:])


def test_staging_deploys_then_its_smoke_test_runs_on_its_outputs(synth: PipelineSynth) -> None:
    actions = synth.actions("Staging")
    deploys = [a for a in actions if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    assert {a["Configuration"].get("StackName") for a in deploys} == {"Crewhouse-staging"}
    smoke = actions[-1]
    assert smoke["Name"] == "SmokeTest" and smoke["RunOrder"] > max(a["RunOrder"] for a in deploys)
    spec = synth.build_spec(smoke)
    assert any("CREWHOUSE_E2E_REQUIRED=1" in c and "tests/e2e" in c for c in spec["phases"]["build"]["commands"])
    variables = json.loads(smoke["Configuration"]["EnvironmentVariables"])
    assert [v["name"] for v in variables if v["type"] == "PLAINTEXT" and v["name"] == "CREWHOUSE_API_URL"]


def test_prod_waits_for_a_manual_approval(synth: PipelineSynth) -> None:
    actions = synth.actions("Prod")
    assert actions[0]["ActionTypeId"]["Category"] == "Approval"
    deploys = [a for a in actions if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    assert {a["Configuration"].get("StackName") for a in deploys} == {"Crewhouse-prod"}
    assert min(a["RunOrder"] for a in deploys) > actions[0]["RunOrder"]


def test_stages_deploy_to_their_own_accounts_with_cross_account_keys(synth: PipelineSynth) -> None:
    assert synth.stack.staging.stack.account == "222222222222"
    assert synth.stack.prod.stack.account == "333333333333"
    synth.template.resource_count_is("AWS::KMS::Key", 1)


def test_the_pipeline_mutates_itself(synth: PipelineSynth) -> None:
    (update,) = synth.actions("UpdatePipeline")
    assert update["Name"] == "SelfMutate"


# Canary deployments, on the prod stage the pipeline deploys (the dev stage has none: the embedded cloud's
# CloudFormation deploys no CodeDeploy resources).
# cfn-lint's style rule "prefer Fn::Sub over Fn::Join" on the deploy actions' RoleArn, which CDK Pipelines writes
# itself (the target account's CDK bootstrap role); the only finding ignored, and only in the pipeline's template.
PIPELINE_STYLE = "E3703 "
# A stage bound to an account and region names its VPC's zones (the code sandbox's ec2.Vpc): cfn-lint's warning
# on hardcoded zones. The dev stage's environment-agnostic template (test_cfn_lint) uses Fn::GetAZs instead.
ZONES = "W3010 "
CANARY_CONFIG = "CodeDeployDefault.LambdaCanary10Percent5Minutes"


def _stage_resources(synth: PipelineSynth) -> dict[str, dict[str, Any]]:
    """Every resource of the prod stage's stack and its nested stacks, by ``<template>/<logical id>``."""
    stage, stack = synth.stack.prod, synth.stack.prod.stack
    outdir = Path(stage.outdir)
    files = {outdir / stack.template_file, *nested_template_files(outdir, stack.artifact_id).values()}
    return {f"{path.name}/{logical_id}": resource for path in sorted(files)
            for logical_id, resource in json.loads(path.read_text())["Resources"].items()}


def test_every_api_function_has_a_canary_deployment_group(synth: PipelineSynth) -> None:
    resources = _stage_resources(synth)
    http_integrations = [r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Integration"
                         and r["Properties"].get("PayloadFormatVersion") == "2.0"]
    groups = [r for r in resources.values() if r["Type"] == "AWS::CodeDeploy::DeploymentGroup"]
    aliases = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Alias"]
    assert len(http_integrations) > 20
    assert len(groups) == len(aliases) == len(http_integrations)
    for group in groups:
        properties = group["Properties"]
        assert properties["DeploymentConfigName"] == CANARY_CONFIG
        assert properties["AlarmConfiguration"]["Enabled"] is True
        assert len(properties["AlarmConfiguration"]["Alarms"]) == 2  # the alias's errors and the API's 5xx
        assert set(properties["AutoRollbackConfiguration"]["Events"]) >= {"DEPLOYMENT_FAILURE",
                                                                          "DEPLOYMENT_STOP_ON_ALARM"}
    for alias in aliases:
        assert alias["Properties"]["Name"] == "live"
        assert "CodeDeployLambdaAliasUpdate" in alias["UpdatePolicy"]


def test_api_routes_reach_the_live_alias_not_the_function(synth: PipelineSynth) -> None:
    resources = _stage_resources(synth)
    functions = {key.split("/")[1] for key, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    for key, resource in resources.items():
        if resource["Type"] == "AWS::ApiGatewayV2::Integration" and "PayloadFormatVersion" in resource["Properties"]:
            uri = resource["Properties"]["IntegrationUri"]
            assert not (isinstance(uri, dict) and "Fn::GetAtt" in uri and uri["Fn::GetAtt"][0] in functions), key


def test_the_api_5xx_alarm_rolls_back_every_group(synth: PipelineSynth) -> None:
    resources = _stage_resources(synth)
    api_5xx = [key for key, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"
               and "api-5xx" in str(r["Properties"].get("AlarmDescription"))]
    assert len(api_5xx) == 1
    api_5xx_id = api_5xx[0].split("/")[1]
    for key, group in resources.items():
        if group["Type"] == "AWS::CodeDeploy::DeploymentGroup":
            assert api_5xx_id in json.dumps(group["Properties"]["AlarmConfiguration"]["Alarms"]) or \
                "Api5xx" in json.dumps(group["Properties"]["AlarmConfiguration"]["Alarms"]), key


def test_cfn_lint_finds_nothing_in_the_pipeline_or_the_prod_stage(synth: PipelineSynth) -> None:
    """The main stack's cfn-lint test covers the dev stage; this one the pipeline and the canary's resources."""
    stage, stack = synth.stack.prod, synth.stack.prod.stack
    outdir = Path(stage.outdir)
    paths = [synth.outdir / synth.stack.template_file, outdir / stack.template_file,
             *sorted(set(nested_template_files(outdir, stack.artifact_id).values()))]
    assert len(paths) > 3
    ignored = {path: (PIPELINE_STYLE,) if path == paths[0] else (ZONES,) for path in paths}
    findings = {path.name: [f for f in run_cfn_lint(path)[0] if not f.startswith(ignored[path])] for path in paths}
    assert not {name: found for name, found in findings.items() if found}
