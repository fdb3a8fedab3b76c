"""The delivery pipeline (issue 21): CDK Pipelines from the repository's branch through a CodeStar connection; the
synth installs from the lock file, runs ``make test`` and synthesizes this app; then the ``staging`` stage, a smoke
test against staging's stack outputs (``tests/e2e``), a manual approval, and ``prod``. Docs: ``docs/deploy.md``.

Built by :func:`crewhouse_cdk.app.build_app` only with the context ``crewhouse:pipeline`` set: ``make synth`` and the
embedded cloud never see it. Its settings come from CDK context (``cdk.context.json`` in the repository, so that the
pipeline's own synth finds them): see :class:`PipelineSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import pipelines
from constructs import Construct

from crewhouse_cdk.nag import acknowledge, logical_id, nag_arn

PIPELINE_CONTEXT = "crewhouse:pipeline"
PIPELINE_STACK_NAME = "CrewhousePipeline"

# What the synth runs: the venv and the CDK CLI from their locks, every test tier, then this app with the pipeline.
DEV_ENVIRONMENT = "make .venv/.installed-dev"  # the Makefile's stamp of a venv made exactly requirements/dev.lock
INSTALL_COMMANDS = [DEV_ENVIRONMENT, "npm ci --no-audit --no-fund"]
SYNTH_COMMANDS = [
    "make test",
    f'PATH="$PWD/.venv/bin:$PATH" CREWHOUSE_LAYER=build npx cdk synth --quiet -c {PIPELINE_CONTEXT}=true',
]
ARTIFACT_ACTIONS = ("s3:Abort*", "s3:DeleteObject*", "s3:GetBucket*", "s3:GetObject*", "s3:List*",
                    "kms:GenerateDataKey*", "kms:ReEncrypt*")
# Against staging's outputs (CREWHOUSE_API_URL …): a skip would pass silently, so the tests must run.
SMOKE_COMMANDS = [DEV_ENVIRONMENT, "CREWHOUSE_E2E_REQUIRED=1 .venv/bin/pytest -p no:cacheprovider -x tests/e2e"]


@dataclass(frozen=True)
class PipelineSettings:
    """From CDK context: ``crewhouse:repository`` (owner/name), ``crewhouse:branch`` (default ``main``),
    ``crewhouse:connectionArn`` (a CodeStar/CodeConnections connection to the repository host), and the accounts
    and region of each stage (``crewhouse:stagingAccount``, ``crewhouse:prodAccount``, ``crewhouse:region``;
    default: the pipeline's own account and region)."""

    repository: str
    branch: str
    connection_arn: str
    staging: cdk.Environment
    prod: cdk.Environment

    @classmethod
    def from_context(cls, scope: Construct) -> PipelineSettings:
        def context(name: str, default: str | None = None) -> str | None:
            value = scope.node.try_get_context(f"crewhouse:{name}")
            return str(value) if value else default

        repository, connection_arn = context("repository"), context("connectionArn")
        if not repository or not connection_arn:
            raise ValueError("the pipeline needs the context crewhouse:repository (owner/name) and "
                             "crewhouse:connectionArn (see docs/deploy.md)")
        region = context("region")
        return cls(repository=repository, branch=context("branch", "main") or "main", connection_arn=connection_arn,
                   staging=cdk.Environment(account=context("stagingAccount"), region=region),
                   prod=cdk.Environment(account=context("prodAccount"), region=region))

    @property
    def cross_account(self) -> bool:
        return self.staging.account is not None or self.prod.account is not None


class CrewhouseStage(cdk.Stage):
    """One deployment of the app (a :mod:`crewhouse_cdk.stage` stage) as a pipeline stage."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        from crewhouse_cdk.app import build_stage  # the app module builds this one: imported when used

        self.stack = build_stage(self, stage, env=cdk.Environment(account=self.account, region=self.region))

    def output(self, name: str) -> cdk.CfnOutput:
        found = self.stack.node.find_child(name)
        assert isinstance(found, cdk.CfnOutput), name
        return found


class PipelineStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: PipelineSettings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        cdk.Tags.of(self).add("project", "crewhouse")
        cdk.Tags.of(self).add("context", "delivery")
        source = pipelines.CodePipelineSource.connection(settings.repository, settings.branch,
                                                         connection_arn=settings.connection_arn)
        self.pipeline = pipelines.CodePipeline(
            self, "Pipeline",
            synth=pipelines.ShellStep("Synth", input=source, install_commands=INSTALL_COMMANDS,
                                      commands=SYNTH_COMMANDS, primary_output_directory="cdk.out"),
            self_mutation=True,
            cross_account_keys=settings.cross_account,  # other accounts decrypt the artifacts with a KMS key
            enable_key_rotation=settings.cross_account,
            code_build_defaults=pipelines.CodeBuildOptions(build_environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_7_0, compute_type=codebuild.ComputeType.LARGE)),
        )
        self.staging = CrewhouseStage(self, "Staging", stage="staging", env=settings.staging)
        self.pipeline.add_stage(self.staging, post=[pipelines.ShellStep(
            "SmokeTest", input=source, commands=SMOKE_COMMANDS,
            env_from_cfn_outputs={"CREWHOUSE_API_URL": self.staging.output("ApiUrl")})])
        self.prod = CrewhouseStage(self, "Prod", stage="prod", env=settings.prod)
        self.pipeline.add_stage(self.prod, pre=[pipelines.ManualApprovalStep(
            "PromoteToProd", comment="Staging passed its smoke test: promote this commit to prod?")])
        self.pipeline.build_pipeline()
        _acknowledge_pipeline_findings(self.pipeline)


def _acknowledge_pipeline_findings(pipeline: pipelines.CodePipeline) -> None:
    """CDK Pipelines builds these roles itself; the wildcards cdk-nag finds in them, and why each stands."""
    acknowledge(pipeline.pipeline.artifact_bucket, "AwsSolutions-S1",
                "The artifact bucket holds build artifacts written and read by the pipeline's roles only (TLS "
                "enforced, encrypted); CloudTrail records who touched it, access logs would add a bucket no one reads.")
    bucket = logical_id(pipeline.pipeline.artifact_bucket)
    for action in ARTIFACT_ACTIONS:
        acknowledge(pipeline, f"AwsSolutions-IAM5[Action::{action}]",
                    "CDK Pipelines' grants on the pipeline's own artifact bucket and key (read and write of "
                    "build artifacts); they name no other bucket or key.")
    acknowledge(pipeline, f"AwsSolutions-IAM5[Resource::<{bucket}.Arn>/*]",
                "Artifacts are objects named per execution in the pipeline's own bucket.")
    for project in pipeline.node.find_all():
        if isinstance(project, codebuild.Project):
            name = f"<{logical_id(project)}>"
            logs, reports = (nag_arn(pipeline, "logs", f"log-group:/aws/codebuild/{name}:*"),
                             nag_arn(pipeline, "codebuild", f"report-group/{name}-*"))
            acknowledge(pipeline, f"AwsSolutions-IAM5[Resource::{logs}]",
                        "A CodeBuild project writes log streams named per build in its own log group.")
            acknowledge(pipeline, f"AwsSolutions-IAM5[Resource::{reports}]",
                        "A CodeBuild project's test report groups are named after it and created per build.")
    acknowledge(pipeline, f"AwsSolutions-IAM5[Resource::{nag_arn(pipeline, 'logs', 'log-group:/aws/codebuild/*')}]",
                "The asset publishing projects are created per asset by CDK Pipelines; they share one role.")
    acknowledge(pipeline, f"AwsSolutions-IAM5[Resource::{nag_arn(pipeline, 'codebuild', 'report-group/*')}]",
                "The asset publishing projects are created per asset by CDK Pipelines; they share one role.")
    acknowledge(pipeline, "AwsSolutions-IAM5[Resource::*]",
                "Self-mutation and asset publishing assume the CDK bootstrap roles (cdk-hnb659fds-*) of every "
                "target account, whose names CDK Pipelines does not know at synth; those roles hold the rights.")
    acknowledge(pipeline, "AwsSolutions-IAM5[Resource::"
                f"arn:*:iam::{cdk.Stack.of(pipeline).account}:role/*]",
                "Self-mutation reads the CDK bootstrap roles of the pipeline's account (cdk diff/deploy of itself).")
