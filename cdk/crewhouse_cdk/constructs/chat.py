"""The chat context: sessions and messages table, and the chat Lambda (tool-using agent over Bedrock)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_iam as iam
from constructs import Construct

from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.storage import Storage, tenant_table
from crewhouse_cdk.constructs.tasks import TasksContext
from crewhouse_cdk.nag import acknowledge, acknowledge_index_access, nag_arn

DEFAULT_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


class ChatContext(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, api: HttpApi,
                 tasks: TasksContext, layers: DependencyLayers) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.table = tenant_table(self, "ChatTable")
        model_id = self.node.try_get_context("crewhouse:bedrockModelId") or DEFAULT_MODEL
        self.function = CrewhouseFunction(
            self, "Chat", handler="crewhouse.chat.api.handler", layers=layers,
            description="Chat: persistent conversations with the tool-using assistant",
            timeout=cdk.Duration.seconds(29),
            environment={
                "CHAT_TABLE": self.table.table_name,
                "TASKS_TABLE": tasks.table.table_name,
                "SEARCH_TABLE": storage.search_table.table_name,
                "CURSOR_SECRET_ARN": storage.cursor_secret.secret_arn,
                "LLM_PROVIDERS": "bedrock",
                "BEDROCK_MODEL_ID": model_id,
                "EVENT_BUS_NAME": storage.event_bus_name,
            },
        ).function
        self.table.grant_read_write_data(self.function)
        tasks.table.grant_read_write_data(self.function)
        acknowledge_index_access(self.function, tasks.table)
        storage.search_table.grant_read_data(self.function)
        storage.cursor_secret.grant_read(self.function)
        storage.event_bus.grant_put_events_to(self.function)  # chat.tool_call and chat.reply, for live updates
        # Converse needs InvokeModel on the inference profile and on the models it routes to (any region).
        self.function.add_to_role_policy(iam.PolicyStatement(
            actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            resources=[f"arn:{stack.partition}:bedrock:*::foundation-model/*",
                       stack.format_arn(service="bedrock", resource="inference-profile", resource_name="*")],
        ))
        acknowledge(self.function, "AwsSolutions-IAM5[Resource::"
                    f"{nag_arn(self, 'bedrock', 'foundation-model/*', region='*', account='')}]",
                    "Cross-region inference profiles route to the model in any region they choose.")
        acknowledge(self.function,
                    f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'bedrock', 'inference-profile/*')}]",
                    "The model is configuration (crewhouse:bedrockModelId); any of this account's profiles.")
        for path in ("/chat/sessions", "/chat/sessions/{proxy+}"):
            api.route(path, [apigwv2.HttpMethod.ANY], self.function)
