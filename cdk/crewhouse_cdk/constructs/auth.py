"""Cognito: the user pool (email sign-in, verification, password policy, lockout), the mobile and machine
app clients, and two triggers: post-confirmation (a tenant for every new user) and pre-token-generation
(every token names the caller's tenant and role from the membership table).

No tenant or role lives in the user pool: ``custom:tenant_id`` stays in the schema only because a custom
attribute cannot be removed from a deployed pool; no client may read or write it, and the trigger
suppresses it from tokens. Cognito groups are pool-wide, so they carry no tenant roles."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from constructs import Construct

from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.storage import Storage
from crewhouse_cdk.nag import acknowledge, acknowledge_index_access
from crewhouse_cdk.stage import staged_name

MOBILE_CALLBACK_URL = "crewhouse://auth/callback"
# What an app client may write at sign-up and with UpdateUserAttributes: never a tenant.
WRITABLE_ATTRIBUTES = cognito.ClientAttributes().with_standard_attributes(
    email=True, fullname=True, given_name=True, family_name=True, locale=True, timezone=True)
READABLE_ATTRIBUTES = cognito.ClientAttributes().with_standard_attributes(
    email=True, email_verified=True, fullname=True, given_name=True, family_name=True, locale=True,
    timezone=True)
API_SCOPES = {
    "tasks.read": "Read tasks", "tasks.write": "Create and change tasks",
    "notes.read": "Read notes", "notes.write": "Create and change notes",
    "jobs.read": "Read agent jobs", "jobs.write": "Queue and cancel agent jobs",
}


class Auth(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage,
                 layers: DependencyLayers) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)

        self.post_confirmation = CrewhouseFunction(
            self, "PostConfirmation",
            handler="crewhouse.platform.workers.post_confirmation",
            description="Creates a tenant for every newly confirmed user",
            layers=layers,
            environment={"PLATFORM_TABLE": storage.platform_table.table_name},
        )
        # A new tenant and its first admin (Puts) and the admin's chosen tenant (an Update that keeps the rest of
        # the profile), in one transaction: no reads.
        self.post_confirmation.function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:PutItem", "dynamodb:UpdateItem"], resources=[storage.platform_table.table_arn]))
        self.pre_token_generation = CrewhouseFunction(
            self, "PreTokenGeneration",
            handler="crewhouse.platform.workers.pre_token_generation",
            description="Puts the caller's tenant and role (from the membership table) into every token",
            layers=layers,
            environment={"PLATFORM_TABLE": storage.platform_table.table_name},
            timeout=cdk.Duration.seconds(5),  # Cognito waits 5 s for a trigger
        )
        storage.platform_table.grant(self.pre_token_generation.function, "dynamodb:GetItem", "dynamodb:Query")
        acknowledge_index_access(self.pre_token_generation.function, storage.platform_table)

        self.user_pool = cognito.UserPool(
            self, "UserPool",
            sign_in_aliases=cognito.SignInAliases(email=True),
            self_sign_up_enabled=True,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            user_verification=cognito.UserVerificationConfig(email_style=cognito.VerificationEmailStyle.CODE),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=12, require_lowercase=True, require_uppercase=True, require_digits=True,
                require_symbols=True, temp_password_validity=cdk.Duration.days(3),
            ),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)),
            custom_attributes={"tenant_id": cognito.StringAttribute(min_len=1, max_len=64, mutable=True)},
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            lambda_triggers=cognito.UserPoolTriggers(post_confirmation=self.post_confirmation.function),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # Version 3: ID and access tokens of users, and access tokens of machine clients (client credentials).
        self.user_pool.add_trigger(cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG,
                                   self.pre_token_generation.function, cognito.LambdaVersion.V3_0)
        acknowledge(self.user_pool, "AwsSolutions-COG2",
                    "MFA is optional (TOTP): machine clients and first sign-in on mobile must work without it; "
                    "threat protection runs in full-function mode.")

        self.resource_server = self.user_pool.add_resource_server(
            "Api", identifier="crewhouse",
            scopes=[cognito.ResourceServerScope(scope_name=n, scope_description=d) for n, d in API_SCOPES.items()],
        )
        # Hosted UI prefixes are unique per region across every AWS account: each stage gets its own; a second
        # Crewhouse of the same stage, account and region needs `cdk deploy -c crewhouse:cognitoDomainPrefix=...`.
        domain_prefix = staged_name(self, self.node.try_get_context("crewhouse:cognitoDomainPrefix")
                                    or f"crewhouse-{stack.account}")
        self.domain = self.user_pool.add_domain(
            "Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix)
        )

        self.mobile_client = self.user_pool.add_client(
            "MobileClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True, user_password=True),
            prevent_user_existence_errors=True,
            access_token_validity=cdk.Duration.hours(1),
            id_token_validity=cdk.Duration.hours(1),
            refresh_token_validity=cdk.Duration.days(30),
            enable_token_revocation=True,
            read_attributes=READABLE_ATTRIBUTES,
            write_attributes=WRITABLE_ATTRIBUTES,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                callback_urls=[MOBILE_CALLBACK_URL],
                logout_urls=[MOBILE_CALLBACK_URL],
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
            ),
        )
        self.machine_client = self.user_pool.add_client(
            "MachineClient",
            generate_secret=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True),
                scopes=[cognito.OAuthScope.resource_server(self.resource_server, cognito.ResourceServerScope(
                    scope_name=n, scope_description=d)) for n, d in API_SCOPES.items()],
            ),
            access_token_validity=cdk.Duration.hours(1),
            read_attributes=READABLE_ATTRIBUTES,
            write_attributes=WRITABLE_ATTRIBUTES,
        )
        self.issuer = f"https://cognito-idp.{stack.region}.amazonaws.com/{self.user_pool.user_pool_id}"
