"""The tool registry (issue 15, Tools): its table, its API function, the tools' secrets' grants, and the code
sandbox: a Lambda with a role that may only write its logs (and manage the network interfaces every VPC function
needs), in a VPC of isolated subnets with no endpoints, no NAT and no egress rule: no network at all.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from crewhouse.tool_registry.settings import SECRET_PREFIX
from crewhouse_cdk.constructs.api_functions import serve_api_modules
from crewhouse_cdk.constructs.function import CODE_EXCLUDES, LOG_RETENTION, DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.storage import Storage, tenant_table
from crewhouse_cdk.grants import grantee_here
from crewhouse_cdk.nag import (
    BASIC_EXECUTION_ROLE,
    acknowledge,
    nag_arn,
)
from crewhouse_cdk.paths import FUNCTIONS_DIR
from crewhouse_cdk.stage import staged_name

SANDBOX_HANDLER = "crewhouse.tool_registry.sandbox.handler"
API_FUNCTIONS: dict[str, tuple[str, str]] = {
    "ToolRegistryApi": ("crewhouse.tool_registry.api", "Tool registry API: tools, schemas, dry runs"),
}
VPC_ACCESS_ROLE = ("AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                   "AWSLambdaVPCAccessExecutionRole]")


class ToolRegistry(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, api: HttpApi,
                 layers: DependencyLayers) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        # This stage's tools' secrets (crewhouse_cdk.stage); the dev stage's prefix is the settings' default.
        self.secret_prefix = staged_name(self, SECRET_PREFIX)
        self.secret_environment = {} if self.secret_prefix == SECRET_PREFIX else {
            "TOOL_SECRET_PREFIX": self.secret_prefix}
        self.table = tenant_table(self, "ToolsTable")
        self.table.add_global_secondary_index(
            index_name="GSI1",  # a tenant's tools by kind, then name
            partition_key=dynamodb.Attribute(name="GSI1PK", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="GSI1SK", type=dynamodb.AttributeType.STRING))
        self.sandbox = self._sandbox(layers)
        self.secrets_arn = stack.format_arn(service="secretsmanager", resource="secret",
                                            resource_name=f"{self.secret_prefix}/*",
                                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
        self.api_functions = serve_api_modules(
            self, API_FUNCTIONS, api=api, storage=storage, layers=layers, table=self.table,
            environment={"TOOL_REGISTRY_TABLE": self.table.table_name,
                         "SANDBOX_FUNCTION": self.sandbox.function_name, **self.secret_environment})
        registry = self.api_functions["ToolRegistryApi"]
        registry.add_to_role_policy(iam.PolicyStatement(
            actions=["secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:TagResource",
                     "secretsmanager:DeleteSecret", "secretsmanager:GetSecretValue"],
            resources=[self.secrets_arn]))
        self._acknowledge_secrets(registry)
        self._grant_sandbox(registry)
        self.functions: dict[str, lambda_.IFunction] = {**self.api_functions, "ToolSandbox": self.sandbox}

    def grant_runtime(self, function: lambda_.Function) -> None:
        """What a function running tools through ``crewhouse.tool_registry.wiring.tool_runner`` needs: read the
        registry, read tools' secrets, invoke the sandbox (builtin tools need their own contexts' grants)."""
        for name, value in {"TOOL_REGISTRY_TABLE": self.table.table_name,
                            "SANDBOX_FUNCTION": self.sandbox.function_name, **self.secret_environment}.items():
            function.add_environment(name, value)
        grantee = grantee_here(self, function)  # a function of the parent stack: a policy of this one on its role
        principal = grantee.grant_principal
        principal.add_to_principal_policy(iam.PolicyStatement(actions=["dynamodb:GetItem", "dynamodb:BatchGetItem"],
                                                              resources=[self.table.table_arn]))
        principal.add_to_principal_policy(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"],
                                                              resources=[self.secrets_arn]))
        self._acknowledge_secrets(grantee)
        self._grant_sandbox(grantee)

    def _grant_sandbox(self, function: lambda_.Function | iam.IRole) -> None:
        """Invoke the sandbox's unqualified function only (no versions: it publishes none)."""
        function.grant_principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["lambda:InvokeFunction"], resources=[self.sandbox.function_arn]))

    def _acknowledge_secrets(self, function: IConstruct) -> None:
        acknowledge(function, "AwsSolutions-IAM5[Resource::"
                    f"{nag_arn(self, 'secretsmanager', f'secret:{self.secret_prefix}/*')}]",
                    "One secret per tool, named per tenant and tool at run time under the registry's prefix only.")

    def _sandbox(self, layers: DependencyLayers) -> lambda_.Function:
        flow_logs = logs.LogGroup(self, "SandboxFlowLogs", retention=LOG_RETENTION,
                                  removal_policy=cdk.RemovalPolicy.DESTROY)
        self.vpc = ec2.Vpc(
            self, "SandboxVpc", max_azs=2, nat_gateways=0, restrict_default_security_group=False,
            subnet_configuration=[ec2.SubnetConfiguration(name="Isolated", cidr_mask=24,
                                                          subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
            flow_logs={"All": ec2.FlowLogOptions(destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                                                 traffic_type=ec2.FlowLogTrafficType.ALL)})
        self.security_group = ec2.SecurityGroup(
            self, "SandboxSecurityGroup", vpc=self.vpc, allow_all_outbound=False,
            description="Code tools sandbox: no ingress and no egress")
        log_group = logs.LogGroup(self, "SandboxLogs", retention=LOG_RETENTION,
                                  removal_policy=cdk.RemovalPolicy.DESTROY)
        role = iam.Role(self, "SandboxRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description="The code sandbox: its logs, and the network interfaces Lambda needs in a VPC",
                        managed_policies=[
                            iam.ManagedPolicy.from_aws_managed_policy_name(
                                "service-role/AWSLambdaBasicExecutionRole"),
                            iam.ManagedPolicy.from_aws_managed_policy_name(
                                "service-role/AWSLambdaVPCAccessExecutionRole")])
        acknowledge(role, BASIC_EXECUTION_ROLE, "The sandbox may only write its own CloudWatch logs.")
        acknowledge(role, VPC_ACCESS_ROLE, "Lambda needs these network-interface actions on the role of any function "
                    "in a VPC; the VPC has no route out and no endpoints, so the code reaches no AWS API.")
        function = lambda_.Function(
            self, "Sandbox", runtime=lambda_.Runtime.PYTHON_3_13, architecture=lambda_.Architecture.ARM_64,
            handler=SANDBOX_HANDLER, code=lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=CODE_EXCLUDES),
            layers=layers.for_handler(SANDBOX_HANDLER), role=role, memory_size=256,
            timeout=cdk.Duration.seconds(10), log_group=log_group, logging_format=lambda_.LoggingFormat.JSON,
            description="Code tools' sandbox: user Python in a child process; no permissions, no network",
            vpc=self.vpc, vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[self.security_group])
        acknowledge(function, "AwsSolutions-L1",
                    "Python 3.13 is the runtime the design card fixes; runtime upgrades are deliberate, tested "
                    "changes.")
        return function
