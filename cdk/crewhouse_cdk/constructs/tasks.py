"""The tasks context: its table and stream, the API functions, the stream processor (search index,
sync log, reminder schedules, domain events) and the reminder function EventBridge Scheduler invokes."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from crewhouse_cdk.constructs.api_functions import serve_api_modules
from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.storage import EVENT_BUS_NAME, Storage, tenant_table
from crewhouse_cdk.constructs.streams import consume_stream, dead_letter_queue
from crewhouse_cdk.grants import grant_pass_role_to_scheduler
from crewhouse_cdk.nag import acknowledge, acknowledge_function_versions, nag_arn
from crewhouse_cdk.stage import staged_name

REMINDER_GROUP = "crewhouse-reminders"
# Construct id -> (handler module, description): one function per module of crewhouse.tasks.api, its routes
# and grants derived from the module's router (crewhouse_cdk.routes).
API_FUNCTIONS: dict[str, tuple[str, str]] = {
    "TasksList": ("crewhouse.tasks.api.listing", "Tasks API: the task list (GET /tasks)"),
    "TasksRead": ("crewhouse.tasks.api.reads", "Tasks API: search, one task, the sync feed"),
    "TasksWrite": ("crewhouse.tasks.api.writes", "Tasks API: create (also by quick add), change, delete"),
    "TasksActions": ("crewhouse.tasks.api.actions", "Tasks API: move, complete, reopen, dependencies"),
    "TaskTemplates": ("crewhouse.tasks.api.templates", "Tasks API: task templates"),
}


class TasksContext(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, api: HttpApi,
                 layers: DependencyLayers) -> None:
        super().__init__(scope, construct_id)
        # This stage's physical names (crewhouse_cdk.stage).
        self.reminder_group_name = staged_name(self, REMINDER_GROUP)
        self.event_bus_name = staged_name(self, EVENT_BUS_NAME)
        stack = cdk.Stack.of(self)
        self.table = tenant_table(self, "TasksTable", stream=True)
        for index in ("GSI1", "GSI2", "GSI3"):
            self.table.add_global_secondary_index(
                index_name=index,
                partition_key=dynamodb.Attribute(name=f"{index}PK", type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=f"{index}SK", type=dynamodb.AttributeType.STRING),
            )
        common = {
            "TASKS_TABLE": self.table.table_name,
            "SEARCH_TABLE": storage.search_table.table_name,
            "SYNC_TABLE": storage.sync_table.table_name,
            "EVENT_BUS_NAME": self.event_bus_name,
        }

        # The HTTP API: one function per module of crewhouse.tasks.api, each with only its routes (FastAPI builds
        # every route at import: fewer routes, a faster cold start).
        self.api_functions = serve_api_modules(self, API_FUNCTIONS, api=api, storage=storage, layers=layers,
                                               environment=common, table=self.table)
        storage.search_table.grant_read_data(self.api_functions["TasksRead"])
        storage.sync_table.grant_read_data(self.api_functions["TasksRead"])

        self.reminder_function = CrewhouseFunction(
            self, "ReminderDue", handler="crewhouse.tasks.workers.reminder_due", layers=layers,
            description="Puts task.reminder.due on the bus when a reminder schedule fires",
            environment=common,
        ).function
        self.reminder_function.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:GetItem"],
                                                                      resources=[self.table.table_arn]))
        storage.event_bus.grant_put_events_to(self.reminder_function)

        self.schedule_group = scheduler.CfnScheduleGroup(self, "ReminderGroup", name=self.reminder_group_name)
        self.scheduler_role = iam.Role(
            self, "SchedulerRole", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description="Lets EventBridge Scheduler invoke the reminder function",
        )
        self.reminder_function.grant_invoke(self.scheduler_role)
        acknowledge_function_versions(self.scheduler_role, self.reminder_function)

        self.stream_dlq = dead_letter_queue(self, "StreamFailures", of="the tasks stream processor")
        self.stream_function = CrewhouseFunction(
            self, "TasksStream", handler="crewhouse.tasks.workers.on_table_changes", layers=layers,
            description="Tasks stream: search index, sync log, reminder schedules, domain events",
            environment={**common, "REMINDER_SCHEDULE_GROUP": self.reminder_group_name,
                         "REMINDER_TARGET_ARN": self.reminder_function.function_arn,
                         "REMINDER_ROLE_ARN": self.scheduler_role.role_arn},
        ).function
        consume_stream(self.stream_function, self.table, self.stream_dlq)
        storage.search_table.grant_read_write_data(self.stream_function)
        storage.sync_table.grant_write_data(self.stream_function)
        storage.event_bus.grant_put_events_to(self.stream_function)
        grant_pass_role_to_scheduler(self.scheduler_role, self.stream_function)
        self.stream_function.add_to_role_policy(iam.PolicyStatement(
            actions=["scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule",
                     "scheduler:GetSchedule"],
            resources=[stack.format_arn(service="scheduler", resource="schedule",
                                        resource_name=f"{self.reminder_group_name}/*")],
        ))
        acknowledge(self.stream_function,
                    "AwsSolutions-IAM5[Resource::"
                    f"{nag_arn(self, 'scheduler', f'schedule/{self.reminder_group_name}/*')}]",
                    "Reminder schedules are created per task at run time; the grant is limited to their group.")
        self.functions = {**self.api_functions, "TasksStream": self.stream_function,
                          "ReminderDue": self.reminder_function}
