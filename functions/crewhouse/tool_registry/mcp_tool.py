"""Calling a remote MCP server's tool with the official SDK client (Streamable HTTP), within the SSRF guard.

What the guard covers: the server URL passes :func:`crewhouse.core.ssrf.check_url` before the session starts,
and the SDK's HTTP client (an ``httpx2.AsyncClient``) gets a transport whose every TCP connection goes only to an
address :func:`crewhouse.core.ssrf.resolve` allowed (resolved in the connection itself), so redirects, any later
request of the session and DNS rebinding reach no private, loopback (outside local mode), link-local or metadata
address. Redirects are not followed (the SDK's client follows none by default); proxies from the environment are
ignored (``trust_env=False``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from crewhouse.core.ssrf import UnsafeUrl, check_url, resolve
from crewhouse.tool_registry.failures import ToolFailure
from crewhouse.tool_registry.http_tool import auth_headers
from crewhouse.tool_registry.models import McpConfig

T = TypeVar("T")


def guarded_client(headers: Mapping[str, str], timeout: float, *, allow_loopback: bool) -> Any:
    """An ``httpx2.AsyncClient`` whose connections reach only addresses the SSRF guard allows."""
    import httpcore2
    import httpx2

    class GuardedBackend(httpcore2.AnyIOBackend):
        async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                              local_address: str | None = None, socket_options: Any = None) -> Any:
            address = await asyncio.to_thread(resolve, host, port, allow_loopback=allow_loopback)
            return await super().connect_tcp(str(address[0]), port, timeout=timeout, local_address=local_address,
                                             socket_options=socket_options)

    transport = httpx2.AsyncHTTPTransport(trust_env=False)
    transport._pool._network_backend = GuardedBackend()  # httpx2 takes no backend argument
    return httpx2.AsyncClient(headers=dict(headers), timeout=timeout, transport=transport, trust_env=False,
                              follow_redirects=False)


async def _call(config: McpConfig, arguments: Mapping[str, Any], secret: str | None, allow_loopback: bool) -> Any:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {**config.headers, **auth_headers(config.auth, secret)}
    http = guarded_client(headers, config.timeout_seconds, allow_loopback=allow_loopback)
    async with http, Client(streamable_http_client(config.server_url, http_client=http),
                            read_timeout_seconds=config.timeout_seconds) as session:
        result = await session.call_tool(config.tool_name, dict(arguments))
    texts = [str(getattr(part, "text", "")) for part in (result.content or []) if getattr(part, "type", None) == "text"]
    if result.is_error:
        raise ToolFailure("mcp-tool-error", " ".join(texts)[:2000] or "the MCP tool reported an error")
    if result.structured_content is not None:
        return result.structured_content
    text = "\n".join(texts)
    try:
        return json.loads(text)
    except ValueError:
        return text


def call_mcp(config: McpConfig, arguments: Mapping[str, Any], secret: str | None, *, allow_loopback: bool) -> Any:
    """The tool's structured content (or its text, as JSON when it parses); :class:`ToolFailure` otherwise."""
    try:
        check_url(config.server_url, allow_loopback=allow_loopback)
    except UnsafeUrl as exc:
        raise ToolFailure("url-refused", f"{config.server_url}: {exc.reason}") from exc
    try:
        return run_coroutine(asyncio.wait_for(_call(config, arguments, secret, allow_loopback),
                                              config.timeout_seconds + 1))
    except ToolFailure:
        raise
    except TimeoutError as exc:
        raise ToolFailure("timeout", f"no answer within {config.timeout_seconds:g} s") from exc
    except Exception as exc:  # the SDK wraps transport failures in exception groups and its own errors
        raise ToolFailure("mcp-failed", _reason(exc)) from exc


def _reason(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    cause = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, UnsafeUrl):
        return f"refused: {cause.reason}"
    return f"the MCP call failed ({type(exc).__name__}: {str(exc)[:300]})"


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed back to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
