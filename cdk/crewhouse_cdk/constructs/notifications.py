"""Notifications (issue 16): the notifications table, the API function, the consumer of the bus's job and task
events, the function one-time EventBridge Scheduler schedules invoke (sends at a time, recurrences, e-mail after
quiet hours), and the SES configuration set notification e-mail goes out with, whose deliveries, bounces and
complaints SES publishes to the default event bus, where a rule hands them to the e-mail events function.

The webhook channel: the delivery queue (SQS-encrypted, TLS only, its own DLQ for messages whose handling fails 5
times), the worker that consumes it (partial batch failures), and the customer-managed KMS key (rotation on) the
signing secrets are encrypted with (:mod:`crewhouse.notifications.webhooks` says why this and not the providers'
envelope or Secrets Manager).

Mobile push: the deployer's SNS platform applications (CloudFormation has no resource for them), named by CDK
context (:data:`PUSH_CONTEXT`; none named: push is off and the devices routes answer 503). The functions that
deliver may ``sns:Publish`` to, and ``sns:DeleteEndpoint`` (a disabled one), endpoints of those applications only;
the API also ``sns:CreatePlatformEndpoint`` on them (device registration).

Each function's role is what it calls: the API reads and writes its table (derived from its router), reads
members and profiles (GetItem on the platform table, granted by the HTTP API), sends e-mail from the configured
sender, creates schedules in its own group and queues webhook deliveries; the consumer and the schedule function
do the same without the API's idempotency and cursor grants. The webhooks API and the worker alone use the key:
``kms:Encrypt`` (the API, at registration) and ``kms:Decrypt`` (both, to sign), only with the tenant, user and
webhook in the encryption context.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from crewhouse_cdk.constructs.api_functions import serve_api_modules
from crewhouse_cdk.constructs.function import CrewhouseFunction
from crewhouse_cdk.constructs.storage import EVENT_BUS_NAME, tenant_table
from crewhouse_cdk.constructs.streams import dead_letter_queue
from crewhouse_cdk.grants import grant_pass_role_to_scheduler
from crewhouse_cdk.nag import acknowledge, acknowledge_function_versions, nag_arn
from crewhouse_cdk.nested import Shared
from crewhouse_cdk.stage import staged_name

SCHEDULE_GROUP = "crewhouse-notifications"
CONFIGURATION_SET = "crewhouse-notifications"
EMAIL_EVENT_DESTINATION = "crewhouse-notifications-events"
EMAIL_EVENT_TYPES = ("Email Delivered", "Email Bounced", "Email Complaint Received")
SENDER_CONTEXT = "crewhouse:notificationSender"
# The SNS platform applications of mobile push, by the setting that carries each: a full ARN, or
# ``<PLATFORM>/<name>`` for one in the stack's own account and region (what the embedded cloud passes).
PUSH_CONTEXT = {"PUSH_FCM_APPLICATION_ARN": "crewhouse:pushFcmApplication",
                "PUSH_APNS_APPLICATION_ARN": "crewhouse:pushApnsApplication"}
DEFAULT_SENDER = "no-reply@crewhouse.local"  # the invitation sender's default: one identity to verify in SES
API_FUNCTIONS: dict[str, tuple[str, str]] = {
    "NotificationsApi": ("crewhouse.notifications.api",
                         "Notifications API: inbox, sending, templates, preferences"),
    "WebhooksApi": ("crewhouse.notifications.webhooks_api",
                    "Notification webhooks API: register, list, change, test, deliveries, redrive"),
}
WEBHOOK_MAX_RECEIVES = 5  # a message whose handling fails (not a failed POST: that is retried by a new message)
WEBHOOK_WORKER_SECONDS = 60  # a batch of 4 deliveries of at most 10 s each, with room
# KMS answers only for the context a secret was encrypted under; these keys must be in every request.
WEBHOOK_CONTEXT_KEYS = ("tenant_id", "user_id", "webhook_id")
# The bus's events that become notifications (crewhouse.notifications.logic.event_content reads each): one rule
# a source.
EVENT_SOURCES: dict[str, tuple[str, ...]] = {
    "crewhouse.jobs": ("job.succeeded", "job.failed"),
    "crewhouse.tasks": ("task.reminder.due",),
    "crewhouse.flows": ("flow.approval_requested",),
    "crewhouse.bus": ("agent.offline",),
    "crewhouse.files": ("file.retention.warning",),
}


class NotificationsContext(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, shared: Shared) -> None:
        super().__init__(scope, construct_id)
        # This stage's physical names (crewhouse_cdk.stage).
        self.schedule_group_name = staged_name(self, SCHEDULE_GROUP)
        self.configuration_set_name = staged_name(self, CONFIGURATION_SET)
        self.email_event_destination_name = staged_name(self, EMAIL_EVENT_DESTINATION)
        self.event_bus_name = staged_name(self, EVENT_BUS_NAME)
        storage, layers = shared.storage, shared.layers
        self.table = tenant_table(self, "NotificationsTable", ttl_attribute="expires_epoch")  # webhook deliveries
        self.table.add_global_secondary_index(  # unread notifications (sparse)
            index_name="GSI1",
            partition_key=dynamodb.Attribute(name="GSI1PK", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="GSI1SK", type=dynamodb.AttributeType.STRING))
        sender = self.node.try_get_context(SENDER_CONTEXT) or DEFAULT_SENDER
        self.configuration_set = ses.ConfigurationSet(
            self, "EmailConfigurationSet", configuration_set_name=self.configuration_set_name,
            reputation_metrics=True, sending_enabled=True)
        # SES publishes the set's deliveries, bounces and complaints to the account's default bus (the only bus
        # an SES EventBridge destination may name); a rule there hands them to the e-mail events function.
        default_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", "default")
        self.configuration_set.add_event_destination(
            "EmailEvents", configuration_set_event_destination_name=self.email_event_destination_name,
            destination=ses.EventDestination.event_bus(default_bus),
            events=[ses.EmailSendingEvent.DELIVERY, ses.EmailSendingEvent.BOUNCE, ses.EmailSendingEvent.COMPLAINT])
        self.schedule_group = scheduler.CfnScheduleGroup(self, "ScheduleGroup", name=self.schedule_group_name)
        self.scheduler_role = iam.Role(
            self, "SchedulerRole", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description="Lets EventBridge Scheduler invoke the notifications' schedule function")
        # --- the webhook channel: its queue with a DLQ, and the key of the signing secrets -----------------------
        self.webhook_dead_letters = dead_letter_queue(self, "WebhookDeliveriesDlq",
                                                      of="the webhook delivery queue")
        self.webhook_queue = sqs.Queue(
            self, "WebhookDeliveries", enforce_ssl=True, encryption=sqs.QueueEncryption.SQS_MANAGED,
            visibility_timeout=cdk.Duration.seconds(6 * WEBHOOK_WORKER_SECONDS),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.webhook_dead_letters,
                                                  max_receive_count=WEBHOOK_MAX_RECEIVES))
        self.webhook_key = kms.Key(self, "WebhookSecretsKey", enable_key_rotation=True,
                                   description="Encrypts the signing secrets of users' notification webhooks",
                                   removal_policy=cdk.RemovalPolicy.RETAIN)
        common = {"NOTIFICATIONS_TABLE": self.table.table_name, "NOTIFICATION_SENDER": sender,
                  "SES_CONFIGURATION_SET": self.configuration_set_name,
                  "DELIVERY_SCHEDULE_GROUP": self.schedule_group_name,
                  "DELIVERY_ROLE_ARN": self.scheduler_role.role_arn, "EVENT_BUS_NAME": self.event_bus_name,
                  "WEBHOOK_QUEUE_URL": self.webhook_queue.queue_url}

        self.schedule_function = CrewhouseFunction(
            self, "ScheduleDue", handler="crewhouse.notifications.workers.on_schedule", layers=layers,
            description="Notifications: a send at its time (and a recurrence's next), e-mail after quiet hours",
            environment=dict(common), timeout=cdk.Duration.seconds(30)).function
        self.schedule_function.grant_invoke(self.scheduler_role)
        acknowledge_function_versions(self.scheduler_role, self.schedule_function)
        common["DELIVERY_TARGET_ARN"] = self.schedule_function.function_arn

        self.consumer_function = CrewhouseFunction(
            self, "EventConsumer", handler="crewhouse.notifications.workers.on_domain_event", layers=layers,
            description="Notifications from the bus's job, task, flow approval, agent and file retention events",
            environment=dict(common), timeout=cdk.Duration.seconds(30)).function
        # The recipients events do not name, read by key: an offline agent's registrant (the bus registry) and a
        # flow execution's starter (the flows table, when the flows context is deployed).
        owner_tables: dict[str, dynamodb.ITable] = {"BUS_TABLE": shared.bus.table}
        if "flows" in shared.tables:
            owner_tables["FLOWS_TABLE"] = shared.tables["flows"]
        for variable, table in owner_tables.items():
            self.consumer_function.add_environment(variable, table.table_name)
            self.consumer_function.add_to_role_policy(iam.PolicyStatement(
                actions=["dynamodb:GetItem"], resources=[table.table_arn]))

        self.api_functions = serve_api_modules(self, API_FUNCTIONS, api=shared.api, storage=storage, layers=layers,
                                               environment=common, table=self.table)
        self.api_function = self.api_functions["NotificationsApi"]
        # The functions that deliver notifications announce each new in-app one (its recipient's live topic).
        for delivering in (self.api_function, self.schedule_function, self.consumer_function):
            storage.event_bus.grant_put_events_to(delivering)
        self.webhooks_api_function = self.api_functions["WebhooksApi"]
        self.webhooks_api_function.add_environment("WEBHOOK_KEY_ID", self.webhook_key.key_arn)
        self._grant_key(self.webhooks_api_function, "kms:Encrypt", "kms:Decrypt")  # register; sign a test ping
        self.webhook_queue.grant_send_messages(self.webhooks_api_function)  # redrive

        self.webhook_worker = CrewhouseFunction(
            self, "WebhookWorker", handler="crewhouse.notifications.workers.deliver_webhooks", layers=layers,
            description="Notification webhooks: one signed POST per queued delivery, retried with backoff, then "
                        "dead-lettered",
            environment={**common, "WEBHOOK_KEY_ID": self.webhook_key.key_arn},
            timeout=cdk.Duration.seconds(WEBHOOK_WORKER_SECONDS)).function
        self.webhook_worker.add_to_role_policy(iam.PolicyStatement(  # deliveries, webhooks, notifications' history
            actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], resources=[self.table.table_arn]))
        self._grant_key(self.webhook_worker, "kms:Decrypt")
        self.webhook_queue.grant_send_messages(self.webhook_worker)  # the next attempt, delayed
        self.webhook_worker.add_event_source(sources.SqsEventSource(
            self.webhook_queue, batch_size=4, report_batch_item_failures=True))

        for function in (self.schedule_function, self.consumer_function):
            function.add_environment("PLATFORM_TABLE", storage.platform_table.table_name)
            function.add_to_role_policy(iam.PolicyStatement(  # members' addresses and profiles
                actions=["dynamodb:GetItem"], resources=[storage.platform_table.table_arn]))
            function.add_to_role_policy(iam.PolicyStatement(  # Query: the recipient's webhooks
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                         "dynamodb:Query"],
                resources=[self.table.table_arn]))
        for function in (self.api_function, self.schedule_function, self.consumer_function):
            self.webhook_queue.grant_send_messages(function)  # a notification's webhook deliveries
        for function in (self.api_function, self.schedule_function, self.consumer_function):
            self._grant_sending(function, sender)
        self.push_applications = self._push_applications()
        if self.push_applications:
            self._grant_push(self.api_function, self.schedule_function, self.consumer_function)

        # --- the bus's events to the consumer: one rule a source ---------------------------------------------
        self.dead_letters = dead_letter_queue(self, "EventsDlq", of="the notifications' event rules")
        self.rules: dict[str, events.Rule] = {}
        for source, detail_types in EVENT_SOURCES.items():
            name = source.split(".")[-1].capitalize()
            rule = self.rules[source] = events.Rule(
                self, f"{name}EventsRule", event_bus=storage.event_bus,
                description=f"{', '.join(detail_types)}: notifications for their owners",
                event_pattern=events.EventPattern(source=[source], detail_type=list(detail_types)))
            rule.add_target(targets.LambdaFunction(self.consumer_function, dead_letter_queue=self.dead_letters,
                                                   retry_attempts=4, max_event_age=cdk.Duration.hours(2)))

        # --- SES's events of the configuration set: on the notification's e-mail history ------------------------
        self.email_events_function = CrewhouseFunction(
            self, "EmailEvents", handler="crewhouse.notifications.workers.on_email_event", layers=layers,
            description="Notifications: SES deliveries, bounces and complaints on each e-mail's history; a hard "
                        "bounce suppresses the address",
            environment={"NOTIFICATIONS_TABLE": self.table.table_name}, timeout=cdk.Duration.seconds(30)).function
        self.email_events_function.add_to_role_policy(iam.PolicyStatement(  # the notification; its history, PREFS
            actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[self.table.table_arn]))
        self.email_events_rule = events.Rule(
            self, "EmailEventsRule", event_bus=default_bus,
            description="SES events of the notifications' configuration set: recorded on each e-mail's history",
            event_pattern=events.EventPattern(
                source=["aws.ses"], detail_type=list(EMAIL_EVENT_TYPES),
                detail={"mail": {"tags": {"ses:configuration-set": [self.configuration_set_name]}}}))
        self.email_events_rule.add_target(targets.LambdaFunction(
            self.email_events_function, dead_letter_queue=self.dead_letters, retry_attempts=4,
            max_event_age=cdk.Duration.hours(2)))

        self.functions: dict[str, lambda_.IFunction] = {
            **self.api_functions, "NotificationsEventConsumer": self.consumer_function,
            "NotificationsScheduleDue": self.schedule_function, "NotificationsWebhookWorker": self.webhook_worker,
            "NotificationsEmailEvents": self.email_events_function}
        self.dead_letter_queues = {"NotificationsEventsDlq": self.dead_letters,
                                   "NotificationsWebhookDeliveriesDlq": self.webhook_dead_letters}
        shared.functions.update(self.functions)
        shared.dead_letter_queues.update(self.dead_letter_queues)

    def _push_applications(self) -> dict[str, tuple[str, str, str]]:
        """Setting -> (application ARN, its endpoints' ARN pattern, the pattern as cdk-nag shows it)."""
        stack = cdk.Stack.of(self)
        found = {}
        for variable, context_key in PUSH_CONTEXT.items():
            named = str(self.node.try_get_context(context_key) or "").strip()
            if not named:
                continue
            if named.startswith("arn:"):  # arn:<partition>:sns:<region>:<account>:app/<PLATFORM>/<name>
                prefix, _, app = named.partition(":app/")
                endpoints = f"{prefix}:endpoint/{app}/*"
                found[variable] = (named, endpoints, endpoints)
            else:
                found[variable] = (stack.format_arn(service="sns", resource="app", resource_name=named),
                                   stack.format_arn(service="sns", resource="endpoint", resource_name=f"{named}/*"),
                                   nag_arn(self, "sns", f"endpoint/{named}/*"))
        return found

    def _grant_push(self, api: lambda_.Function, *delivering: lambda_.Function) -> None:
        applications = [arn for arn, _, _ in self.push_applications.values()]
        endpoints = [pattern for _, pattern, _ in self.push_applications.values()]
        for function in (api, *delivering):
            for variable, (arn, _, _) in self.push_applications.items():
                function.add_environment(variable, arn)
            # Publish to the user's devices; delete an endpoint SNS disabled (and, in the API, a removed device).
            function.add_to_role_policy(iam.PolicyStatement(actions=["sns:Publish", "sns:DeleteEndpoint"],
                                                            resources=endpoints))
            for _, _, shown in self.push_applications.values():
                acknowledge(function, f"AwsSolutions-IAM5[Resource::{shown}]",
                            "Device endpoints are created per registered token at run time; the grant is limited "
                            "to the endpoints of the deployer's push platform applications.")
        api.add_to_role_policy(iam.PolicyStatement(  # device registration
            actions=["sns:CreatePlatformEndpoint"], resources=applications))

    def _grant_key(self, function: lambda_.Function, *actions: str) -> None:
        function.add_to_role_policy(iam.PolicyStatement(
            actions=list(actions), resources=[self.webhook_key.key_arn],
            conditions={"Null": {f"kms:EncryptionContext:{key}": "false" for key in WEBHOOK_CONTEXT_KEYS}}))

    def _grant_sending(self, function: lambda_.Function, sender: str) -> None:
        stack = cdk.Stack.of(self)
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["ses:SendEmail"],
            resources=[stack.format_arn(service="ses", resource="identity", resource_name="*"),
                       stack.format_arn(service="ses", resource="configuration-set",
                                        resource_name=self.configuration_set_name)],
            conditions={"StringEquals": {"ses:FromAddress": sender}}))
        acknowledge(function, f"AwsSolutions-IAM5[Resource::{nag_arn(function, 'ses', 'identity/*')}]",
                    "SES authorizes sending against the sender and each recipient identity; the condition pins "
                    "the From address to the configured notification sender.")
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["scheduler:CreateSchedule"],
            resources=[stack.format_arn(service="scheduler", resource="schedule",
                                        resource_name=f"{self.schedule_group_name}/*")]))
        acknowledge(function,
                    "AwsSolutions-IAM5[Resource::"
                    f"{nag_arn(function, 'scheduler', f'schedule/{self.schedule_group_name}/*')}]",
                    "One-time schedules are created per send at run time; the grant is limited to their group.")
        grant_pass_role_to_scheduler(self.scheduler_role, function)
