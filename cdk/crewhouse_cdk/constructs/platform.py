"""The platform context: /health, /ready, /me, tenants and members, invitations, /openapi.json and the
fallback for unknown routes."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_iam as iam
from constructs import Construct

from crewhouse_cdk.constructs.auth import Auth
from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.storage import Storage
from crewhouse_cdk.nag import acknowledge, acknowledge_index_access, nag_arn
from crewhouse_cdk.release import release_of

GET = apigwv2.HttpMethod.GET
# Where invitations come from; SES must have this identity verified (docs/deploy.md).
INVITATION_SENDER_CONTEXT = "crewhouse:invitationSender"
DEFAULT_INVITATION_SENDER = "no-reply@crewhouse.local"


class PlatformApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, api: HttpApi, auth: Auth,
                 layers: DependencyLayers) -> None:
        super().__init__(scope, construct_id)
        sender = self.node.try_get_context(INVITATION_SENDER_CONTEXT) or DEFAULT_INVITATION_SENDER
        self.handler = CrewhouseFunction(
            self, "Platform",
            handler="crewhouse.platform.api.handler",
            description="Platform API: health, readiness, identity, tenants, members, invitations, OpenAPI",
            layers=layers,
            environment={
                "PLATFORM_TABLE": storage.platform_table.table_name,
                "FILES_BUCKET": storage.files_bucket.bucket_name,
                "USER_POOL_ID": auth.user_pool.user_pool_id,
                "MOBILE_CLIENT_ID": auth.mobile_client.user_pool_client_id,
                "INVITATION_SENDER": sender,
                "SYNC_TABLE": storage.sync_table.table_name,
                "TOKEN_HASH_SECRET_ARN": storage.token_hash_secret.secret_arn,
                **release_of(self).environment(),
            },
        )
        function = self.handler.function
        storage.platform_table.grant_read_write_data(function)
        storage.token_hash_secret.grant_read(function)  # hashing a new personal access token
        # PATCH /me announces the profile to the person's syncing clients: one appended log entry.
        function.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:BatchWriteItem"],
                                                        resources=[storage.sync_table.table_arn]))
        acknowledge_index_access(function, storage.platform_table)
        # /ready calls HeadBucket, which needs s3:ListBucket on the bucket and nothing on its objects.
        function.add_to_role_policy(iam.PolicyStatement(actions=["s3:ListBucket"],
                                                        resources=[storage.files_bucket.bucket_arn]))
        # Removing a member and signing out revoke the person's refresh tokens.
        function.add_to_role_policy(iam.PolicyStatement(actions=["cognito-idp:AdminUserGlobalSignOut"],
                                                        resources=[auth.user_pool.user_pool_arn]))
        stack = cdk.Stack.of(self)
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["ses:SendEmail"],
            resources=[stack.format_arn(service="ses", resource="identity", resource_name="*")],
            conditions={"StringEquals": {"ses:FromAddress": sender}},
        ))
        acknowledge(function,
                    f"AwsSolutions-IAM5[Resource::{nag_arn(function, 'ses', 'identity/*')}]",
                    "SES authorizes sending against both the sender and each recipient identity; the condition "
                    "pins the From address to the configured invitation sender.")
        routes = api.serve({"Platform": (function, "crewhouse.platform.api")}, public={"/health"})
        for route in routes["/health"]:
            acknowledge(route, "AwsSolutions-APIG4",
                        "/health is the public liveness probe; it answers without touching any data.")
        api.route("/openapi.json", [GET], function)  # not an operation of the document it serves
        # Unknown paths reach the platform, which answers a problem+json 404 (after the JWT check).
        api.route("/{proxy+}", [apigwv2.HttpMethod.ANY], function)
