"""The FastAPI app and Lambda handler every HTTP context is built from.

``create_app`` wires problem+json errors, the per-user and per-tenant request limits and the request-size
limit; ``lambda_handler`` wraps the app in Mangum with the shared Logger (request and correlation ids) and Metrics.
"""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from aws_lambda_powertools.logging import correlation_paths
from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from mangum import Mangum
from pydantic_core import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crewhouse.core.api_limits import ApiLimiter, default_limiter
from crewhouse.core.business_metrics import record_request
from crewhouse.core.errors import PROBLEM_MEDIA_TYPE, Problem, TooManyRequests, Unauthorized, problem_body, title_for
from crewhouse.core.etag import etag_for
from crewhouse.core.identity import (
    AGENT_TOKEN_CREDENTIAL,
    Identity,
    Principal,
    default_memberships,
    identity_from_event,
    principal_from_event,
    require_token_grant,
    require_writer,
)
from crewhouse.core.observability import logger, metrics
from crewhouse.core.pagination import PageRequest, page_request
from crewhouse.core.settings import CoreSettings, load_settings
from crewhouse.core.tenancy import MembershipReader


def _skip_pydantic_v1_probe() -> None:
    """FastAPI no longer supports pydantic v1 models, yet still probes every route parameter for one, and
    the probe imports ``pydantic.v1``: ~100 ms, a third of a bare FastAPI import. Crewhouse uses v2 only,
    so ``pydantic.v1`` stands as a module whose ``BaseModel`` nothing subclasses: the probe answers
    "not v1" at once. (Leaving it absent instead costs a failed import per parameter.)"""
    if "pydantic.v1" not in sys.modules:
        stub = types.ModuleType("pydantic.v1", "Placeholder: Crewhouse does not use pydantic v1.")
        stub.BaseModel = type("BaseModel", (), {})  # type: ignore[attr-defined]
        sys.modules["pydantic.v1"] = stub


_skip_pydantic_v1_probe()

# Mangum base64-encodes any other type; problem+json must stay readable text like application/json.
TEXT_MIME_TYPES = ["application/json", "application/problem+json", "application/xml", "text/"]
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


class BodySizeLimit:
    """413 for bodies over the limit, before any route code runs (pure ASGI: no buffering twice)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = load_settings(CoreSettings).max_body_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, send, limit)
            return
        received = 0
        too_large = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                too_large = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return message

        if scope.get("method") in ("POST", "PUT", "PATCH"):
            # Read ahead so the limit holds without a Content-Length header too.
            chunks: list[Message] = []
            while True:
                message = await counting_receive()
                chunks.append(message)
                if too_large:
                    await _too_large(scope, send, limit)
                    return
                if not message.get("more_body"):
                    break

            async def replay() -> Message:
                return chunks.pop(0) if chunks else {"type": "http.disconnect"}

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)


class RateLimits:
    """Charges each request to its caller's (and tenant's) bucket before any route code runs: 429 problem+json
    with ``Retry-After`` and ``RateLimit-*`` over the limit, the ``RateLimit-*`` headers on every other answer.
    Routes the authorizer does not guard (health, the agent card, docs) carry no caller and are not limited."""

    def __init__(self, app: ASGIApp, limiter: Callable[[], ApiLimiter | None] = default_limiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        event = scope.get("aws.event") or {}
        authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
        # A bus agent's token is charged to the agent's own bucket by the bus (crewhouse.bus.access.agent_caller).
        agent = (authorizer.get("lambda") or {}).get("credential") == AGENT_TOKEN_CREDENTIAL
        limiter = self.limiter() if scope["type"] == "http" and authorizer and not agent else None
        if limiter is None:
            await self.app(scope, receive, send)
            return
        try:
            principal = principal_from_event(event)
        except Unauthorized:
            await self.app(scope, receive, send)  # the route's own dependency answers 401
            return
        route_key = str(event.get("routeKey") or f"{scope.get('method')} {scope.get('path')}")
        try:
            state = limiter.admit(principal.tenant_id, principal.user_id, route_key)
        except TooManyRequests as refused:
            await _send_problem(send, refused.status, refused.body(**request_origin(scope)), refused.headers or {})
            return
        rate_headers = [(name.lower().encode(), value.encode()) for name, value in state.headers().items()]

        async def send_with_budget(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *rate_headers]}
            await send(message)

        await self.app(scope, receive, send_with_budget)


async def _send_problem(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    import json

    encoded = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                            (b"content-length", str(len(encoded)).encode()),
                            *[(name.lower().encode(), value.encode()) for name, value in headers.items()]]})
    await send({"type": "http.response.body", "body": encoded})


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    await _send_problem(send, 413, problem_body(413, f"The request body exceeds {limit} bytes.",
                                                **request_origin(scope)), {})


def request_origin(scope: Scope) -> dict[str, Any]:
    """Where a problem happened: the path (``instance``) and API Gateway's request id, which the access log
    and the function's log lines carry too, so a client's report leads straight to them."""
    origin: dict[str, Any] = {"instance": str(scope.get("path") or "")}
    request_id = ((scope.get("aws.event") or {}).get("requestContext") or {}).get("requestId")
    if request_id:
        origin["request_id"] = str(request_id)
    return origin


def problem_response(status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(problem_body(status, detail, **extra), status_code=status, media_type=PROBLEM_MEDIA_TYPE,
                        headers=headers)


def field_errors(errors: list[dict[str, Any]] | Any) -> list[dict[str, Any]]:
    """Pydantic errors as ``{path, message, type}`` with a dotted path such as ``body.title``."""
    out = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        out.append({"path": ".".join(loc), "message": error.get("msg", ""), "type": error.get("type", "")})
    return out


def install_problem_handlers(app: FastAPI) -> None:
    """Every error leaves as problem+json: domain problems, validation errors, HTTP errors, the unexpected."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return JSONResponse(exc.body(**request_origin(request.scope)), status_code=exc.status,
                            media_type=PROBLEM_MEDIA_TYPE, headers=exc.headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem_response(400, "The request body is not valid JSON.", slug="malformed-json",
                                    **request_origin(request.scope))
        return problem_response(422, "The request has invalid or missing fields.", **request_origin(request.scope),
                                errors=field_errors(errors))

    async def on_model_validation(request: Request, exc: Exception) -> JSONResponse:
        # A model built inside a handler from the caller's data (a parsed line, merged fields) refused it:
        # bad input all the same. Paths are the model's own fields, as the handler did not prefix them.
        assert isinstance(exc, ValidationError)
        errors = field_errors(exc.errors(include_url=False, include_input=False))
        fields = ", ".join(dict.fromkeys(e["path"] or "(the whole value)" for e in errors))
        return problem_response(422, f"The request leads to invalid values: {fields}.", **request_origin(request.scope),
                                errors=errors)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else title_for(exc.status_code)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No route matches {request.method} {request.url.path}."
        return problem_response(exc.status_code, detail, **request_origin(request.scope),
                                headers=dict(exc.headers) if exc.headers else None)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        from crewhouse.core.observability import logger

        logger.exception("unhandled error")
        return problem_response(500, "An unexpected error occurred.", **request_origin(request.scope))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ValidationError, on_model_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


def create_app(title: str, routers: Sequence[APIRouter], *, description: str = "") -> FastAPI:
    app = FastAPI(title=title, description=description, version="1.0.0", docs_url=None, redoc_url=None,
                  openapi_url=None)
    for router in routers:
        app.include_router(router)
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit)
    app.add_middleware(RateLimits)  # the outermost: a refused request costs no body read
    return app


def lambda_handler(app: FastAPI, module: str) -> LambdaHandler:
    """The Lambda entry point for an HTTP context (API Gateway HTTP API, payload format 2.0); ``module`` is the
    handler module's ``__name__``, which names the context its request metrics are recorded under."""
    asgi = Mangum(app, lifespan="off", text_mime_types=TEXT_MIME_TYPES)
    api_context = context_of(module)

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        _ensure_event_loop()
        started, status = time.perf_counter(), 500  # an escaping exception is a 5xx to the caller
        try:
            response = asgi(event, context)
            status = int(response.get("statusCode", 500))
            return response
        finally:
            record_request(api_context, status, (time.perf_counter() - started) * 1000)

    return handler


def context_of(module: str) -> str:
    """The context a handler module serves (the metrics' ``context`` dimension): ``crewhouse.tasks.api.writes`` is
    ``tasks``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "crewhouse" else "unknown"


def _ensure_event_loop() -> None:
    """Mangum runs the app on the thread's current event loop; ``asyncio.run()`` anywhere earlier in the
    process (a test, a tool) leaves the main thread without one, so set a fresh one when it is missing."""
    import asyncio

    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def membership_reader() -> MembershipReader:
    """FastAPI dependency: where memberships are read (overridable in tests)."""
    return default_memberships()


Memberships = Annotated[MembershipReader, Depends(membership_reader)]


def current_member(request: Request, memberships: Memberships) -> Identity:
    """FastAPI dependency: the caller's identity in their tenant, any role (401/403 problem otherwise); a
    ``read`` personal token is refused any method but a read, even where every role may write (a profile)."""
    return require_token_grant(identity_from_event(request.scope.get("aws.event") or {}, memberships),
                               request.method)


def current_identity(request: Request, member: Annotated[Identity, Depends(current_member)]) -> Identity:
    """FastAPI dependency: the caller's identity; observers may only read (403 on any other method)."""
    return require_writer(member, request.method)


# The request parts the API modules declare alike, in one place (FastAPI dependencies and headers).
Writer = Annotated[Identity, Depends(current_identity)]  # any role but observer (403 on a write)
Reader = Annotated[Identity, Depends(current_member)]  # any role
PageParams = Annotated[PageRequest, Depends(page_request)]
IfMatch = Annotated[str | None, Header(alias="If-Match")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


def with_etag(response: Response, view: dict[str, Any]) -> dict[str, Any]:
    """``view`` as the answer, its ``version`` as the response's ETag (for the next If-Match)."""
    response.headers["ETag"] = etag_for(int(view["version"]))
    return view


def current_principal(request: Request, memberships: Memberships) -> Principal:
    """FastAPI dependency: the verified caller, whether or not their token names a tenant they belong to;
    a token revoked in the tenant it names is refused here too (401)."""
    principal = principal_from_event(request.scope.get("aws.event") or {})
    if principal.tenant_id:
        grant = memberships.grant(principal.tenant_id, principal.user_id)
        if grant is not None and principal.issued_at < grant.tokens_valid_after:
            raise Unauthorized("The token was revoked; sign in again.", slug="token-revoked")
    return principal
