"""Live updates (issue 16): an API Gateway WebSocket API, its connections table, and the fan-out of the
``crewhouse`` bus's events to subscribed connections.

``$connect`` asks the HTTP API's own Lambda authorizer about the caller's credential (Cognito JWTs, personal and
agent tokens: one verification, crewhouse.platform.authorizer) and checks the membership, then files the
connection. A WebSocket API's Lambda authorizer must answer with an IAM policy, the platform's answers with
simple responses (HTTP API payload 2.0), so the ``$connect`` integration does the asking and refuses with 401/403
before API Gateway opens the connection.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from crewhouse.realtime.logic import (
    AGENT_EVENTS,
    BUS_MESSAGE_EVENTS,
    CHAT_EVENTS,
    FLOW_EVENTS,
    JOB_EVENTS,
    NOTIFICATION_EVENTS,
)
from crewhouse_cdk.constructs.function import CrewhouseFunction
from crewhouse_cdk.constructs.http_api import AccessLogSettings
from crewhouse_cdk.constructs.storage import tenant_table
from crewhouse_cdk.constructs.streams import dead_letter_queue
from crewhouse_cdk.nag import acknowledge, logical_id, nag_arn
from crewhouse_cdk.nested import Shared
from crewhouse_cdk.stage import staged_name

STAGE_NAME = "live"
THROTTLE_RATE = 50
THROTTLE_BURST = 100
ACCESS_LOG_FORMAT = apigw.AccessLogFormat.custom(
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","eventType":"$context.eventType",'
    '"routeKey":"$context.routeKey","status":"$context.status","connectionId":"$context.connectionId",'
    '"requestTime":"$context.requestTime","integrationError":"$context.integrationErrorMessage"}')
# The bus's events that reach WebSocket clients (crewhouse.realtime.logic.deliveries_for reads each).
EVENT_SOURCES = {"crewhouse.jobs": JOB_EVENTS, "crewhouse.bus": (*AGENT_EVENTS, *BUS_MESSAGE_EVENTS),
                 "crewhouse.chat": CHAT_EVENTS, "crewhouse.flows": FLOW_EVENTS,
                 "crewhouse.notifications": NOTIFICATION_EVENTS}


class RealtimeContext(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, shared: Shared) -> None:
        super().__init__(scope, construct_id)
        storage, layers = shared.storage, shared.layers
        jobs_table, chat_table, flows_table = shared.tables["jobs"], shared.tables["chat"], shared.tables["flows"]
        self.table = tenant_table(self, "RealtimeTable", ttl_attribute="expires_epoch")
        common = {"REALTIME_TABLE": self.table.table_name, "PLATFORM_TABLE": storage.platform_table.table_name}

        def function(name: str, handler: str, description: str) -> lambda_.Function:
            return CrewhouseFunction(self, name, handler=f"crewhouse.realtime.handlers.{handler}", layers=layers,
                                     description=description, environment=dict(common), memory_size=512,
                                     timeout=cdk.Duration.seconds(10)).function

        self.connect_function = function("Connect", "connect", "WebSocket $connect: checks the credential and "
                                                               "membership, files the connection")
        self.disconnect_function = function("Disconnect", "disconnect", "WebSocket $disconnect: forgets the "
                                                                        "connection and its subscriptions")
        self.default_function = function("Messages", "default", "WebSocket messages: subscribe (with replay), "
                                                                "unsubscribe, ping")
        self.fan_out_function = function("FanOut", "fan_out", "Posts the bus's job, chat, flow and agent events to "
                                                              "the WebSocket connections subscribed to them")

        self.api = apigwv2.WebSocketApi(
            self, "Api", api_name=staged_name(self, "crewhouse-live"), description="Crewhouse live updates (WebSocket)",
            connect_route_options=apigwv2.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration("Connect", self.connect_function)),
            disconnect_route_options=apigwv2.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration("Disconnect", self.disconnect_function)),
            default_route_options=apigwv2.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration("Messages", self.default_function)))
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH,
                                         removal_policy=cdk.RemovalPolicy.DESTROY)
        self.stage = apigwv2.WebSocketStage(
            self, "Stage", web_socket_api=self.api, stage_name=STAGE_NAME, auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=THROTTLE_RATE, burst_limit=THROTTLE_BURST),
            access_log_settings=AccessLogSettings(apigwv2.LogGroupLogDestination(self.access_logs),
                                                  ACCESS_LOG_FORMAT))
        self.callback_url = self.stage.callback_url
        acknowledge(self.api, "AwsSolutions-APIG4", "The $connect integration authorizes: it asks the HTTP API's "
                    "Lambda authorizer and checks the membership, refusing with 401/403 before the connection "
                    "opens; every later message belongs to a connection authorized so.")

        # --- grants: each function exactly what it calls ------------------------------------------------------
        table_arn = self.table.table_arn
        connect = self.connect_function
        connect.add_environment("AUTHORIZER_FUNCTION", shared.api.authorizer_function.function.function_name)
        connect.add_to_role_policy(iam.PolicyStatement(
            actions=["lambda:InvokeFunction"], resources=[shared.api.authorizer_function.function.function_arn]))
        connect.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:GetItem"],
                                                       resources=[storage.platform_table.table_arn]))
        connect.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:PutItem"], resources=[table_arn]))
        removes = ["dynamodb:Query", "dynamodb:BatchWriteItem"]  # a connection and its subscriptions
        self.disconnect_function.add_to_role_policy(iam.PolicyStatement(actions=removes, resources=[table_arn]))
        messages = self.default_function
        messages.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:GetItem", *removes],
                                                        resources=[table_arn]))
        for name, table in (("JOBS_TABLE", jobs_table), ("CHAT_TABLE", chat_table),
                            ("BUS_TABLE", shared.bus.table), ("FLOWS_TABLE", flows_table)):
            messages.add_environment(name, table.table_name)
            messages.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:GetItem"],
                                                            resources=[table.table_arn]))
        fan_out = self.fan_out_function
        fan_out.add_to_role_policy(iam.PolicyStatement(  # GetItem: a subscription filed without its holder
            actions=["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem", *removes], resources=[table_arn]))
        for checker in (messages, fan_out):  # the membership re-check (crewhouse.realtime.logic.MembershipCheck)
            checker.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:GetItem"],
                                                           resources=[storage.platform_table.table_arn]))
        for poster in (messages, fan_out):
            poster.add_environment("REALTIME_CALLBACK_URL", self.callback_url)
            self.stage.grant_management_api_access(poster)
            connections = nag_arn(self, "execute-api", f"<{logical_id(self.api)}>/{STAGE_NAME}/*/@connections/*")
            acknowledge(poster, f"AwsSolutions-IAM5[Resource::{connections}]",
                        "ManageConnections on this API's own stage's connections, whose ids API Gateway "
                        "assigns at run time.")

        # --- the bus's events to the fan-out ------------------------------------------------------------------
        self.dead_letters = dead_letter_queue(self, "FanOutDlq", of="the live updates' fan-out rule")
        self.rule = events.Rule(
            self, "FanOutRule", event_bus=storage.event_bus,
            description="Job progress and state, chat turns, flow execution events, agent status and bus messages: "
                        "to subscribed WebSocket clients",
            event_pattern=events.EventPattern(source=list(EVENT_SOURCES),
                                              detail_type=[t for types in EVENT_SOURCES.values() for t in types]))
        # A live update is worth little late: two retries within a minute, then the dead-letter queue.
        self.rule.add_target(targets.LambdaFunction(fan_out, dead_letter_queue=self.dead_letters, retry_attempts=2,
                                                    max_event_age=cdk.Duration.minutes(1)))

        self.functions: dict[str, lambda_.Function] = {
            "RealtimeConnect": connect, "RealtimeDisconnect": self.disconnect_function,
            "RealtimeMessages": messages, "RealtimeFanOut": fan_out}
        self.dead_letter_queues = {"RealtimeFanOutDlq": self.dead_letters}
        shared.functions.update(self.functions)
        shared.dead_letter_queues.update(self.dead_letter_queues)
