"""Calling an http tool within the SSRF guard (:mod:`crewhouse.core.ssrf`), size- and time-capped.

Each connection goes to an address :func:`crewhouse.core.ssrf.resolve` checked (resolved once, in the connection
itself: DNS rebinding gains nothing), every URL (the first and each redirect's) passes
:func:`crewhouse.core.ssrf.check_url` first, and the whole call, redirects included, has one deadline. Plain http
and loopback are allowed only in local mode. Credentials leave only towards the tool's own origin: a redirect to
another origin drops them.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from crewhouse.core.ssrf import REDIRECTS, UnsafeUrl, check_url, resolve
from crewhouse.tool_registry.failures import ToolFailure
from crewhouse.tool_registry.models import AuthConfig, HttpConfig
from crewhouse.tool_registry.templating import TemplateError, fill_text, fill_url, fill_value

USER_AGENT = "Crewhouse-Tools/1.0"
MAX_REDIRECTS = 5


def auth_headers(auth: AuthConfig, secret: str | None) -> dict[str, str]:
    if auth.scheme == "none":
        return {}
    if not secret:
        raise ToolFailure("missing-secret", f"the tool's {auth.scheme} auth has no secret; set one with PUT "
                          "/tools/{id}")
    if auth.scheme == "bearer":
        return {"authorization": f"Bearer {secret}"}
    if auth.scheme == "basic":
        return {"authorization": "Basic " + base64.b64encode(secret.encode()).decode()}
    return {auth.header_name.lower(): secret}


def build_request(config: HttpConfig, arguments: Mapping[str, Any]) -> tuple[str, dict[str, str], bytes | None]:
    """The URL, headers and body of a call (no auth yet)."""
    try:
        url = fill_url(config.url, arguments)
        headers = {k.lower(): fill_text(v, arguments) for k, v in config.headers.items()}
        body = None
        if config.body_template is not None and config.method != "GET":
            body = json.dumps(fill_value(config.body_template, arguments), separators=(",", ":")).encode()
            headers.setdefault("content-type", "application/json")
    except TemplateError as exc:
        raise ToolFailure("template", str(exc), missing=exc.missing) from exc
    except ValueError as exc:
        raise ToolFailure("template", str(exc)) from exc
    return url, headers, body


def _backend(allow_loopback: bool) -> Any:
    import httpcore

    class GuardedBackend(httpcore.SyncBackend):
        def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                        local_address: str | None = None, socket_options: Any = None) -> Any:
            address = resolve(host, port, allow_loopback=allow_loopback)[0]
            return super().connect_tcp(str(address), port, timeout=timeout, local_address=local_address,
                                       socket_options=socket_options)

    return GuardedBackend()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or ""), parts.port


def call_http(config: HttpConfig, arguments: Mapping[str, Any], secret: str | None, *, allow_loopback: bool,
              timeout: float | None = None, max_bytes: int | None = None) -> Any:
    """The response's JSON (or its text when it is not JSON); :class:`ToolFailure` for a refused URL, a network
    failure, a timeout, an error status or a body over the size cap."""
    import httpcore
    import httpx

    url, headers, body = build_request(config, arguments)
    secret_headers = auth_headers(config.auth, secret)
    limit = min(timeout or config.timeout_seconds, config.timeout_seconds)
    cap = min(max_bytes or config.max_response_bytes, config.max_response_bytes)
    deadline = time.monotonic() + limit
    origin = _origin(url)
    method = config.method
    with httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(), max_connections=2,
                                 network_backend=_backend(allow_loopback)) as pool:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                check_url(url, allow_loopback=allow_loopback)
            except UnsafeUrl as exc:
                raise ToolFailure("url-refused", f"{url}: {exc.reason}") from exc
            left = deadline - time.monotonic()
            if left <= 0:
                raise ToolFailure("timeout", f"no answer within {limit:g} s")
            sent = {"user-agent": USER_AGENT, "accept": "application/json, text/plain;q=0.5", **headers,
                    **(secret_headers if _origin(url) == origin else {})}
            extensions = {"timeout": {"connect": left, "read": left, "write": left, "pool": left}}
            try:
                with pool.stream(method, url, headers=list(sent.items()), content=body,
                                 extensions=extensions) as response:
                    location = _header(response.headers, b"location")
                    if response.status in REDIRECTS and location:
                        url = urljoin(url, location)
                        if response.status == 303 or (response.status in (301, 302) and method != "GET"):
                            method, body = "GET", None
                            headers.pop("content-type", None)
                        continue
                    data = _read(response, cap, deadline)
                    status = response.status
                    media = (_header(response.headers, b"content-type") or "").split(";")[0].strip().lower()
            except UnsafeUrl as exc:
                raise ToolFailure("url-refused", f"{url}: {exc.reason}") from exc
            except httpcore.TimeoutException as exc:
                raise ToolFailure("timeout", f"no answer within {limit:g} s") from exc
            except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
                raise ToolFailure("unreachable", f"the endpoint could not be reached ({type(exc).__name__})") from exc
            return _answer(status, media, data)
    raise ToolFailure("too-many-redirects", f"more than {MAX_REDIRECTS} redirects")


def _answer(status: int, media: str, data: bytes) -> Any:
    text = data.decode("utf-8", "replace")
    try:
        parsed: Any = json.loads(text) if text.strip() else None
        is_json = True
    except ValueError:
        parsed, is_json = text, False
    if not 200 <= status < 300:
        raise ToolFailure("http-status", f"the endpoint answered HTTP {status}", status=status,
                          body=parsed if is_json else text[:1000])
    if not is_json and media.endswith("json"):
        raise ToolFailure("invalid-json", "the endpoint answered JSON that does not parse")
    return parsed


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _read(response: Any, max_bytes: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_stream():
        if time.monotonic() > deadline:
            raise ToolFailure("timeout", "the answer took too long")
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise ToolFailure("response-too-large", f"the answer exceeds {max_bytes} bytes")
    return b"".join(chunks)
