"""Hosted agents and crews (issue 15): the crews table, the hosted agents' and crews' API functions, the crew-step
function and the crew-run state machine (statemachines/crew_run.asl.json), and what the bus's hosted inbox consumer
needs to run hosted agents through the crews runtime.

Every function that runs an agent gets the model grants, the tool registry's runtime grants
(:meth:`ToolRegistry.grant_runtime`) and the crews table (agents' definitions and memory).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from crewhouse_cdk.constructs.api_functions import serve_api_modules
from crewhouse_cdk.constructs.bus import BusContext
from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.llm import grant_converse, llm_environment
from crewhouse_cdk.constructs.storage import Storage, tenant_table
from crewhouse_cdk.constructs.tool_registry import ToolRegistry
from crewhouse_cdk.grants import grantee_here
from crewhouse_cdk.nag import acknowledge, acknowledge_function_versions, acknowledge_index_access, logical_id, nag_arn
from crewhouse_cdk.paths import STATEMACHINES_DIR

STATE_MACHINE_FILE = STATEMACHINES_DIR / "crew_run.asl.json"
API_FUNCTIONS: dict[str, tuple[str, str]] = {
    "HostedAgentsApi": ("crewhouse.crews.agents_api", "Hosted agents API: versioned definitions, try-out runs"),
    "CrewsApi": ("crewhouse.crews.api", "Crews API: crews, test runs (Step Functions), runs, cancel"),
}


class CrewsContext(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, api: HttpApi,
                 layers: DependencyLayers, bus: BusContext, tool_registry: ToolRegistry,
                 agent_hosts: dict[str, lambda_.Function] | None = None) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.table = tenant_table(self, "CrewsTable")
        common = {"CREWS_TABLE": self.table.table_name, **llm_environment(self)}

        self.api_functions = serve_api_modules(self, API_FUNCTIONS, api=api, storage=storage, layers=layers,
                                               environment=common, table=self.table)
        agents_api, crews_api = self.api_functions["HostedAgentsApi"], self.api_functions["CrewsApi"]
        # Each hosted agent is an entry of the bus's registry (crewhouse.bus.wiring.hosted_registry).
        # Registry records are written by key (transactions, batch deletes); discovery's indexes are not read.
        agents_api.add_environment("BUS_TABLE", bus.table.table_name)
        agents_api.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                     "dynamodb:ConditionCheckItem", "dynamodb:Query", "dynamodb:BatchWriteItem"],
            resources=[bus.table.table_arn]))

        self.step_function = CrewhouseFunction(
            self, "CrewStep", handler="crewhouse.crews.workers.step_handler", layers=layers,
            description="Crew runs: runs the next task of a run (its agent, or the manager who delegates)",
            environment=common, timeout=cdk.Duration.minutes(5)).function
        self.table.grant_read_write_data(self.step_function)
        acknowledge_index_access(self.step_function, self.table)

        for function in (agents_api, self.step_function):
            grant_converse(function)
            tool_registry.grant_runtime(function)
        # Functions of the parent that run hosted agents in-process: the bus's hosted inbox, the chat's crew sessions.
        for host in (bus.hosted_function, *(agent_hosts or {}).values()):
            self._grant_agent_runs(host, tool_registry)

        log_group = logs.LogGroup(self, "ExecutionLogs", retention=logs.RetentionDays.ONE_MONTH,
                                  removal_policy=cdk.RemovalPolicy.DESTROY)
        self.state_machine = sfn.StateMachine(
            self, "CrewRun",
            # Inline (not an S3 asset): the template carries the definition, as the console shows it.
            definition_body=sfn.DefinitionBody.from_string(STATE_MACHINE_FILE.read_text()),
            definition_substitutions={"CrewStepFunctionArn": self.step_function.function_arn},
            state_machine_type=sfn.StateMachineType.STANDARD, tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            timeout=cdk.Duration.hours(2))
        self.step_function.grant_invoke(self.state_machine)
        acknowledge_function_versions(self.state_machine, self.step_function)
        acknowledge(self.state_machine, "AwsSolutions-IAM5[Resource::*]",
                    "CloudWatch Logs delivery and X-Ray writes for Step Functions support no resource-level "
                    "permissions.")

        crews_api.add_environment("CREW_STATE_MACHINE_ARN", self.state_machine.state_machine_arn)
        self.state_machine.grant_start_execution(crews_api)  # this state machine only
        executions = stack.format_arn(service="states", resource="execution",
                                      resource_name=f"{self.state_machine.state_machine_name}:*",
                                      arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
        crews_api.add_to_role_policy(iam.PolicyStatement(actions=["states:StopExecution"], resources=[executions]))
        acknowledge(crews_api, "AwsSolutions-IAM5[Resource::"
                    f"{nag_arn(self, 'states', f'execution:<{logical_id(self.state_machine)}.Name>:*')}]",
                    "Executions are named per run at run time; the grant covers this state machine's only.")

        # Alarmed by the nested stack (ContextStack): its functions and dead-letter queues.
        self.functions: dict[str, lambda_.IFunction] = {**self.api_functions, "CrewStep": self.step_function}
        self.dead_letter_queues: dict[str, sqs.IQueue] = {}  # Step Functions retries and catches: no queue

    def _grant_agent_runs(self, hosted: lambda_.Function, tool_registry: ToolRegistry) -> None:
        """A function of the parent that runs hosted agents (``crewhouse.crews.wiring``): the agents' definitions,
        crews and memory, and the tool registry's runtime (it already has Converse). Its grants are a policy of this
        stack on that function's role (``grantee_here``)."""
        hosted.add_environment("CREWS_TABLE", self.table.table_name)
        self.table.grant(grantee_here(self, hosted), "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:BatchGetItem")
        tool_registry.grant_runtime(hosted)
