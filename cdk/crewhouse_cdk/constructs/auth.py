"""Cognito: the user pool (email sign-in, verification, password policy, lockout), the tenant
attribute, role groups, the mobile and machine app clients, and the post-confirmation trigger."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from constructs import Construct

from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.storage import Storage
from crewhouse_cdk.nag import acknowledge, nag_arn

MOBILE_CALLBACK_URL = "crewhouse://auth/callback"
ROLE_GROUPS = ("admin", "member", "observer")
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
        storage.platform_table.grant_read_write_data(self.post_confirmation.function)

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
        # The trigger's policy cannot name the pool's ARN (the pool names the trigger: a cycle),
        # so it is scoped to this account's pools in this region.
        self.post_confirmation.function.add_to_role_policy(iam.PolicyStatement(
            actions=["cognito-idp:AdminUpdateUserAttributes", "cognito-idp:AdminAddUserToGroup"],
            resources=[stack.format_arn(service="cognito-idp", resource="userpool", resource_name="*")],
        ))

        acknowledge(self.post_confirmation,
                    f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'cognito-idp', 'userpool/*')}]",
                    "The trigger cannot name its own pool's ARN without a dependency cycle; it may only update "
                    "attributes and groups of users in this account's pools.")
        acknowledge(self.user_pool, "AwsSolutions-COG2",
                    "MFA is optional (TOTP): machine clients and first sign-in on mobile must work without it; "
                    "threat protection runs in full-function mode.")
        for group in ROLE_GROUPS:
            cognito.CfnUserPoolGroup(self, f"Group{group.title()}", user_pool_id=self.user_pool.user_pool_id,
                                     group_name=group, description=f"Crewhouse {group}s")

        self.resource_server = self.user_pool.add_resource_server(
            "Api", identifier="crewhouse",
            scopes=[cognito.ResourceServerScope(scope_name=n, scope_description=d) for n, d in API_SCOPES.items()],
        )
        # Hosted UI prefixes are unique per region across every AWS account: a second Crewhouse stack in the
        # same account and region needs its own (`cdk deploy -c crewhouse:cognitoDomainPrefix=...`).
        domain_prefix = self.node.try_get_context("crewhouse:cognitoDomainPrefix") or f"crewhouse-{stack.account}"
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
        )
        self.issuer = f"https://cognito-idp.{stack.region}.amazonaws.com/{self.user_pool.user_pool_id}"
