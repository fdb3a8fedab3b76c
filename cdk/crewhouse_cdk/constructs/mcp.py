"""The MCP context: the MCP server Lambda behind the HTTP API, plus its public RFC 9728 metadata; and what
Crewhouse's own tools need wherever they run (:class:`BuiltinTools`)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from crewhouse_cdk.constructs.auth import Auth
from crewhouse_cdk.constructs.files import FilesContext
from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.jobs import JobsContext
from crewhouse_cdk.constructs.notes import NotesContext
from crewhouse_cdk.constructs.storage import Storage
from crewhouse_cdk.constructs.tasks import TasksContext
from crewhouse_cdk.grants import grantee_here
from crewhouse_cdk.nag import acknowledge, acknowledge_index_access

METADATA_PATHS = ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp")


class BuiltinTools(Construct):
    """What Crewhouse's own tools (``crewhouse.tools``: tasks, notes, files, jobs) need wherever they run: the MCP
    server, the bus's hosted inbox, and the tool registry's runtime in the crews nested stack (hosted agents, crew
    steps, flow nodes, dry runs), where ``builtin:<name>`` tools act on this stack's tables.

    A function of another stack gets the grants as a policy of this stack on its role (an imported role): the
    policy names this stack's resources as cdk-nag sees them here, and the nested stack names none of them but in
    the function's environment."""

    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, tasks: TasksContext,
                 notes: NotesContext, files: FilesContext, jobs: JobsContext) -> None:
        super().__init__(scope, construct_id)
        self.storage, self.tasks, self.notes, self.files, self.jobs = storage, tasks, notes, files, jobs
        self.environment = {
            "TASKS_TABLE": tasks.table.table_name,
            "NOTES_TABLE": notes.table.table_name,
            "FILES_TABLE": files.table.table_name,
            "FILES_BUCKET": storage.files_bucket.bucket_name,
            "SEARCH_TABLE": storage.search_table.table_name,
            **jobs.submit_environment,
        }

    def grant(self, function: lambda_.Function) -> None:
        """The tools act on tasks and notes (large note bodies live in the bucket under notes/), read files and
        search, and submit and read jobs."""
        for name, value in self.environment.items():
            function.add_environment(name, value)
        grantee = grantee_here(self, function)
        self.tasks.table.grant_read_write_data(grantee)
        acknowledge_index_access(grantee, self.tasks.table)
        self.notes.table.grant_read_write_data(grantee)
        acknowledge_index_access(grantee, self.notes.table)
        self.files.table.grant_read_data(grantee)
        acknowledge_index_access(grantee, self.files.table)
        self.notes.grant_bodies(grantee)
        self.storage.search_table.grant_read_data(grantee)
        self.jobs.grant_submit(grantee)  # queue_research_task, queue_content_generation, job status and result


class McpContext(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, api: HttpApi, auth: Auth,
                 tasks: TasksContext, notes: NotesContext, files: FilesContext, jobs: JobsContext,
                 layers: DependencyLayers) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.builtin_tools = BuiltinTools(self, "BuiltinTools", storage=storage, tasks=tasks, notes=notes,
                                          files=files, jobs=jobs)
        self.function = CrewhouseFunction(
            self, "McpServer", handler="crewhouse.mcp.api.handler", layers=layers,
            description="MCP server (stateless Streamable HTTP): Crewhouse tools for AI assistants",
            environment={
                "USER_POOL_ID": auth.user_pool.user_pool_id,
                "MCP_ALLOWED_HOSTS": f"{api.api.api_id}.execute-api.{stack.region}.{stack.url_suffix}",
            },
        ).function
        self.builtin_tools.grant(self.function)
        api.route("/mcp", [apigwv2.HttpMethod.POST, apigwv2.HttpMethod.GET, apigwv2.HttpMethod.DELETE],
                  self.function)
        for path in METADATA_PATHS:
            for route in api.route(path, [apigwv2.HttpMethod.GET], self.function, public=True):
                acknowledge(route, "AwsSolutions-APIG4",
                            "OAuth protected-resource metadata (RFC 9728) must be readable before login.")
