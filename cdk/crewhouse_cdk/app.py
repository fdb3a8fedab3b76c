"""Builds the CDK app: one stack, cdk-nag AwsSolutions checks at synth."""

from __future__ import annotations

import os
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from crewhouse_cdk.stack import CrewhouseStack

STACK_NAME = "Crewhouse"
# Feature flags live here (not cdk.json) so that tests and the embedded cloud synthesize the same template.
FEATURE_FLAGS = {
    "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
    "@aws-cdk/core:checkSecretUsage": True,
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/aws-apigateway:disableCloudWatchRole": True,
    "@aws-cdk/core:enablePartitionLiterals": True,
}


def build_app(outdir: str | Path | None = None, *, layer_mode: str | None = None) -> cdk.App:
    """``layer_mode``: ``build`` (pip --platform, cached; the default for deploys) or ``skip``
    (an empty placeholder layer: tests and the embedded cloud, where dependencies come from the venv)."""
    context = {**FEATURE_FLAGS, "crewhouse:layer": layer_mode or os.environ.get("CREWHOUSE_LAYER", "build")}
    app = cdk.App(outdir=str(outdir) if outdir else None, context=context)
    CrewhouseStack(
        app,
        STACK_NAME,
        env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
        description="Crewhouse: serverless AI-agent workspace",
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app
