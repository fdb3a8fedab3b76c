"""Builds the CDK app: one stack for the stage named by the context ``crewhouse:stage`` (:mod:`crewhouse_cdk.stage`),
cdk-nag AwsSolutions checks at synth; with the context ``crewhouse:pipeline``, the delivery pipeline's stack instead
(:mod:`crewhouse_cdk.pipeline_stack`)."""

from __future__ import annotations

import os
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from crewhouse_cdk.pipeline_stack import PIPELINE_CONTEXT, PIPELINE_STACK_NAME, PipelineSettings, PipelineStack
from crewhouse_cdk.stack import CrewhouseStack
from crewhouse_cdk.stage import DEFAULT_STAGE, stack_name, stage_of

STACK_NAME = stack_name(DEFAULT_STAGE)  # the dev stage's: the embedded cloud and the tests deploy this one
# Feature flags live here (not cdk.json) so that tests and the embedded cloud synthesize the same template.
FEATURE_FLAGS = {
    "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
    "@aws-cdk/core:checkSecretUsage": True,
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/aws-apigateway:disableCloudWatchRole": True,
    "@aws-cdk/core:enablePartitionLiterals": True,
}


def build_app(outdir: str | Path | None = None, *, layer_mode: str | None = None,
              context: dict[str, str] | None = None) -> cdk.App:
    """``layer_mode``: ``build`` (pip --platform, cached; the default for deploys) or ``skip``
    (an empty placeholder layer: tests and the embedded cloud, where dependencies come from the venv).
    ``context``: more context values (the embedded cloud's push applications)."""
    values: dict[str, object] = {**FEATURE_FLAGS, **(context or {}),
                                 "crewhouse:layer": layer_mode or os.environ.get("CREWHOUSE_LAYER", "build")}
    app = cdk.App(outdir=str(outdir) if outdir else None, context=values)
    if app.node.try_get_context(PIPELINE_CONTEXT):
        PipelineStack(app, PIPELINE_STACK_NAME, settings=PipelineSettings.from_context(app), env=_environment(),
                      description="Crewhouse: the delivery pipeline (staging, smoke test, approval, prod)")
    else:
        build_stage(app, stage_of(app))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app


def build_stage(scope: Construct, stage: str, env: cdk.Environment | None = None) -> CrewhouseStack:
    """The Crewhouse stack of ``stage`` in ``scope`` (an app, or a pipeline's ``cdk.Stage``)."""
    name = stack_name(stage)
    return CrewhouseStack(
        scope, name, stack_name=name, stage=stage,
        env=env or _environment(),
        description="Crewhouse: serverless AI-agent workspace",
    )


def _environment() -> cdk.Environment:
    """The account and region of the CLI's credentials (unset: an environment-agnostic template)."""
    return cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION"))
