"""Tenants' model providers (issue 15): their table, the customer-managed KMS key that wraps their API keys'
data keys (rotation on), the ``/llm-providers`` API function, and :meth:`Providers.grant_tenant_providers` for any
function that runs a model through a tenant's providers (``crewhouse.providers.wiring.tenant_provider``)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from crewhouse_cdk.constructs.api_functions import serve_api_modules
from crewhouse_cdk.constructs.function import DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.llm import grant_converse
from crewhouse_cdk.constructs.storage import Storage, tenant_table

API_FUNCTIONS: dict[str, tuple[str, str]] = {
    "LlmProvidersApi": ("crewhouse.providers.api", "Model providers API: tenants' providers, order, test, usage"),
}
# KMS answers only for the context the data key was made under; these keys must be in every request.
CONTEXT_KEYS = ("tenant_id", "provider_id")


def _context_condition() -> dict[str, dict[str, str]]:
    return {"Null": {f"kms:EncryptionContext:{key}": "false" for key in CONTEXT_KEYS}}


class Providers(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, api: HttpApi,
                 layers: DependencyLayers) -> None:
        super().__init__(scope, construct_id)
        self.table = tenant_table(self, "ProvidersTable", ttl_attribute="expires_epoch")
        self.key = kms.Key(self, "ProviderKeysKey", enable_key_rotation=True,
                           description="Wraps the data keys that encrypt tenants' model provider API keys",
                           removal_policy=cdk.RemovalPolicy.RETAIN)
        self.api_functions = serve_api_modules(
            self, API_FUNCTIONS, api=api, storage=storage, layers=layers, table=self.table,
            environment=self.environment())
        function = self.api_functions["LlmProvidersApi"]
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[self.key.key_arn],
            conditions=_context_condition()))
        grant_converse(function)  # POST /llm-providers/{id}/test of a bedrock provider
        self.functions: dict[str, lambda_.IFunction] = dict(self.api_functions)

    def environment(self) -> dict[str, str]:
        return {"PROVIDERS_TABLE": self.table.table_name, "PROVIDERS_KEY_ID": self.key.key_arn}

    def grant_tenant_providers(self, function: lambda_.Function) -> None:
        """What ``tenant_provider`` needs: the environment, reading the table, adding usage (UpdateItem), and
        ``kms:Decrypt`` on the key for requests with the tenant and provider in the encryption context. A bedrock
        provider also needs ``grant_converse`` (crewhouse_cdk.constructs.llm), which model-running functions
        have already."""
        for name, value in self.environment().items():
            function.add_environment(name, value)
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem"],
            resources=[self.table.table_arn]))
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["kms:Decrypt"], resources=[self.key.key_arn], conditions=_context_condition()))
