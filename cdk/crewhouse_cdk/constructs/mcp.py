"""The MCP context: the MCP server Lambda behind the HTTP API, plus its public RFC 9728 metadata."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from constructs import Construct

from crewhouse_cdk.constructs.auth import Auth
from crewhouse_cdk.constructs.files import FilesContext
from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.jobs import JobsContext
from crewhouse_cdk.constructs.notes import NotesContext
from crewhouse_cdk.constructs.storage import Storage
from crewhouse_cdk.constructs.tasks import TasksContext
from crewhouse_cdk.nag import acknowledge, acknowledge_index_access

METADATA_PATHS = ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp")


class McpContext(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, api: HttpApi, auth: Auth,
                 tasks: TasksContext, notes: NotesContext, files: FilesContext, jobs: JobsContext,
                 layers: DependencyLayers) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.function = CrewhouseFunction(
            self, "McpServer", handler="crewhouse.mcp.api.handler", layers=layers,
            description="MCP server (stateless Streamable HTTP): Crewhouse tools for AI assistants",
            environment={
                "TASKS_TABLE": tasks.table.table_name,
                "NOTES_TABLE": notes.table.table_name,
                "FILES_TABLE": files.table.table_name,
                "FILES_BUCKET": storage.files_bucket.bucket_name,
                "SEARCH_TABLE": storage.search_table.table_name,
                "USER_POOL_ID": auth.user_pool.user_pool_id,
                "MCP_ALLOWED_HOSTS": f"{api.api.api_id}.execute-api.{stack.region}.{stack.url_suffix}",
                **jobs.submit_environment,
            },
        ).function
        # The tools act on tasks and notes (large note bodies live in the bucket under notes/) and read files.
        tasks.table.grant_read_write_data(self.function)
        acknowledge_index_access(self.function, tasks.table)
        notes.table.grant_read_write_data(self.function)
        acknowledge_index_access(self.function, notes.table)
        files.table.grant_read_data(self.function)
        acknowledge_index_access(self.function, files.table)
        notes.grant_bodies(self.function)
        storage.search_table.grant_read_data(self.function)
        jobs.grant_submit(self.function)  # queue_research_task, queue_content_generation, job status and result
        api.route("/mcp", [apigwv2.HttpMethod.POST, apigwv2.HttpMethod.GET, apigwv2.HttpMethod.DELETE],
                  self.function)
        for path in METADATA_PATHS:
            for route in api.route(path, [apigwv2.HttpMethod.GET], self.function, public=True):
                acknowledge(route, "AwsSolutions-APIG4",
                            "OAuth protected-resource metadata (RFC 9728) must be readable before login.")
