"""The FastAPI app and Lambda handler every HTTP context is built from.

``create_app`` wires problem+json errors and the request-size limit; ``lambda_handler`` wraps the app in
Mangum with the shared Logger (request and correlation ids) and Metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from fastapi import APIRouter, FastAPI, Request
from mangum import Mangum
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crewhouse.core.errors import install_problem_handlers, problem_body
from crewhouse.core.identity import Identity, identity_from_event
from crewhouse.core.observability import logger, metrics
from crewhouse.core.settings import CoreSettings, load_settings

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


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    import json

    body = json.dumps(problem_body(413, f"The request body exceeds {limit} bytes.",
                                   instance=scope.get("path"))).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(title: str, routers: Sequence[APIRouter], *, description: str = "") -> FastAPI:
    app = FastAPI(title=title, description=description, version="1.0.0", docs_url=None, redoc_url=None,
                  openapi_url=None)
    for router in routers:
        app.include_router(router)
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit)
    return app


def lambda_handler(app: FastAPI) -> LambdaHandler:
    """The Lambda entry point for an HTTP context (API Gateway HTTP API, payload format 2.0)."""
    asgi = Mangum(app, lifespan="off", text_mime_types=TEXT_MIME_TYPES)

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return asgi(event, context)

    return handler


def current_identity(request: Request) -> Identity:
    """FastAPI dependency: the caller's verified identity (401/403 problem otherwise)."""
    return identity_from_event(request.scope.get("aws.event") or {})
