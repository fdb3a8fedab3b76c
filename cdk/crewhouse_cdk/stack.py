"""The Crewhouse stack: one construct per context."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from crewhouse_cdk.console_stack import ConsoleStack
from crewhouse_cdk.constructs.alerting import Alerting
from crewhouse_cdk.constructs.auth import MOBILE_CALLBACK_URL, Auth
from crewhouse_cdk.constructs.bus import BusContext
from crewhouse_cdk.constructs.chat import ChatContext
from crewhouse_cdk.constructs.console import ConsoleConfig
from crewhouse_cdk.constructs.files import FilesContext
from crewhouse_cdk.constructs.function import DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.jobs import JobsContext
from crewhouse_cdk.constructs.mcp import McpContext
from crewhouse_cdk.constructs.monitoring import Monitoring, NotifyOnAlarm
from crewhouse_cdk.constructs.notes import NotesContext
from crewhouse_cdk.constructs.platform import PlatformApi
from crewhouse_cdk.constructs.slo import ServiceLevelObjectives
from crewhouse_cdk.constructs.storage import Storage
from crewhouse_cdk.constructs.tasks import TasksContext
from crewhouse_cdk.crews_stack import CrewsStack
from crewhouse_cdk.nested import Shared
from crewhouse_cdk.notifications_stack import NotificationsStack
from crewhouse_cdk.stage import DEFAULT_STAGE, STAGE_CONTEXT, tag_context, tag_stage, validate_stage


class CrewhouseStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, stage: str = DEFAULT_STAGE, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # Every construct below names its resources after this stage (crewhouse_cdk.stage.staged_name).
        self.node.set_context(STAGE_CONTEXT, validate_stage(stage))
        tag_stage(self, stage)
        layers = DependencyLayers(self, "Dependencies")
        storage = Storage(self, "Storage")
        auth = Auth(self, "Auth", storage=storage, layers=layers)
        api = HttpApi(self, "Http", auth=auth, storage=storage, layers=layers)
        platform = PlatformApi(self, "Platform", storage=storage, api=api, auth=auth, layers=layers)
        tasks = TasksContext(self, "Tasks", storage=storage, api=api, layers=layers)
        notes = NotesContext(self, "Notes", storage=storage, api=api, layers=layers, tasks_table=tasks.table)
        files = FilesContext(self, "Files", storage=storage, api=api, tasks=tasks, layers=layers,
                             notes_table=notes.table)
        jobs = JobsContext(self, "Jobs", storage=storage, api=api, notes=notes, files=files, layers=layers)
        mcp = McpContext(self, "Mcp", storage=storage, api=api, auth=auth, tasks=tasks, notes=notes, files=files,
                         jobs=jobs, layers=layers)
        chat = ChatContext(self, "Chat", storage=storage, api=api, tasks=tasks, layers=layers)
        bus = BusContext(self, "Bus", storage=storage, api=api, layers=layers)
        shared = Shared(storage=storage, api=api, layers=layers, bus=bus, builtin_tools=mcp.builtin_tools,
                        agent_hosts={"Chat": chat.function},  # crew sessions
                        tables={"jobs": jobs.table, "chat": chat.table})
        self.crews = CrewsStack(self, "Crews", shared=shared)
        # The chat, the agent jobs and hosted agents run on a tenant's own model providers when it has any.
        for function in (chat.function, jobs.runner_function, bus.hosted_function):
            self.crews.providers.grant_tenant_providers(function)
        # Realtime: who may follow an execution; notifications: an approval's starter, by key.
        shared.tables["flows"] = self.crews.flows.table
        self.notifications = NotificationsStack(self, "Notifications", shared=shared)
        # The web console (issue 18): its config.json names this deployment's endpoints.
        self.console = ConsoleStack(self, "Console", shared=shared, config=ConsoleConfig(
            api_url=api.url, region=self.region, user_pool_id=auth.user_pool.user_pool_id,
            user_pool_client_id=auth.mobile_client.user_pool_client_id,
            realtime_url=self.notifications.realtime.stage.url, files_bucket_name=storage.files_bucket.bucket_name))

        functions = {"Platform": platform.handler.function, "Authorizer": api.authorizer_function.function,
                     "PostConfirmation": auth.post_confirmation.function,
                     "PreTokenGeneration": auth.pre_token_generation.function,
                     **tasks.functions, **files.functions, "McpServer": mcp.function, "Chat": chat.function,
                     **notes.functions, **jobs.functions, **bus.functions}
        Monitoring(self, "Monitoring", api=api.api, functions=functions,
                   dead_letter_queues={"TasksStreamDlq": tasks.stream_dlq, "FilesEventsDlq": files.dlq,
                                       "NotesStreamDlq": notes.stream_dlq,
                                       "JobDeadLetters": jobs.dead_letters, **bus.dead_letter_queues},
                   expected_errors={"Authorizer": api.refused_credentials})
        # Outside dev, an API answering 5xx also rolls back each function's canary (constructs/canary.py).
        api_5xx = self.node.find_child("Monitoring").node.find_child("Api5xx")
        assert isinstance(api_5xx, cloudwatch.Alarm)
        api.roll_back_on(api_5xx)
        # Every alarm of the app, the nested stacks' too, notifies the alarms topic (docs/runbooks.md).
        self.alerting = Alerting(self, "Alerting", layers=layers)
        cdk.Aspects.of(self).add(NotifyOnAlarm(self.alerting.topic))
        # The SLOs' burn-rate pages (constructs/slo.py): about 160 alarms, so a nested stack of their own.
        self.slo = cdk.NestedStack(self, "Slo", description="Crewhouse: service level objectives (burn-rate alarms)")
        ServiceLevelObjectives(self.slo, "Objectives", topic=self.alerting.topic)

        # Each capability's resources carry its context tag (cost allocation, ownership); the rest say "platform".
        capabilities = (("tasks", tasks), ("notes", notes), ("files", files), ("jobs", jobs), ("mcp", mcp),
                        ("chat", chat), ("bus", bus), ("crews", self.crews.crews), ("flows", self.crews.flows),
                        ("tools", self.crews.tool_registry), ("providers", self.crews.providers),
                        ("notifications", self.notifications.notifications),
                        ("realtime", self.notifications.realtime), ("console", self.console),
                        ("operations", self.alerting))
        for context, construct in capabilities:
            tag_context(construct, context)
        tag_context(self.node.find_child("Monitoring"), "operations")
        tag_context(self.slo, "operations")

        # What a client needs to talk to this deployment: the mobile app and a web console sign in through the
        # hosted UI (or SRP) with the mobile client, machines get tokens from the token endpoint.
        outputs = {
            "ApiUrl": (api.url, "HTTP API base URL (GET {ApiUrl}health answers without a token)"),
            "OpenApiUrl": (f"{api.url}openapi.json", "The merged OpenAPI document"),
            "McpUrl": (f"{api.url}mcp", "MCP server (streamable HTTP), for a machine client's access token"),
            "Region": (self.region, "Region of every endpoint below"),
            "UserPoolId": (auth.user_pool.user_pool_id, "Cognito user pool"),
            "MobileClientId": (auth.mobile_client.user_pool_client_id,
                               "Public app client (SRP, password, hosted UI code flow with PKCE)"),
            "MobileCallbackUrl": (MOBILE_CALLBACK_URL, "Redirect URI registered for the mobile client"),
            "MachineClientId": (auth.machine_client.user_pool_client_id,
                                "Confidential client (client credentials; its secret is in the Cognito console)"),
            "Issuer": (auth.issuer, "Token issuer; OpenID configuration at {Issuer}/.well-known/openid-configuration"),
            "CognitoDomainUrl": (auth.domain.base_url(), "Hosted UI and OAuth 2.0 endpoints"),
            "TokenEndpoint": (f"{auth.domain.base_url()}/oauth2/token", "OAuth 2.0 token endpoint"),
            "HostedUiSignInUrl": (auth.domain.sign_in_url(auth.mobile_client, redirect_uri=MOBILE_CALLBACK_URL),
                                  "Hosted UI sign-in for the mobile client"),
            "FilesBucketName": (storage.files_bucket.bucket_name, "Uploads and downloads go through presigned URLs"),
            "ConsoleUrl": (self.console.hosting.url, "The web console (CloudFront)"),
            "EventBusName": (storage.event_bus_name, "Domain events (task.completed, job.succeeded …)"),
        }
        for name, (value, description) in outputs.items():
            cdk.CfnOutput(self, name, value=value, description=description)
