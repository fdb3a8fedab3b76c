"""Local stand-in for the API Gateway HTTP API in front of Crewhouse's Lambdas.

moto does not execute HTTP APIs, so local mode serves them itself: route selection as API Gateway does
it, JWT authorizers and Lambda REQUEST authorizers (simple responses, cached per identity source for the
authorizer's TTL), the 10 MB request limit, the 30 s
integration timeout, and the Lambda proxy contract in **payload format 2.0** (request event and response
mapping). Handlers therefore see the same events locally as in AWS, and clients see the same status codes
and error bodies (``{"message": "Unauthorized"}`` and friends).

Behaviours copied from AWS on purpose, so local runs catch what AWS would do:

* the request path is URL-decoded in ``rawPath`` and ``pathParameters``; ``rawQueryString`` stays encoded;
* ``cookie`` headers move to ``cookies``; repeated headers and query parameters are comma-joined;
* bodies of non-text content types (form posts included) arrive base64-encoded;
* ``jwt.scopes`` is ``null`` unless the route declares authorization scopes;
* a Lambda authorizer's ``Unauthorized`` error is a 401, ``isAuthorized: false`` a 403, any other error a 500;
  a missing identity source is a 401 without invoking it;
* a response's ``multiValueHeaders`` is ignored (a payload 1.0 field); ``cookies`` become ``set-cookie``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.routing import Route as StarletteRoute

from crewhouse.local.authorizer import event_claims
from crewhouse.platform.jwt_verifier import AuthorizationError, JwtVerifier, token_scopes

logger = logging.getLogger(__name__)

Invoke = Callable[[str, dict[str, Any]], tuple[Any, str | None]]
"""``invoke(function_name, event) -> (payload, function_error)``; ``function_error`` is Lambda's
``X-Amz-Function-Error`` (``"Unhandled"``) or None."""

MAX_BODY_BYTES = 10 * 1024 * 1024  # HTTP API payload quota
MAX_INTEGRATION_TIMEOUT = 30.0  # HTTP API's ceiling for a Lambda integration
ACCOUNT_ID = "000000000000"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DEFAULT_ROUTE = "$default"
_TEXT_TYPES = ("application/json", "application/javascript", "application/xml")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PARAM = re.compile(r"^\{([A-Za-z0-9_.:-]+)(\+?)\}$")


# --- routes -------------------------------------------------------------------------------------------


def authorizer_cache_clock() -> float:
    """The clock Lambda authorizer answers expire by (a seam: a test moves it past a TTL instead of waiting)."""
    return time.monotonic()


@dataclass
class LambdaAuthorizer:
    """An ``AWS::ApiGatewayV2::Authorizer`` of type REQUEST (payload 2.0, simple responses) on the
    ``Authorization`` header: API Gateway invokes ``function_name`` and keeps each answer ``ttl_seconds`` per
    header value."""

    function_name: str
    ttl_seconds: int = 0
    _answers: dict[str, tuple[float, dict[str, Any] | None]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cached(self, identity: str) -> tuple[bool, dict[str, Any] | None]:
        """``(found, context)``: a context for an allowed caller, None for a denied one."""
        with self._lock:
            answer = self._answers.get(identity)
            if answer is None or answer[0] <= authorizer_cache_clock():
                self._answers.pop(identity, None)
                return False, None
            return True, answer[1]

    def remember(self, identity: str, context: dict[str, Any] | None) -> None:
        if self.ttl_seconds > 0:
            with self._lock:
                if len(self._answers) > 10_000:
                    self._answers.clear()
                self._answers[identity] = (authorizer_cache_clock() + self.ttl_seconds, context)


@dataclass(frozen=True)
class _Segment:
    kind: int  # 0 literal, 1 {param}, 2 {greedy+}: also the segment's rank (lower is more specific)
    value: str  # the literal text, or the parameter name


@dataclass
class Route:
    """One HTTP API route (``AWS::ApiGatewayV2::Route``) integrated with one Lambda function.

    ``authorization_scopes`` mirrors the route's ``AuthorizationScopes``: a token must carry at least one
    of them (else 403), and only then does API Gateway fill ``jwt.scopes``.
    """

    route_key: str
    function_name: str
    authorizer: JwtVerifier | LambdaAuthorizer | None
    timeout_seconds: float = MAX_INTEGRATION_TIMEOUT
    authorization_scopes: tuple[str, ...] = ()
    method: str | None = field(init=False, repr=False)  # None for $default; "ANY" or a method otherwise
    _segments: tuple[_Segment, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.timeout_seconds <= MAX_INTEGRATION_TIMEOUT:
            raise ValueError(f"{self.route_key}: timeout must be in (0, 30] seconds like API Gateway's")
        if self.authorization_scopes and not isinstance(self.authorizer, JwtVerifier):
            raise ValueError(f"{self.route_key}: authorization scopes need a JWT authorizer")
        self.method, self._segments = _parse_route_key(self.route_key)

    def match(self, method: str, path: str) -> tuple[tuple[int, ...], dict[str, str]] | None:
        """``(rank, path_parameters)`` when this route takes the request; lower ranks are more specific."""
        if self.method is None:
            return (3,), {}
        if self.method not in ("ANY", method.upper()):
            return None
        parts = _split(path)
        params: dict[str, str] = {}
        greedy = self._segments[-1].kind == 2
        fixed = self._segments[:-1] if greedy else self._segments
        if len(parts) < len(fixed) or (not greedy and len(parts) != len(fixed)):
            return None
        for segment, part in zip(fixed, parts, strict=False):
            if segment.kind == 0:
                if segment.value != part:
                    return None
            elif part:
                params[segment.value] = part
            else:
                return None  # a path variable never matches an empty segment
        if greedy:
            rest = "/".join(parts[len(fixed):])
            if not rest:
                return None  # /x/{proxy+} does not take /x or /x/
            params[self._segments[-1].value] = rest
        ranks = tuple(segment.kind for segment in self._segments)
        return (1 if greedy else 0, *ranks, 9, 1 if self.method == "ANY" else 0), params


def _split(path: str) -> list[str]:
    return path[1:].split("/") if path.startswith("/") else path.split("/")


def _parse_route_key(route_key: str) -> tuple[str | None, tuple[_Segment, ...]]:
    if route_key == DEFAULT_ROUTE:
        return None, ()
    method, _, path = route_key.partition(" ")
    method = method.upper()
    if method not in (*METHODS, "ANY") or not path.startswith("/"):
        raise ValueError(f"Route key {route_key!r} is not '$default' or 'METHOD /path'")
    segments: list[_Segment] = []
    parts = _split(path)
    for index, part in enumerate(parts):
        found = _PARAM.match(part)
        if found is None:
            if "{" in part or "}" in part:
                raise ValueError(f"Route key {route_key!r}: path variables must fill a whole segment")
            segments.append(_Segment(0, part))
        elif found.group(2):
            if index != len(parts) - 1:
                raise ValueError(f"Route key {route_key!r}: a greedy variable must be the last segment")
            segments.append(_Segment(2, found.group(1)))
        else:
            segments.append(_Segment(1, found.group(1)))
    return method, tuple(segments)


class RouteTable:
    """An HTTP API's routes, selected the way API Gateway selects them.

    Most specific wins: a full match beats a greedy ``{proxy+}`` match, which beats ``$default``; among
    those, a literal segment beats a path variable at the first position where they differ, and a route
    with the request's method beats ``ANY`` on the same path.
    """

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)
        seen: set[str] = set()
        for route in self.routes:
            key = _canonical_key(route)
            if key in seen:
                raise ValueError(f"Duplicate route {route.route_key!r}")
            seen.add(key)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        best: tuple[tuple[int, ...], Route, dict[str, str]] | None = None
        for route in self.routes:
            found = route.match(method, path)
            if found is not None and (best is None or found[0] < best[0]):
                best = (found[0], route, found[1])
        return None if best is None else (best[1], best[2])


def _canonical_key(route: Route) -> str:
    """Route keys that differ only in variable names (``/a/{x}`` vs ``/a/{y}``) clash in API Gateway too."""
    shape = "/".join("{}" if s.kind == 1 else "{+}" if s.kind == 2 else s.value for s in route._segments)
    return f"{route.method} /{shape}" if route.method else DEFAULT_ROUTE


# --- the ASGI app -------------------------------------------------------------------------------------


class _TooLarge(Exception):
    pass


def build_gateway_app(
    table: RouteTable,
    invoke: Invoke,
    *,
    extra_routes: Sequence[BaseRoute] | None = None,
    api_id: str = "crewhouse",
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Starlette:
    """A Starlette app that behaves like the HTTP API's ``$default`` stage.

    ``extra_routes`` (local-only pages such as API docs) are tried first; every other request goes
    through ``table``. ``invoke`` is called in a worker thread so a slow function cannot stall the server.
    """

    async def endpoint(request: Request) -> Response:
        request_id = _request_id()
        response = await _handle(request, request_id, table, invoke, api_id, max_body_bytes)
        response.headers["apigw-requestid"] = request_id
        return response

    routes = [*(extra_routes or ()), StarletteRoute("/{path:path}", endpoint, methods=list(METHODS))]
    return Starlette(routes=routes)


async def _handle(request: Request, request_id: str, table: RouteTable, invoke: Invoke, api_id: str,
                  max_body_bytes: int) -> Response:
    started = time.time()
    path: str = request.scope["path"]
    try:
        # Read (or drain) the body before answering so clients still sending it see the response.
        body = await _read_body(request, max_body_bytes)
    except _TooLarge:
        body = None
    found = table.match(request.method, path)
    if found is None:
        return _message(404, "Not Found")
    route, path_parameters = found

    authorizer: dict[str, Any] | None = None
    if route.authorizer is not None:
        token = _identity(request.headers.getlist("authorization"))
        if token is None:
            return _message(401, "Unauthorized", {"www-authenticate": "Bearer"})
        if isinstance(route.authorizer, LambdaAuthorizer):
            verdict = await _lambda_authorizer(route.authorizer, request, route, path_parameters, token, invoke,
                                               request_id=request_id, api_id=api_id, epoch=started)
            if isinstance(verdict, Response):
                return verdict
            authorizer = {"lambda": verdict}
        else:
            try:
                claims = await anyio.to_thread.run_sync(route.authorizer.verify, token)
            except AuthorizationError as exc:
                challenge = f'Bearer scope="" error="invalid_token" error_description="{_quote(exc.description)}"'
                return _message(401, "Unauthorized", {"www-authenticate": challenge})
            scopes = token_scopes(claims)
            if route.authorization_scopes:
                if not set(scopes or ()) & set(route.authorization_scopes):
                    wanted = " ".join(route.authorization_scopes)
                    challenge = (f'Bearer scope="{_quote(wanted)}" error="insufficient_scope" '
                                 'error_description="the token does not have the required scopes"')
                    return _message(403, "Forbidden", {"www-authenticate": challenge})
            else:
                scopes = None
            authorizer = {"jwt": {"claims": event_claims(claims), "scopes": scopes}}

    if body is None:
        return _message(413, "Request Entity Too Large")
    event = build_event(request, route.route_key, path_parameters, body, authorizer,
                        request_id=request_id, api_id=api_id, epoch=started)

    payload: Any = None
    function_error: str | None = None
    with anyio.move_on_after(route.timeout_seconds) as deadline:
        try:
            payload, function_error = await anyio.to_thread.run_sync(
                invoke, route.function_name, event, abandon_on_cancel=True)
        except Exception:
            logger.exception("Invoking %s for %s failed", route.function_name, route.route_key)
            return _message(500, "Internal Server Error")
    if deadline.cancelled_caught:
        logger.warning("%s did not answer %s within %.1fs", route.function_name, route.route_key,
                       route.timeout_seconds)
        return _message(503, "Service Unavailable")
    if function_error:
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        logger.warning("%s failed (%s): %s", route.function_name, function_error, message)
        return _message(500, "Internal Server Error")
    try:
        return lambda_response(payload)
    except ValueError as exc:
        logger.warning("%s returned a malformed response: %s", route.function_name, exc)
        return _message(500, "Internal Server Error")


async def _lambda_authorizer(authorizer: LambdaAuthorizer, request: Request, route: Route,
                             path_parameters: Mapping[str, str], identity: str, invoke: Invoke, *,
                             request_id: str, api_id: str, epoch: float) -> dict[str, Any] | Response:
    """The authorizer's context for this caller, or the response API Gateway answers instead."""
    found, context = authorizer.cached(identity)
    if not found:
        event = build_event(request, route.route_key, path_parameters, b"", None, request_id=request_id,
                            api_id=api_id, epoch=epoch)
        for name in ("body", "isBase64Encoded", "version"):
            event.pop(name, None)
        event = {"version": "2.0", "type": "REQUEST", "identitySource": [identity],
                 "routeArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:{api_id}/$default/"
                             f"{request.method}{request.scope['path']}", **event}
        try:
            payload, function_error = await anyio.to_thread.run_sync(invoke, authorizer.function_name, event)
        except Exception:
            logger.exception("Invoking the authorizer %s failed", authorizer.function_name)
            return _message(500, "Internal Server Error")
        if function_error:
            message = payload.get("errorMessage") if isinstance(payload, dict) else None
            if message == "Unauthorized":
                return _message(401, "Unauthorized")  # not cached, as in AWS
            logger.warning("authorizer %s failed (%s): %s", authorizer.function_name, function_error, message)
            return _message(500, "Internal Server Error")
        if not isinstance(payload, dict) or not isinstance(payload.get("isAuthorized"), bool):
            logger.warning("authorizer %s gave no simple response: %r", authorizer.function_name, payload)
            return _message(500, "Internal Server Error")
        context = dict(payload.get("context") or {}) if payload["isAuthorized"] else None
        authorizer.remember(identity, context)
    if context is None:
        return _message(403, "Forbidden")
    return context


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = declared is not None and declared.isdigit() and int(declared) > limit
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        too_large = too_large or size > limit
        if too_large:
            if size > 4 * limit:
                break  # stop draining an absurd upload; the client gets its 413 and a closed connection
            continue
        chunks.append(chunk)
    if too_large:
        raise _TooLarge
    return b"".join(chunks)


def _identity(values: list[str]) -> str | None:
    """The token from ``$request.header.Authorization``: API Gateway accepts it bare or after ``Bearer``."""
    if not values:
        return None
    value = values[0].strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value or None


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _message(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps({"message": message}, separators=(",", ":"))
    return Response(body, status_code=status, headers=dict(headers or {}), media_type="application/json")


def _request_id() -> str:
    """Same shape as API Gateway's (``JKJaXmPLvHcESHA=``)."""
    return base64.b64encode(os.urandom(11)).decode("ascii")


# --- payload format 2.0 -------------------------------------------------------------------------------


def build_event(request: Request, route_key: str, path_parameters: Mapping[str, str], body: bytes,
                authorizer: Mapping[str, Any] | None, *, request_id: str, api_id: str,
                epoch: float) -> dict[str, Any]:
    """The Lambda proxy event (payload format 2.0) for one request."""
    client = request.client
    source_ip = client.host if client else "127.0.0.1"
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, raw_value in request.headers.raw:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
        else:
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    headers["x-forwarded-for"] = f"{headers['x-forwarded-for']}, {source_ip}" if "x-forwarded-for" in headers \
        else source_ip
    headers.setdefault("x-forwarded-proto", request.url.scheme)
    if request.url.port:
        headers.setdefault("x-forwarded-port", str(request.url.port))
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(epoch):08x}-{os.urandom(12).hex()}")
    domain_name = headers.get("host", "localhost")

    raw_query = request.scope.get("query_string", b"").decode("latin-1")
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value

    path: str = request.scope["path"]
    http_version = request.scope.get("http_version", "1.1")
    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": api_id,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": path,
            "protocol": f"HTTP/{http_version}",
            "sourceIp": source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": _clf_time(epoch),
        "timeEpoch": int(epoch * 1000),
    }
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)

    event: dict[str, Any] = {"version": "2.0", "routeKey": route_key, "rawPath": path, "rawQueryString": raw_query}
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = context
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["isBase64Encoded"] = False
    if body:
        text = _as_text(body, headers.get("content-type"))
        event["body"] = text if text is not None else base64.b64encode(body).decode("ascii")
        event["isBase64Encoded"] = text is None
    return event


def _as_text(body: bytes, content_type: str | None) -> str | None:
    """The body as text when API Gateway would pass it as text, else None (it goes base64-encoded)."""
    if not _is_text(content_type):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _is_text(content_type: str | None) -> bool:
    """API Gateway passes text types through; everything else (form posts too) arrives base64-encoded."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


def _clf_time(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return f"{moment:%d}/{_MONTHS[moment.month - 1]}/{moment:%Y:%H:%M:%S} +0000"


def lambda_response(payload: Any) -> Response:
    """Map a Lambda result to the HTTP response API Gateway would send (payload format 2.0).

    A result without ``statusCode`` is the body itself: 200, ``application/json``. Raises ValueError for a
    result API Gateway would reject (it answers 500 then).
    """
    if not isinstance(payload, dict) or "statusCode" not in payload:
        return Response(json.dumps(payload), status_code=200, media_type="application/json")
    status = payload["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"statusCode {status!r} is not an HTTP status")
    body = payload.get("body")
    if body is None:
        content = b""
    elif not isinstance(body, str):
        raise ValueError(f"body must be a string, not {type(body).__name__}")
    elif payload.get("isBase64Encoded"):
        try:
            content = base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"body is not valid base64: {exc}") from exc
    else:
        content = body.encode("utf-8")
    headers = payload.get("headers") or {}
    cookies = payload.get("cookies") or []
    if not isinstance(headers, dict) or not isinstance(cookies, list):
        raise ValueError("headers must be an object and cookies a list")
    response = Response(content, status_code=status)
    for name, value in headers.items():
        if str(name).lower() != "content-length":
            response.raw_headers.append((str(name).lower().encode("latin-1"), _header_value(value)))
    for cookie in cookies:
        response.raw_headers.append((b"set-cookie", str(cookie).encode("latin-1")))
    return response


def _header_value(value: Any) -> bytes:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return text.encode("latin-1")


# --- serving and invoking -----------------------------------------------------------------------------


class GatewayServer:
    """Runs the gateway app under uvicorn in a daemon thread, so tests and the CLI can start and stop it.

    ``port=0`` picks a free port; :attr:`url` reports the one actually bound.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 8000) -> None:
        import uvicorn

        self.host = host
        self.port = port
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> GatewayServer:
        if self._thread is not None:
            raise RuntimeError("The gateway server is already running")
        self._thread = threading.Thread(target=self._server.run, name="crewhouse-gateway", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self._thread = None
                raise RuntimeError(f"The gateway could not listen on {self.host}:{self.port}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("The gateway did not start in time")
            time.sleep(0.01)
        sockets = self._server.servers[0].sockets if self._server.servers else []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._server.should_exit = True
        thread.join(timeout)

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def lambda_invoker(endpoint_url: str, region: str = "us-east-1") -> Invoke:
    """An :data:`Invoke` that calls ``lambda:Invoke`` (RequestResponse) on the local cloud.

    No retries (a retry would run the function twice) and a read timeout above Lambda's 15 minutes: the
    gateway enforces the 30 s integration limit itself.
    """
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    credentials: dict[str, str] = {}
    if session.get_credentials() is None:  # the local cloud accepts any key
        credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    config = Config(read_timeout=960, connect_timeout=5, retries={"total_max_attempts": 1},
                    max_pool_connections=32)
    client = session.client("lambda", region_name=region, endpoint_url=endpoint_url, config=config,
                            **credentials)

    def invoke(function_name: str, event: dict[str, Any]) -> tuple[Any, str | None]:
        response = client.invoke(FunctionName=function_name, InvocationType="RequestResponse",
                                 Payload=json.dumps(event).encode("utf-8"))
        raw = response["Payload"].read()
        return (json.loads(raw) if raw else None), response.get("FunctionError")

    return invoke
