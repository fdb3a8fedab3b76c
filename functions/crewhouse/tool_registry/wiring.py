"""The tool registry's public runtime, built from its own settings (read from the calling function's environment).

Other contexts (the flows node runner, hosted agents) import only this module, ``models`` and ``logic``::

    tool_runner(settings: ToolRegistrySettings | None = None) -> ToolRunner
    service_for(settings: ToolRegistrySettings | None = None) -> ToolService

    ToolRunner.converse_tool_config(tenant_id: str, tool_ids: Sequence[str]) -> dict[str, Any]
        # {"tools": [{"toolSpec": {"name", "description", "inputSchema": {"json": …}}}]}; NotFound (404 problem)
        # naming every unknown id; names are Converse-safe ([A-Za-z][A-Za-z0-9_-]{0,63}) and unique in a tenant
    ToolRunner.tool_ids_by_name(tenant_id: str, tool_ids: Sequence[str]) -> dict[str, str]
        # Converse toolUse name -> tool id
    ToolRunner.invoke(identity: Identity, tool_id: str, arguments: Mapping[str, Any]) -> ToolOutcome
        # crewhouse.tools.registry.ToolOutcome(ok, content); never raises for the tool's own failure

A tool id is a registered id or ``builtin:<name>``. The calling function needs: ``TOOL_REGISTRY_TABLE`` (read),
``secretsmanager:GetSecretValue`` on ``<prefix>/*``, ``lambda:InvokeFunction`` on ``SANDBOX_FUNCTION``, and for
builtin tools the grants and environment of the contexts those tools act on (as the MCP server has).
``ToolRegistry.grant_runtime`` (cdk/crewhouse_cdk/constructs/tool_registry.py) grants the first three.
"""

from __future__ import annotations

from crewhouse.core.aws import aws_client
from crewhouse.core.settings import load_settings
from crewhouse.core.table import Table
from crewhouse.tool_registry.logic import CodeRunner, RuntimeOptions, ToolRunner, ToolService
from crewhouse.tool_registry.settings import ToolRegistrySettings
from crewhouse.tool_registry.store import DynamoTools, LambdaSandbox, LocalSandbox, ToolSecrets

__all__ = ["service_for", "tool_runner"]


def _settings(settings: ToolRegistrySettings | None) -> ToolRegistrySettings:
    return settings if settings is not None else load_settings(ToolRegistrySettings)


def tool_runner(settings: ToolRegistrySettings | None = None) -> ToolRunner:
    settings = _settings(settings)
    code: CodeRunner = (LambdaSandbox(aws_client("lambda", settings), settings.sandbox_function)
                        if settings.sandbox_function else LocalSandbox())
    return ToolRunner(
        store=DynamoTools(Table(aws_client("dynamodb", settings), settings.tool_registry_table)),
        secrets=ToolSecrets(aws_client("secretsmanager", settings), settings.tool_secret_prefix),
        code=code,
        options=RuntimeOptions(allow_loopback=settings.crewhouse_local,
                               http_timeout_seconds=settings.http_timeout_seconds,
                               http_max_response_bytes=settings.http_max_response_bytes))


def service_for(settings: ToolRegistrySettings | None = None) -> ToolService:
    runner = tool_runner(settings)
    return ToolService(store=runner.store, secrets=runner.secrets, runner=runner)
