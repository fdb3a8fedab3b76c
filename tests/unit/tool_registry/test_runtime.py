"""The runtime other contexts call (ToolRunner), the http caller's SSRF guard on redirects, and mcp tools called
with the official SDK client against a real MCP server on loopback (local mode)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from crewhouse.core.identity import Identity
from crewhouse.tool_registry.failures import ToolFailure
from crewhouse.tool_registry.http_tool import call_http
from crewhouse.tool_registry.logic import RuntimeOptions, ToolRunner
from crewhouse.tool_registry.mcp_tool import call_mcp
from crewhouse.tool_registry.models import AuthConfig, HttpConfig, McpConfig
from crewhouse.tool_registry.store import LocalSandbox
from tests.support.tool_registry import json_answer, local_endpoint

MEMBER = Identity(tenant_id="t1", user_id="u1", role="member", scopes=frozenset())
OBSERVER = Identity(tenant_id="t1", user_id="u2", role="observer", scopes=frozenset())


class Tools:
    def __init__(self, *records: dict[str, Any]) -> None:
        self.records = {(r["tenant_id"], r["id"]): r for r in records}

    def get(self, tenant_id: str, tool_id: str) -> dict[str, Any] | None:
        return self.records.get((tenant_id, tool_id))

    def get_many(self, tenant_id: str, tool_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {i: self.records[(tenant_id, i)] for i in tool_ids if (tenant_id, i) in self.records}


class NoSecrets:
    def name_for(self, tenant_id: str, tool_id: str) -> str:
        return f"{tenant_id}/{tool_id}"

    def get(self, name: str) -> str | None:
        return None


def record(tool_id: str, kind: str, config: dict[str, Any], *, tenant: str = "t1", name: str | None = None,
           output_schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": tool_id, "tenant_id": tenant, "name": name or tool_id, "description": f"{tool_id} tool",
            "kind": kind, "config": config, "output_schema": output_schema, "version": 1,
            "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}


def runner(*records: dict[str, Any], **kwargs: Any) -> ToolRunner:
    return ToolRunner(store=Tools(*records), secrets=NoSecrets(), code=LocalSandbox(),  # type: ignore[arg-type]
                      options=RuntimeOptions(allow_loopback=True), **kwargs)


DOUBLE = record("double", "code", {"source": "def run(i):\n    return {'n': i['n'] * 2}\n", "entry": "run",
                                   "timeout_seconds": 3, "memory_mb": 128},
                output_schema={"type": "object", "properties": {"n": {"type": "integer", "maximum": 10}}})


def test_converse_tool_config_names_each_tool_with_its_schema() -> None:
    config = runner(DOUBLE, record("other", "code", {}, tenant="t2")).converse_tool_config(
        "t1", ["double", "builtin:get_tasks"])
    specs = [t["toolSpec"] for t in config["tools"]]
    assert [s["name"] for s in specs] == ["double", "get_tasks"]
    assert specs[0]["inputSchema"]["json"]["required"] == ["n"] and specs[0]["description"] == "double tool"
    assert "properties" in specs[1]["inputSchema"]["json"]
    from crewhouse.core.errors import NotFound

    with pytest.raises(NotFound) as raised:
        runner(DOUBLE, record("other", "code", {}, tenant="t2")).converse_tool_config("t1", ["double", "other"])
    assert raised.value.extra["missing"] == ["other"]  # another tenant's id is unknown here


def test_invoke_validates_runs_and_checks_the_output_without_raising() -> None:
    tools = runner(DOUBLE)
    assert tools.invoke(MEMBER, "double", {"n": 2}).content == {"n": 4}
    bad = tools.invoke(MEMBER, "double", {"n": "two", "extra": 1})
    assert not bad.ok and bad.content["error"] == "invalid-arguments" and bad.content["errors"][0]["path"] == "n"
    too_big = tools.invoke(MEMBER, "double", {"n": 6})
    assert not too_big.ok and too_big.content["error"] == "invalid-output" and too_big.content["output"] == {"n": 12}
    assert tools.invoke(MEMBER, "nope", {}).content["error"] == "unknown-tool"
    assert tools.invoke(Identity("t2", "x", "admin", frozenset()), "double", {"n": 1}).content["error"] == \
        "unknown-tool"
    assert tools.invoke(OBSERVER, "double", {"n": 1}).ok  # code tools only compute: observers may run them


def test_a_tools_own_failure_is_an_outcome() -> None:
    failing = record("slow", "code", {"source": "import time\ndef run(i):\n    time.sleep(30)\n", "entry": "run",
                                      "timeout_seconds": 0.5, "memory_mb": 128})
    outcome = runner(failing).invoke(MEMBER, "slow", {"n": 1})
    assert not outcome.ok and outcome.content["error"] == "timeout"
    gone = record("gone", "http", {"url": "https://10.9.9.9/x", "method": "POST"})
    assert runner(gone).invoke(OBSERVER, "gone", {"n": 1}).content["error"] == "forbidden"  # a POST may write
    assert runner(gone).invoke(MEMBER, "gone", {"n": 1}).content["error"] == "url-refused"


def test_builtin_tools_run_through_the_shared_registry_with_its_role_rules() -> None:
    outcome = runner().invoke(OBSERVER, "builtin:create_task", {"title": "x"})
    assert not outcome.ok and outcome.content["status"] == 403
    invalid = runner().invoke(MEMBER, "builtin:create_task", {})
    assert invalid.content["error"] == "invalid-arguments"


def redirect_to(target: str) -> Callable[[dict[str, Any]], tuple[int, dict[str, str], bytes]]:
    return lambda request: (302, {"location": target}, b"")


def test_a_redirect_to_the_metadata_service_or_a_private_address_is_refused() -> None:
    for target in ("http://169.254.169.254/latest/meta-data/", "https://10.0.0.5/admin"):
        with local_endpoint(redirect_to(target)) as (base, recorded), pytest.raises(ToolFailure) as refused:
            call_http(HttpConfig(url=f"{base}/start"), {}, None, allow_loopback=True)
        assert refused.value.error == "url-refused" and len(recorded.requests) == 1, target
    with local_endpoint(json_answer({"ok": True})) as (base, _), pytest.raises(ToolFailure) as loopback:
        call_http(HttpConfig(url=f"{base}/x"), {}, None, allow_loopback=False)
    assert loopback.value.error == "url-refused"


def test_responses_are_size_capped_and_error_statuses_fail() -> None:
    with local_endpoint(lambda request: (200, {"content-type": "application/json"}, b"[" + b"1," * 5000 + b"1]")) \
            as (base, _), pytest.raises(ToolFailure) as large:
        call_http(HttpConfig(url=f"{base}/big", max_response_bytes=1000), {}, None, allow_loopback=True)
    assert large.value.error == "response-too-large"
    with local_endpoint(json_answer({"message": "nope"}, status=503)) as (base, _), \
            pytest.raises(ToolFailure) as status:
        call_http(HttpConfig(url=f"{base}/down"), {}, None, allow_loopback=True)
    assert status.value.error == "http-status" and status.value.extra["status"] == 503


def test_a_post_sends_the_filled_body_and_auth() -> None:
    with local_endpoint(json_answer({"id": 7})) as (base, recorded):
        config = HttpConfig(method="POST", url=f"{base}/items", body_template={"title": "{title}", "n": "{n}"},
                            auth=AuthConfig(scheme="api_key", header_name="X-Key"), headers={"X-Trace": "t-{n}"})
        assert call_http(config, {"title": "a", "n": 3}, "k-1", allow_loopback=True) == {"id": 7}
    sent = recorded.requests[0]
    assert sent["body"] == {"title": "a", "n": 3} and sent["headers"]["x-key"] == "k-1"
    assert sent["headers"]["x-trace"] == "t-3"


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[str]:
    """A real MCP server (the SDK's MCPServer, Streamable HTTP) on 127.0.0.1."""
    import uvicorn
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.server.transport_security import TransportSecuritySettings

    server = MCPServer("weather")

    @server.tool()
    def forecast(city: str) -> dict[str, Any]:
        return {"city": city, "high": 24}

    @server.tool()
    def explode(city: str) -> str:
        raise ToolError("no forecast today")  # a tool's error the SDK reports as is

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    security = TransportSecuritySettings(enable_dns_rebinding_protection=True,
                                         allowed_hosts=[f"127.0.0.1:{port}"], allowed_origins=[])
    app = server.streamable_http_app(stateless_http=True, json_response=True, transport_security=security)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/mcp"
    uv.should_exit = True
    thread.join(timeout=10)


def test_an_mcp_tool_is_called_with_the_sdk_client(mcp_server: str) -> None:
    result = call_mcp(McpConfig(server_url=mcp_server, tool_name="forecast"), {"city": "Oslo"}, None,
                      allow_loopback=True)
    assert result == {"city": "Oslo", "high": 24}
    with pytest.raises(ToolFailure) as failed:
        call_mcp(McpConfig(server_url=mcp_server, tool_name="explode"), {"city": "Oslo"}, None, allow_loopback=True)
    assert failed.value.error == "mcp-tool-error" and "no forecast today" in failed.value.detail


def test_the_mcp_guard_refuses_loopback_outside_local_mode_and_private_addresses(mcp_server: str) -> None:
    with pytest.raises(ToolFailure) as loopback:
        call_mcp(McpConfig(server_url=mcp_server, tool_name="forecast"), {"city": "Oslo"}, None,
                 allow_loopback=False)
    assert loopback.value.error == "url-refused"
    with pytest.raises(ToolFailure) as private:
        call_mcp(McpConfig(server_url="https://192.168.1.10/mcp", tool_name="forecast"), {}, None,
                 allow_loopback=True)
    assert private.value.error == "url-refused"


def test_the_guarded_mcp_transport_refuses_a_private_address_on_connect() -> None:
    """Past the URL check (as after a redirect or a re-resolved name), the connection itself is refused."""
    import asyncio

    from crewhouse.core.ssrf import UnsafeUrl
    from crewhouse.tool_registry.mcp_tool import guarded_client

    async def attempt() -> None:
        async with guarded_client({}, 5, allow_loopback=True) as client:
            await client.get("http://10.20.30.40/")

    with pytest.raises(UnsafeUrl):
        asyncio.run(attempt())


