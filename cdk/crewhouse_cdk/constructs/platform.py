"""The platform context: /health, /ready, /me, /openapi.json and the fallback for unknown routes."""

from __future__ import annotations

from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_iam as iam
from constructs import Construct

from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.storage import Storage
from crewhouse_cdk.nag import acknowledge

GET = apigwv2.HttpMethod.GET


class PlatformApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, api: HttpApi,
                 layers: DependencyLayers) -> None:
        super().__init__(scope, construct_id)
        self.handler = CrewhouseFunction(
            self, "Platform",
            handler="crewhouse.platform.api.handler",
            description="Platform API: health, readiness, identity, OpenAPI",
            layers=layers,
            environment={
                "PLATFORM_TABLE": storage.platform_table.table_name,
                "FILES_BUCKET": storage.files_bucket.bucket_name,
            },
        )
        function = self.handler.function
        storage.platform_table.grant_read_data(function)
        # /ready calls HeadBucket, which needs s3:ListBucket on the bucket and nothing on its objects.
        function.add_to_role_policy(iam.PolicyStatement(actions=["s3:ListBucket"],
                                                        resources=[storage.files_bucket.bucket_arn]))
        for route in api.route("/health", [GET], function, public=True):
            acknowledge(route, "AwsSolutions-APIG4",
                        "/health is the public liveness probe; it answers without touching any data.")
        api.route("/ready", [GET], function)
        api.route("/me", [GET], function)
        api.route("/openapi.json", [GET], function)
        # Unknown paths reach the platform, which answers a problem+json 404 (after the JWT check).
        api.route("/{proxy+}", [apigwv2.HttpMethod.ANY], function)
