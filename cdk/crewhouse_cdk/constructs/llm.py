"""What a function that talks to a model through Bedrock Converse needs: its environment and its grant."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from crewhouse_cdk.nag import acknowledge, nag_arn

DEFAULT_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def llm_environment(scope: Construct) -> dict[str, str]:
    model_id = scope.node.try_get_context("crewhouse:bedrockModelId") or DEFAULT_MODEL
    return {"LLM_PROVIDERS": "bedrock", "BEDROCK_MODEL_ID": model_id}


def grant_converse(function: lambda_.Function) -> None:
    """Converse needs InvokeModel on the inference profile and on the models it routes to (any region)."""
    stack = cdk.Stack.of(function)
    function.add_to_role_policy(iam.PolicyStatement(
        actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
        resources=[f"arn:{stack.partition}:bedrock:*::foundation-model/*",
                   stack.format_arn(service="bedrock", resource="inference-profile", resource_name="*")],
    ))
    acknowledge(function, "AwsSolutions-IAM5[Resource::"
                f"{nag_arn(function, 'bedrock', 'foundation-model/*', region='*', account='')}]",
                "Cross-region inference profiles route to the model in any region they choose.")
    acknowledge(function,
                f"AwsSolutions-IAM5[Resource::{nag_arn(function, 'bedrock', 'inference-profile/*')}]",
                "The model is configuration (crewhouse:bedrockModelId); any of this account's profiles.")
