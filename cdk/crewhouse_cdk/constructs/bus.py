"""The agentic context bus: the registry, contexts, streams and messaging functions, their tables and bucket,
the hosted agents' inbox, and the offline sweep.

Agents' inboxes are SQS queues and tenants' topics SNS topics created at run time (one per agent, one per topic),
so their grants name the ``crewhouse-bus-`` prefix rather than resources of this template.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from crewhouse.bus.contexts import EXPIRY_CLASSES_DAYS, EXPIRY_TAG
from crewhouse_cdk.constructs.api_functions import serve_api_modules
from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.llm import grant_converse, llm_environment
from crewhouse_cdk.constructs.storage import EVENT_BUS_NAME, Storage, private_bucket, tenant_table
from crewhouse_cdk.constructs.streams import dead_letter_queue
from crewhouse_cdk.nag import acknowledge, acknowledge_function_versions, acknowledge_index_access, logical_id, nag_arn
from crewhouse_cdk.stage import staged_name

RESOURCE_PREFIX = "crewhouse-bus"
# The registry holds the public routes: the token exchange and Crewhouse's own A2A card.
PUBLIC_PATHS = ("/bus/token", "/.well-known/agent-card.json")
API_FUNCTIONS: dict[str, tuple[str, str]] = {
    "BusAgents": ("crewhouse.bus.agents_api", "Bus API: agent registry, heartbeats, credentials, cards, audit"),
    "BusMessages": ("crewhouse.bus.messages_api", "Bus API: send, broadcast, topics, request-reply, inboxes"),
    "BusContexts": ("crewhouse.bus.contexts_api", "Bus API: versioned shared contexts"),
    "BusStreams": ("crewhouse.bus.streams_api", "Bus API: resumable large transfers (S3 multipart)"),
    "BusA2A": ("crewhouse.bus.a2a_api", "Bus API: A2A JSON-RPC to hosted agents"),
}
MESSAGING_FUNCTIONS = ("BusAgents", "BusMessages")  # create/delete inboxes and topics; send and receive
PAYLOAD_FUNCTIONS = ("BusContexts", "BusStreams")


def _index(table: dynamodb.Table, number: int) -> None:
    table.add_global_secondary_index(
        index_name=f"GSI{number}",
        partition_key=dynamodb.Attribute(name=f"GSI{number}PK", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=f"GSI{number}SK", type=dynamodb.AttributeType.STRING))


class BusContext(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, api: HttpApi,
                 layers: DependencyLayers) -> None:
        super().__init__(scope, construct_id)
        # This stage's physical names (crewhouse_cdk.stage).
        self.resource_prefix = staged_name(self, RESOURCE_PREFIX)
        self.event_bus_name = staged_name(self, EVENT_BUS_NAME)
        stack = cdk.Stack.of(self)
        # GSI1: listings (agents, capabilities, contexts); GSI2: agents by status; GSI3: overdue heartbeats.
        self.table = tenant_table(self, "BusTable", ttl_attribute="expires_epoch")
        for number in (1, 2, 3):
            _index(self.table, number)
        # GSI1: by actor; GSI2: by resource. Append-only (the grants below).
        self.audit_table = tenant_table(self, "BusAuditTable")
        for number in (1, 2):
            _index(self.audit_table, number)
        self.bucket = private_bucket(
            self, "PayloadsBucket", access_logs=storage.access_logs_bucket, logs_prefix="bus/",
            # An interrupted transfer resumes within a day; after that its parts are freed. Payloads of contexts with
            # a TTL carry their expiry class as a tag (crewhouse.bus.contexts.expiry_class): one rule a class.
            lifecycle_rules=[s3.LifecycleRule(abort_incomplete_multipart_upload_after=cdk.Duration.days(1)),
                             *(s3.LifecycleRule(id=f"ExpireAfter{days}Days", expiration=cdk.Duration.days(days),
                                                tag_filters={EXPIRY_TAG: str(days)})
                               for days in EXPIRY_CLASSES_DAYS)])
        self.hosted_dead_letters = dead_letter_queue(self, "HostedInboxDlq", of="the hosted agents' inbox")
        self.hosted_inbox = sqs.Queue(
            self, "HostedInbox", enforce_ssl=True, encryption=sqs.QueueEncryption.SQS_MANAGED,
            visibility_timeout=cdk.Duration.seconds(6 * 60),  # 6x the hosted agent function's timeout
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.hosted_dead_letters, max_receive_count=3))
        public_url = f"https://{api.api.api_id}.execute-api.{stack.region}.{stack.url_suffix}/"
        common = {"BUS_TABLE": self.table.table_name, "BUS_AUDIT_TABLE": self.audit_table.table_name,
                  "BUS_BUCKET": self.bucket.bucket_name, "BUS_RESOURCE_PREFIX": self.resource_prefix,
                  "HOSTED_INBOX_URL": self.hosted_inbox.queue_url, "EVENT_BUS_NAME": self.event_bus_name,
                  "PUBLIC_API_URL": public_url}

        self.api_functions = serve_api_modules(
            self, API_FUNCTIONS, api=api, storage=storage, layers=layers, table=self.table, environment=common,
            public=PUBLIC_PATHS)
        for function in self.api_functions.values():
            self._grant_audit(function)
            self.hosted_inbox.grant_send_messages(function)
        registry = self.api_functions["BusAgents"]
        # Client secrets' hashes and agents' access tokens are platform items (CLIENT#…, TOKEN#…), beside personal
        # tokens, so that the API's one authorizer finds every token in one table.
        registry.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"],
            resources=[storage.platform_table.table_arn]))
        registry.add_environment("TOKEN_HASH_SECRET_ARN", storage.token_hash_secret.secret_arn)
        storage.token_hash_secret.grant_read(registry)
        for name in MESSAGING_FUNCTIONS:
            self._grant_messaging(self.api_functions[name])
        for name in PAYLOAD_FUNCTIONS:
            function = self.api_functions[name]
            self.bucket.grant_read_write(function)
            storage.event_bus.grant_put_events_to(function)
            acknowledge(function, f"AwsSolutions-IAM5[Resource::<{logical_id(self.bucket)}.Arn>/*]",
                        "Payloads are objects named per tenant and context at run time, in the bus's own bucket.")
            acknowledge(function, "AwsSolutions-IAM5[Action::s3:Abort*]",
                        "CDK's read-write grant; aborting a multipart upload frees an interrupted transfer.")
            for action in ("s3:GetBucket*", "s3:GetObject*", "s3:List*", "s3:DeleteObject*"):
                acknowledge(function, f"AwsSolutions-IAM5[Action::{action}]",
                            "CDK's read-write grant on the bus's own bucket only.")
        storage.event_bus.grant_put_events_to(registry)
        storage.event_bus.grant_put_events_to(self.api_functions["BusMessages"])  # bus.message, for live updates
        a2a = self.api_functions["BusA2A"]
        for name, value in llm_environment(self).items():
            a2a.add_environment(name, value)
        grant_converse(a2a)

        self.hosted_function = CrewhouseFunction(
            self, "HostedAgents", handler="crewhouse.bus.hosted.handler", layers=layers,
            description="Hosted agents: answers the messages sent to agents Crewhouse runs",
            environment={**common, **llm_environment(self)}, timeout=cdk.Duration.minutes(1)).function
        grant_converse(self.hosted_function)
        self.table.grant_read_write_data(self.hosted_function)
        acknowledge_index_access(self.hosted_function, self.table)
        self.hosted_function.add_event_source(sources.SqsEventSource(
            self.hosted_inbox, batch_size=5, report_batch_item_failures=True))

        self.sweep_function = CrewhouseFunction(
            self, "OfflineSweep", handler="crewhouse.bus.workers.sweep_offline", layers=layers,
            description="Marks agents whose heartbeat is overdue offline and announces agent.offline",
            environment=common, timeout=cdk.Duration.seconds(60)).function
        self.sweep_function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:Query"], resources=[f"{self.table.table_arn}/index/GSI3"]))
        self.sweep_function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:UpdateItem"], resources=[self.table.table_arn]))
        storage.event_bus.grant_put_events_to(self.sweep_function)
        sweep_role = iam.Role(self, "SweepSchedulerRole", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
                              description="Lets EventBridge Scheduler run the bus's offline sweep")
        self.sweep_function.grant_invoke(sweep_role)
        acknowledge_function_versions(sweep_role, self.sweep_function)
        scheduler.CfnSchedule(
            self, "OfflineSweepSchedule", schedule_expression="rate(1 minute)",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(arn=self.sweep_function.function_arn,
                                                        role_arn=sweep_role.role_arn, input="{}"),
            description="Marks agents offline once their heartbeat is overdue")

        self.functions: dict[str, lambda_.Function] = {**self.api_functions, "BusHostedAgents": self.hosted_function,
                                                       "BusOfflineSweep": self.sweep_function}
        self.dead_letter_queues = {"BusHostedInboxDlq": self.hosted_dead_letters}

    def _grant_audit(self, function: lambda_.Function) -> None:
        """Add records and read them; no UpdateItem or DeleteItem, so no function can change the trail."""
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:PutItem", "dynamodb:Query"],
            resources=[self.audit_table.table_arn, f"{self.audit_table.table_arn}/index/*"]))
        acknowledge_index_access(function, self.audit_table)

    def _grant_messaging(self, function: lambda_.Function) -> None:
        stack = cdk.Stack.of(self)
        queues = stack.format_arn(service="sqs", resource=f"{self.resource_prefix}-*")
        topics = stack.format_arn(service="sns", resource=f"{self.resource_prefix}-*")
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["sqs:CreateQueue", "sqs:DeleteQueue", "sqs:GetQueueUrl", "sqs:GetQueueAttributes",
                     "sqs:SetQueueAttributes", "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                     "sqs:ChangeMessageVisibility", "sqs:TagQueue"],
            resources=[queues]))
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["sns:CreateTopic", "sns:DeleteTopic", "sns:GetTopicAttributes", "sns:Subscribe",
                     "sns:Unsubscribe", "sns:Publish", "sns:SetSubscriptionAttributes", "sns:TagResource"],
            resources=[topics]))
        for service in ("sqs", "sns"):
            acknowledge(function, f"AwsSolutions-IAM5[Resource::{nag_arn(self, service, f'{self.resource_prefix}-*')}]",
                        "One inbox per agent and one topic per tenant topic, created at run time; the grant "
                        f"covers the {self.resource_prefix}- prefix only.")
