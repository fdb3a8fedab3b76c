"""The jobs context: its table, the job queue and its DLQ, the API, the dispatcher, the state machine
(statemachines/agent_job.asl.json) with its step and agent functions, and the run_at schedules."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from crewhouse_cdk.constructs.files import FilesContext
from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.llm import grant_converse, llm_environment
from crewhouse_cdk.constructs.monitoring import runbook
from crewhouse_cdk.constructs.notes import NotesContext
from crewhouse_cdk.constructs.storage import EVENT_BUS_NAME, Storage, tenant_table
from crewhouse_cdk.grants import grant_pass_role_to_scheduler
from crewhouse_cdk.nag import acknowledge, acknowledge_function_versions, acknowledge_index_access, logical_id, nag_arn
from crewhouse_cdk.paths import STATEMACHINES_DIR
from crewhouse_cdk.stage import staged_name

JOB_SCHEDULE_GROUP = "crewhouse-jobs"
STATE_MACHINE_FILE = STATEMACHINES_DIR / "agent_job.asl.json"
MAX_RECEIVES = 3
UPLOADS = "uploads/"
# Research's web search API (Brave Search API shape); each tenant's key is a secret under WEB_SEARCH_KEYS.
WEB_SEARCH_ENDPOINT = "https://api.search.brave.com/res/v1/web/search"
WEB_SEARCH_KEYS = "crewhouse/web-search-keys/"


class JobsContext(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, api: HttpApi, notes: NotesContext,
                 files: FilesContext, layers: DependencyLayers) -> None:
        super().__init__(scope, construct_id)
        # This stage's physical names (crewhouse_cdk.stage).
        self.schedule_group_name = staged_name(self, JOB_SCHEDULE_GROUP)
        self.web_search_keys_prefix = staged_name(self, WEB_SEARCH_KEYS)
        self.event_bus_name = staged_name(self, EVENT_BUS_NAME)
        stack = cdk.Stack.of(self)
        self.table = tenant_table(self, "JobsTable")
        self.table.add_global_secondary_index(
            index_name="GSI1",
            partition_key=dynamodb.Attribute(name="GSI1PK", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="GSI1SK", type=dynamodb.AttributeType.STRING),
        )
        self.dead_letters = sqs.Queue(self, "JobDeadLetters", enforce_ssl=True,
                                      encryption=sqs.QueueEncryption.SQS_MANAGED,
                                      retention_period=cdk.Duration.days(14))
        acknowledge(self.dead_letters, "AwsSolutions-SQS3", "This queue is itself the job queue's dead-letter queue.")
        self.queue = sqs.Queue(self, "JobQueue", enforce_ssl=True, encryption=sqs.QueueEncryption.SQS_MANAGED,
                               visibility_timeout=cdk.Duration.seconds(60),  # 6x the dispatcher's timeout
                               dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters,
                                                                     max_receive_count=MAX_RECEIVES))
        common = {"JOBS_TABLE": self.table.table_name, "JOB_QUEUE_URL": self.queue.queue_url,
                  "DISPATCH_MAX_RECEIVES": str(MAX_RECEIVES), "EVENT_BUS_NAME": self.event_bus_name,
                  "NOTES_TABLE": notes.table.table_name, "FILES_TABLE": files.table.table_name,
                  "FILES_BUCKET": storage.files_bucket.bucket_name, "SEARCH_TABLE": storage.search_table.table_name,
                  "WEB_SEARCH_ENDPOINT": WEB_SEARCH_ENDPOINT, "WEB_SEARCH_KEYS_PREFIX": self.web_search_keys_prefix}
        tenant_secrets = stack.format_arn(service="secretsmanager", resource="secret",
                                          resource_name=f"{self.web_search_keys_prefix}*",
                                          arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)

        # --- the state machine's functions ----------------------------------------------------------------
        self.step_function = CrewhouseFunction(
            self, "JobStep", handler="crewhouse.jobs.workers.job_step", layers=layers,
            description="Agent job bookkeeping: store the result and mark the job succeeded, or mark it failed",
            environment=common, timeout=cdk.Duration.seconds(30),
        ).function
        self.runner_function = CrewhouseFunction(
            self, "JobRunner", handler="crewhouse.jobs.workers.run_agent", layers=layers,
            description="A job's agent step: starts the run, runs the job type, answers Step Functions by task token",
            environment={**common, **llm_environment(self)}, timeout=cdk.Duration.minutes(15), memory_size=1536,
        ).function
        # The runner reports its own failures by task token; Lambda's async retries would run it twice.
        self.runner_function.configure_async_invoke(retry_attempts=0)
        for function in (self.step_function, self.runner_function):
            self._grant_jobs(function)
            self.queue.grant_send_messages(function)  # a freed slot admits the next job
        # The step function writes result notes (bodies in the bucket) and result files (uploads/).
        notes.table.grant_read_write_data(self.step_function)
        acknowledge_index_access(self.step_function, notes.table)
        notes.grant_bodies(self.step_function)
        files.table.grant_read_write_data(self.step_function)
        acknowledge_index_access(self.step_function, files.table)
        self.step_function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:PutObject"], resources=[storage.files_bucket.arn_for_objects(f"{UPLOADS}*")]))
        # The runner reads sources: notes (and their bodies), files, the search index, and the model.
        notes.table.grant_read_data(self.runner_function)
        acknowledge_index_access(self.runner_function, notes.table)
        notes.grant_bodies(self.runner_function)
        files.table.grant_read_data(self.runner_function)
        acknowledge_index_access(self.runner_function, files.table)
        storage.search_table.grant_read_data(self.runner_function)
        self.runner_function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[storage.files_bucket.arn_for_objects(f"{UPLOADS}*")]))
        grant_converse(self.runner_function)
        storage.event_bus.grant_put_events_to(self.runner_function)  # job.progress, for live updates
        # Research reads the tenant's web search key (one secret per tenant, named at run time).
        self.runner_function.add_to_role_policy(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"],
                                                                    resources=[tenant_secrets]))
        self.runner_function.add_to_role_policy(iam.PolicyStatement(
            actions=["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
            resources=["*"]))
        acknowledge(self.runner_function, "AwsSolutions-IAM5[Resource::*]",
                    "SendTaskSuccess/Failure/Heartbeat support no resource-level permissions (the task token "
                    "is the credential); X-Ray writes likewise.")
        for function in (self.step_function, self.runner_function):
            acknowledge(function, f"AwsSolutions-IAM5[Resource::<{logical_id(storage.files_bucket)}.Arn>/{UPLOADS}*]",
                        "Source and result files are objects named per tenant, user and file at run time; the "
                        f"grant is limited to the {UPLOADS} prefix.")

        logs_group = logs.LogGroup(self, "ExecutionLogs", retention=logs.RetentionDays.ONE_MONTH,
                                   removal_policy=cdk.RemovalPolicy.DESTROY)
        self.state_machine = sfn.StateMachine(
            self, "AgentJob",
            # Inline (not an S3 asset): the template carries the definition, as the console shows it.
            definition_body=sfn.DefinitionBody.from_string(STATE_MACHINE_FILE.read_text()),
            definition_substitutions={"JobStepFunctionArn": self.step_function.function_arn,
                                      "RunAgentFunctionArn": self.runner_function.function_arn,
                                      "EventBusName": self.event_bus_name},
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=logs_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            timeout=cdk.Duration.hours(2),
        )
        self.step_function.grant_invoke(self.state_machine)
        self.runner_function.grant_invoke(self.state_machine)
        storage.event_bus.grant_put_events_to(self.state_machine)
        for function in (self.step_function, self.runner_function):
            acknowledge_function_versions(self.state_machine, function)
        acknowledge(self.state_machine, "AwsSolutions-IAM5[Resource::*]",
                    "CloudWatch Logs delivery and X-Ray writes for Step Functions support no resource-level "
                    "permissions.")

        # --- admission, dispatch and schedules ------------------------------------------------------------------
        self.schedule_due_function = CrewhouseFunction(
            self, "JobScheduleDue", handler="crewhouse.jobs.workers.schedule_due", layers=layers,
            description="A run_at job's schedule fired: the job joins its tenant's line",
            environment=common, timeout=cdk.Duration.seconds(30),
        ).function
        self._grant_jobs(self.schedule_due_function)
        self.queue.grant_send_messages(self.schedule_due_function)
        self.schedule_group = scheduler.CfnScheduleGroup(self, "ScheduleGroup", name=self.schedule_group_name)
        self.scheduler_role = iam.Role(
            self, "SchedulerRole", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description="Lets EventBridge Scheduler start run_at jobs")
        self.schedule_due_function.grant_invoke(self.scheduler_role)
        acknowledge_function_versions(self.scheduler_role, self.schedule_due_function)

        self.dispatcher_function = CrewhouseFunction(
            self, "JobDispatcher", handler="crewhouse.jobs.workers.dispatch", layers=layers,
            description="Job queue consumer: starts one Step Functions execution per job run",
            environment={**common, "JOB_STATE_MACHINE_ARN": self.state_machine.state_machine_arn},
            timeout=cdk.Duration.seconds(10),
        ).function
        self._grant_jobs(self.dispatcher_function)
        self.queue.grant_send_messages(self.dispatcher_function)
        self.state_machine.grant_start_execution(self.dispatcher_function)  # this state machine only
        self.dispatcher_function.add_event_source(sources.SqsEventSource(
            self.queue, batch_size=10, report_batch_item_failures=True))

        executions = stack.format_arn(service="states", resource="execution",
                                      resource_name=f"{self.state_machine.state_machine_name}:*",
                                      arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
        self.api_function = CrewhouseFunction(
            self, "JobsApi", handler="crewhouse.jobs.api.handler", layers=layers,
            description="Jobs API: submit, list, progress, cancel, timeline, dead letters and redrive",
            environment={**common, "JOB_STATE_MACHINE_ARN": self.state_machine.state_machine_arn,
                         "JOB_SCHEDULE_GROUP": self.schedule_group_name,
                         "JOB_SCHEDULE_TARGET_ARN": self.schedule_due_function.function_arn,
                         "JOB_SCHEDULE_ROLE_ARN": self.scheduler_role.role_arn,
                         "IDEMPOTENCY_TABLE": storage.idempotency_table.table_name,
                         "CURSOR_SECRET_ARN": storage.cursor_secret.secret_arn},
        ).function
        self.table.grant_read_write_data(self.api_function)
        acknowledge_index_access(self.api_function, self.table)
        self.queue.grant_send_messages(self.api_function)
        storage.idempotency_table.grant_read_write_data(self.api_function)
        storage.cursor_secret.grant_read(self.api_function)
        self.api_function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem"], resources=[notes.table.table_arn]))  # "is this my notebook?"
        self.api_function.add_to_role_policy(iam.PolicyStatement(
            actions=["states:StopExecution", "states:DescribeExecution", "states:GetExecutionHistory"],
            resources=[executions]))
        grant_pass_role_to_scheduler(self.scheduler_role, self.api_function)
        self.api_function.add_to_role_policy(iam.PolicyStatement(
            actions=["scheduler:CreateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule"],
            resources=[stack.format_arn(service="scheduler", resource="schedule",
                                        resource_name=f"{self.schedule_group_name}/*")]))
        acknowledge(self.api_function,
                    "AwsSolutions-IAM5[Resource::"
                    f"{nag_arn(self, 'states', f'execution:<{logical_id(self.state_machine)}.Name>:*')}]",
                    "Executions are named per job at run time; the grant covers this state machine's only.")
        acknowledge(self.api_function,
                    "AwsSolutions-IAM5[Resource::"
                    f"{nag_arn(self, 'scheduler', f'schedule/{self.schedule_group_name}/*')}]",
                    "run_at schedules are created per job at run time; the grant is limited to their group.")
        # Admins set and remove the tenant's web search key; it is never read back through the API.
        self.api_function.add_to_role_policy(iam.PolicyStatement(
            actions=["secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DescribeSecret",
                     "secretsmanager:DeleteSecret", "secretsmanager:TagResource"],
            resources=[tenant_secrets]))
        secrets_finding = nag_arn(self, "secretsmanager", f"secret:{self.web_search_keys_prefix}*")
        for function in (self.api_function, self.runner_function):
            acknowledge(function, f"AwsSolutions-IAM5[Resource::{secrets_finding}]",
                        "One web search key per tenant, created at run time; the grant covers that prefix only.")
        for path in ("/jobs", "/jobs/{proxy+}", "/research/web-search"):
            api.route(path, [apigwv2.HttpMethod.ANY], self.api_function)

        self.failed_executions_alarm = self.state_machine.metric_failed(
            period=cdk.Duration.minutes(5), statistic="Sum").create_alarm(
            self, "FailedExecutions", threshold=1, evaluation_periods=1,
            alarm_description=runbook("Agent job executions failed", "job-executions-failed"),
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        self.functions = {"JobsApi": self.api_function, "JobDispatcher": self.dispatcher_function,
                          "JobStep": self.step_function, "JobRunner": self.runner_function,
                          "JobScheduleDue": self.schedule_due_function}

    @property
    def submit_environment(self) -> dict[str, str]:
        """What a function that submits and reads jobs (the MCP tools) needs in its environment."""
        return {"JOBS_TABLE": self.table.table_name, "JOB_QUEUE_URL": self.queue.queue_url}

    def grant_submit(self, function: iam.IGrantable) -> None:
        """Submit jobs (admission sends them to the queue) and read them; nothing else of the context."""
        self._grant_jobs(function)
        self.queue.grant_send_messages(function)

    def _grant_jobs(self, function: iam.IGrantable) -> None:
        """The workers' item-level access: jobs, the ready index and the slots (no table index, no scan)."""
        function.grant_principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem",
                     "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"],
            resources=[self.table.table_arn]))
