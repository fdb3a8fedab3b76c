"""Flows: the API function, the node runner, the flows table and the one role every flow's state machine runs with.

Flow state machines are created at run time by the API (one per flow, named ``crewhouse-flow-<tenant short>-<flow
id>``, a published version per save behind the ``live`` alias), so the API's Step Functions grants name that prefix
rather than resources of this template, and it may pass only the flow role, only to Step Functions.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from crewhouse_cdk.constructs.api_functions import serve_api_modules
from crewhouse_cdk.constructs.crews import CrewsContext
from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.llm import grant_converse, llm_environment
from crewhouse_cdk.constructs.providers import Providers
from crewhouse_cdk.constructs.storage import EVENT_BUS_NAME, Storage, tenant_table
from crewhouse_cdk.constructs.tool_registry import ToolRegistry
from crewhouse_cdk.nag import acknowledge, acknowledge_function_versions, acknowledge_index_access, nag_arn
from crewhouse_cdk.stage import staged_name

FLOW_PREFIX = "crewhouse-flow"
API_FUNCTIONS: dict[str, tuple[str, str]] = {
    "FlowsApi": ("crewhouse.flows.flows_api", "Flows API: flows and their versions (state machines, live alias)"),
    "FlowExecutionsApi": ("crewhouse.flows.executions_api",
                          "Flows API: executions, cancel, human approvals, progress events"),
}
# What each API function calls on flow state machines and their executions (crewhouse.flows.machines).
FLOWS_API_ACTIONS = [  # on the state machines, their versions and aliases
    "states:CreateStateMachine", "states:UpdateStateMachine", "states:DeleteStateMachine",
    "states:CreateStateMachineAlias", "states:UpdateStateMachineAlias", "states:DeleteStateMachineAlias",
    "states:PublishStateMachineVersion", "states:ListExecutions",
]
# What a state machine's role needs to log to CloudWatch Logs and trace to X-Ray (the actions CDK grants its own).
FLOW_LOG_DELIVERY_ACTIONS = [
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
]
FLOW_TRACING_ACTIONS = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                        "xray:GetSamplingTargets"]
EXECUTIONS_API_MACHINE_ACTIONS = ["states:StartExecution"]  # on a version (in AWS) or the state machine
EXECUTIONS_API_EXECUTION_ACTIONS = ["states:StopExecution", "states:DescribeExecution", "states:GetExecutionHistory",
                                    "states:RedriveExecution"]


def _states_arn(stack: cdk.Stack, kind: str, prefix: str) -> str:
    return stack.format_arn(service="states", resource=kind, resource_name=f"{prefix}-*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)


class FlowsContext(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, api: HttpApi,
                 layers: DependencyLayers, tool_registry: ToolRegistry | None = None,
                 providers: Providers | None = None, crews: CrewsContext | None = None) -> None:
        super().__init__(scope, construct_id)
        # This stage's physical names (crewhouse_cdk.stage).
        self.flow_prefix = staged_name(self, FLOW_PREFIX)
        self.event_bus_name = staged_name(self, EVENT_BUS_NAME)
        stack = cdk.Stack.of(self)
        # GSI1: a flow's runs, newest first.
        self.table = tenant_table(self, "FlowsTable")
        self.table.add_global_secondary_index(
            index_name="GSI1",
            partition_key=dynamodb.Attribute(name="GSI1PK", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="GSI1SK", type=dynamodb.AttributeType.STRING))
        flow_machines, flow_executions = _states_arn(stack, "stateMachine", self.flow_prefix), _states_arn(
            stack, "execution", self.flow_prefix)
        common = {"FLOWS_TABLE": self.table.table_name, "FLOW_NAME_PREFIX": self.flow_prefix,
                  "EVENT_BUS_NAME": self.event_bus_name}

        # --- the node runner --------------------------------------------------------------------------------------
        self.runner_function = CrewhouseFunction(
            self, "FlowNodeRunner", handler="crewhouse.flows.runner.handler", layers=layers,
            description="Runs one node of a flow (llm, tool, agent, crew, human approval) for its state machine",
            environment={**common, **llm_environment(self), "PLATFORM_TABLE": storage.platform_table.table_name},
            timeout=cdk.Duration.minutes(5)).function
        self.runner_function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            resources=[self.table.table_arn]))
        self.runner_function.add_to_role_policy(iam.PolicyStatement(  # the starter's membership, at every node
            actions=["dynamodb:GetItem"], resources=[storage.platform_table.table_arn]))
        # flow.approval_requested; flow.execution_event (its node events and the execution's end, live updates)
        storage.event_bus.grant_put_events_to(self.runner_function)
        grant_converse(self.runner_function)
        if tool_registry is not None:  # tool nodes run through the registry's ToolRunner
            tool_registry.grant_runtime(self.runner_function)
        if providers is not None:  # llm nodes use the tenant's own model providers when it has any
            providers.grant_tenant_providers(self.runner_function)
        if crews is not None:  # agent nodes run hosted agents; crew nodes start crew runs and wait for them
            self.runner_function.add_environment("CREWS_TABLE", crews.table.table_name)
            self.runner_function.add_environment("CREW_STATE_MACHINE_ARN", crews.state_machine.state_machine_arn)
            crews.table.grant_read_write_data(self.runner_function)
            acknowledge_index_access(self.runner_function, crews.table)
            crews.state_machine.grant_start_execution(self.runner_function)

        # --- the role of every flow state machine -------------------------------------------------------------------
        self.flow_role = iam.Role(
            self, "FlowStateMachineRole", assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="Runs every flow's state machine: invokes the node runner and a Distributed Map's children")
        self.runner_function.grant_invoke(self.flow_role)
        acknowledge_function_versions(self.flow_role, self.runner_function)
        # A Distributed Map's child executions are executions of the flow's own state machine.
        self.flow_role.add_to_policy(iam.PolicyStatement(actions=["states:StartExecution"], resources=[flow_machines]))
        self.flow_role.add_to_policy(iam.PolicyStatement(
            actions=["states:DescribeExecution", "states:StopExecution"], resources=[flow_executions]))
        # Every flow state machine logs its failures here and traces to X-Ray (crewhouse.flows.machines): CloudWatch
        # Logs' vended delivery and X-Ray's writes support no resource-level permissions.
        self.log_group = logs.LogGroup(self, "FlowExecutionLogs", retention=logs.RetentionDays.ONE_MONTH,
                                       removal_policy=cdk.RemovalPolicy.DESTROY)
        self.flow_role.add_to_policy(iam.PolicyStatement(actions=FLOW_LOG_DELIVERY_ACTIONS, resources=["*"]))
        self.flow_role.add_to_policy(iam.PolicyStatement(actions=FLOW_TRACING_ACTIONS, resources=["*"]))
        acknowledge(self.flow_role, "AwsSolutions-IAM5[Resource::*]",
                    "Step Functions' log delivery (logs:*LogDelivery*, resource policies) and X-Ray writes support no "
                    "resource-level permissions.")
        for kind in ("stateMachine", "execution"):
            finding = nag_arn(self, "states", f"{kind}:{self.flow_prefix}-*")
            acknowledge(self.flow_role, f"AwsSolutions-IAM5[Resource::{finding}]",
                        "Flow state machines are created at run time (one per flow); the grant covers the "
                        f"{self.flow_prefix}- prefix only (a Distributed Map's child executions).")

        # --- the API ------------------------------------------------------------------------------------------------
        self.api_functions = serve_api_modules(
            self, API_FUNCTIONS, api=api, storage=storage, layers=layers, table=self.table,
            environment={**common, "FLOW_ROLE_ARN": self.flow_role.role_arn,
                         "FLOW_LOG_GROUP_ARN": self.log_group.log_group_arn,
                         "NODE_RUNNER_ARN": self.runner_function.function_arn})
        self.flows_api = self.api_functions["FlowsApi"]
        self.executions_api = self.api_functions["FlowExecutionsApi"]
        self.flows_api.add_to_role_policy(iam.PolicyStatement(
            actions=FLOWS_API_ACTIONS, resources=[flow_machines, f"{flow_machines}:*"]))
        self.flows_api.add_to_role_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=[self.flow_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "states.amazonaws.com"}}))
        self.executions_api.add_to_role_policy(iam.PolicyStatement(
            actions=EXECUTIONS_API_MACHINE_ACTIONS, resources=[flow_machines, f"{flow_machines}:*"]))
        self.executions_api.add_to_role_policy(iam.PolicyStatement(
            actions=EXECUTIONS_API_EXECUTION_ACTIONS, resources=[flow_executions]))
        storage.event_bus.grant_put_events_to(self.executions_api)  # approval_decided, for live updates
        self.executions_api.add_to_role_policy(iam.PolicyStatement(  # approve and reject
            actions=["states:SendTaskSuccess", "states:SendTaskFailure"], resources=["*"]))
        acknowledge(self.executions_api, "AwsSolutions-IAM5[Resource::*]",
                    "SendTaskSuccess/Failure support no resource-level permissions (the task token is the "
                    "credential); X-Ray writes likewise.")
        for function, resources in ((self.flows_api, ("stateMachine:{p}-*", "stateMachine:{p}-*:*")),
                                    (self.executions_api, ("stateMachine:{p}-*", "stateMachine:{p}-*:*",
                                                           "execution:{p}-*"))):
            for resource in resources:
                finding = nag_arn(self, "states", resource.format(p=self.flow_prefix))
                acknowledge(function, f"AwsSolutions-IAM5[Resource::{finding}]",
                            "One state machine per flow (with its versions, live alias and executions), created at "
                            f"run time; the grant covers the {self.flow_prefix}- prefix only.")

        self.functions: dict[str, lambda_.IFunction] = {**self.api_functions, "FlowNodeRunner": self.runner_function}
