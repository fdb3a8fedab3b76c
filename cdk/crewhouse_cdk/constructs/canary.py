"""Canary deployments of the API (issue 21): outside the dev stage, every function behind the HTTP API is published as
a new version on each change and served through its ``live`` alias, which CodeDeploy shifts 10 % for 5 minutes,
then 100 %; an alarm on the alias's errors or the API's 5xx alarm rolls the alias back to the previous version.

The dev stage (the embedded cloud, whose CloudFormation has no CodeDeploy) invokes the functions unqualified.

Where the versions and aliases live: a parent-stack function's in the nested stack :class:`LiveAliases` (the parent
holds close to CloudFormation's 500 resources), a nested stack's function's in that nested stack (a sibling nested
stack would make a cycle: the routes there would need the alias, the alias the function). A version outside the
function's stack gets CDK's ``currentVersion`` treatment by hand: its logical id ends in a hash of the function's
configuration, so that a changed function gets a new version.
"""

from __future__ import annotations

import hashlib
import json

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from crewhouse_cdk.constructs.monitoring import runbook
from crewhouse_cdk.nag import acknowledge

LIVE_ALIAS = "live"
DEPLOYMENT_CONFIG = codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_5_MINUTES
DEPLOY_ROLE_POLICY = "service-role/AWSCodeDeployRoleForLambdaLimited"
# What makes a new version: CDK's calculateFunctionHash covers these and the code.
_VERSIONED_PROPERTIES = ("code", "handler", "runtime", "architectures", "environment", "layers", "memory_size",
                         "timeout", "tracing_config", "logging_config", "role")


@jsii.implements(cdk.IStringProducer)
class _VersionLogicalId:
    def __init__(self, base: str, function: lambda_.Function) -> None:
        self._base, self._function = base, function

    def produce(self, context: cdk.IResolveContext) -> str:
        cfn = self._function.node.default_child
        assert isinstance(cfn, lambda_.CfnFunction)
        stack = cdk.Stack.of(cfn)
        resolved = stack.resolve({name: getattr(cfn, name) for name in _VERSIONED_PROPERTIES})
        digest = hashlib.md5(json.dumps(resolved, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
        return f"{self._base}{digest}"


class CanaryDeployments(Construct):
    """A CodeDeploy application, its role, and per function a version, the ``live`` alias, its errors alarm and a
    deployment group; :meth:`live` makes them (once per function) in ``self``'s stack."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.application = codedeploy.LambdaApplication(self, "Application")
        self.role = iam.Role(self, "DeployRole", assumed_by=iam.ServicePrincipal("codedeploy.amazonaws.com"),
                             description="CodeDeploy: shifts the API functions' live aliases",
                             managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(DEPLOY_ROLE_POLICY)])
        acknowledge(self.role, f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{DEPLOY_ROLE_POLICY}]",
                    "AWS's policy for CodeDeploy on Lambda: update aliases, read alarms, invoke hooks named "
                    "CodeDeployHook_*; nothing else.")
        self.aliases: dict[str, lambda_.Alias] = {}
        self.groups: dict[str, codedeploy.LambdaDeploymentGroup] = {}
        self._shared_alarms: list[cloudwatch.IAlarm] = []

    def live(self, function: lambda_.Function) -> lambda_.Alias:
        key = function.node.path
        if key in self.aliases:
            return self.aliases[key]
        owner = function.node.scope  # a CrewhouseFunction's id names it; its lambda_.Function is "Function"
        name = owner.node.id if function.node.id == "Function" and owner is not None else function.node.id
        version = lambda_.Version(self, f"{name}Version", lambda_=function,
                                  removal_policy=cdk.RemovalPolicy.RETAIN)  # CodeDeploy rolls back to the last one
        cfn_version = version.node.default_child
        assert isinstance(cfn_version, cdk.CfnResource)
        base = cdk.Stack.of(self).resolve(cfn_version.logical_id)
        cfn_version.override_logical_id(cdk.Lazy.uncached_string(_VersionLogicalId(str(base), function)))
        alias = lambda_.Alias(self, f"{name}Live", alias_name=LIVE_ALIAS, version=version)
        errors = cloudwatch.Alarm(
            self, f"{name}LiveErrors", metric=alias.metric_errors(period=cdk.Duration.minutes(1), statistic="Sum"),
            threshold=1, evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=runbook(f"{name} Lambda errors on its live alias (rolls a canary back)",
                                      "lambda-errors"))
        self.groups[key] = codedeploy.LambdaDeploymentGroup(
            self, f"{name}Deployment", application=self.application, alias=alias, role=self.role,
            deployment_config=DEPLOYMENT_CONFIG, alarms=[errors, *self._shared_alarms],
            auto_rollback=codedeploy.AutoRollbackConfig(failed_deployment=True, stopped_deployment=True,
                                                        deployment_in_alarm=True))
        self.aliases[key] = alias
        return alias

    def roll_back_on(self, alarm: cloudwatch.IAlarm) -> None:
        """``alarm`` (the API's 5xx) rolls back every deployment group, made or to be made."""
        self._shared_alarms.append(alarm)
        for group in self.groups.values():
            group.add_alarm(alarm)


class LiveAliases(cdk.NestedStack):
    """The parent stack's API functions' canary resources (see the module's docstring)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id, description="Crewhouse: the API functions' live aliases (canary)")
        self.deployments = CanaryDeployments(self, "Canary")
