"""The MCP server: every registry tool, served over stateless Streamable HTTP with JSON responses.

Each tool's signature is built from its input model, so MCP arguments are the REST field names and
the SDK publishes the same JSON schema; results are the output model (``structuredContent``).
Identity is read from the API Gateway event of the HTTP request carrying the call.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from crewhouse.core.identity import identity_from_event
from crewhouse.core.settings import load_settings
from crewhouse.tools.registry import Tool, ToolContext, call_tool, tools

INSTRUCTIONS = ("Crewhouse tools: tasks with ABC priorities (A most important). Labels like A1, A2 show the "
                "order within a day and letter. Identity comes from your login; never pass user ids.")


def _context(ctx: Context) -> ToolContext:
    request = ctx.request_context.request
    event = request.scope.get("aws.event") if request is not None else None
    return ToolContext(identity=identity_from_event(event or {}), settings_for=load_settings)


def _as_mcp_tool(tool: Tool) -> Any:
    def run(ctx: Context, **arguments: Any) -> Any:
        outcome = call_tool(tool.name, arguments, _context(ctx))
        if not outcome.ok:
            raise ToolError(outcome.text)  # becomes a result with isError, not a protocol error
        return tool.output_model.model_validate(outcome.content)

    parameters = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Context)]
    for name, field in tool.input_model.model_fields.items():
        default = inspect.Parameter.empty if field.is_required() else field.get_default(call_default_factory=True)
        # The field's constraints and description, without its default (that goes on the parameter).
        annotation: Any = Annotated.__class_getitem__(  # type: ignore[attr-defined]
            (field.annotation, Field(description=field.description), *field.metadata))
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                            default=default))
    run.__signature__ = inspect.Signature(parameters, return_annotation=tool.output_model)  # type: ignore[attr-defined]
    run.__name__ = tool.name
    return run


def build_server() -> MCPServer:
    server: MCPServer = MCPServer("crewhouse", instructions=INSTRUCTIONS, version="1.0.0")
    for tool in tools():
        server.add_tool(_as_mcp_tool(tool), name=tool.name, description=tool.description,
                        annotations=ToolAnnotations(read_only_hint=tool.read_only), structured_output=True)
    return server
