"""The tool registry: tools registered, read, changed, deleted and dry-run."""

from __future__ import annotations

from typing import Any

from tests.cost.catalog import Context, Effect, Metered
from tests.cost.operations.agents_support import ok, unique

GREET = "def run(input):\n    return {'greeting': 'hello ' + input['name']}\n"
GREET_SCHEMAS = {"input_schema": {"type": "object", "properties": {"name": {"type": "string"}},
                                  "required": ["name"]},
                 "output_schema": {"type": "object", "properties": {"greeting": {"type": "string"}},
                                   "required": ["greeting"]}}


def _new_tool(ctx: Context) -> dict[str, Any]:
    response = ctx.api.post("/tools", json={"name": unique("tasks"), "kind": "builtin",
                                            "config": {"tool": "get_tasks"}}, headers=ctx.headers)
    return {**ok(response, 201), "etag": response.headers.get("etag")}


def code_tool(ctx: Context) -> dict[str, Any]:
    if "code_tool" not in ctx.state:
        ctx.state["code_tool"] = ok(ctx.api.post("/tools", json={"name": "greet", "kind": "code",
                                                                 "config": {"source": GREET}, **GREET_SCHEMAS},
                                                 headers=ctx.headers), 201)
    return dict(ctx.state["code_tool"])


def create_tool(ctx: Context, _: Any) -> Effect:
    _new_tool(ctx)
    return None


def list_tools(ctx: Context, _: Any) -> Effect:
    code_tool(ctx)
    assert ok(ctx.api.get("/tools", headers=ctx.headers))["items"]
    return None


def builtin_tools(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.get("/tools/builtin", headers=ctx.headers))
    return None


def get_tool(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.get(f"/tools/{code_tool(ctx)['id']}", headers=ctx.headers))
    return None


def change_tool(ctx: Context, tool: dict[str, Any]) -> Effect:
    ok(ctx.api.put(f"/tools/{tool['id']}", json={"name": tool["name"],
                                                 "description": "open tasks", "config": {"tool": "get_tasks"}},
                   headers={**ctx.headers, "If-Match": tool["etag"]}))
    return None


def delete_tool(ctx: Context, tool: dict[str, Any]) -> Effect:
    ok(ctx.api.delete(f"/tools/{tool['id']}", headers=ctx.headers), 204)
    return None


def validate_code_tool(ctx: Context, _: Any) -> Effect:
    result = ok(ctx.api.post(f"/tools/{code_tool(ctx)['id']}/validate", json={"input": {"name": "Ada"}},
                             headers=ctx.headers))
    assert result, result
    return None


METERED: list[Metered] = [
    Metered("register a tool", ("POST /tools",), create_tool),
    Metered("list tools", ("GET /tools",), list_tools),
    Metered("Crewhouse's builtin tools", ("GET /tools/builtin",), builtin_tools),
    Metered("get a tool", ("GET /tools/{tool_id}",), get_tool),
    Metered("change a tool", ("PUT /tools/{tool_id}",), change_tool, _new_tool),
    Metered("delete a tool", ("DELETE /tools/{tool_id}",), delete_tool, _new_tool),
    Metered("dry-run a code tool in the sandbox", ("POST /tools/{tool_id}/validate",), validate_code_tool),
]
