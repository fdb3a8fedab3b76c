"""The web console on the local gateway: the built app, its runtime configuration and a way to Cognito.

Covers: in AWS the console is an S3 bucket behind CloudFront with a ``config.json`` written at deploy time, and the
browser calls ``https://cognito-idp.<region>.amazonaws.com/`` (which allows CORS). Locally the gateway serves the
built app (``console/dist``, ``npm run build``) at ``/console/`` on the API's own origin (so no CORS), the
configuration at ``/console/config.json`` from the running stack's outputs, and passes the browser's Cognito calls
(``POST /_local/cognito``, JSON with ``X-Amz-Target: AWSCognitoIdentityProviderService.*`` only) to the embedded
cloud's endpoint. None of it is in the template, so none of it is deployed. The pages carry the CSP the CloudFront
distribution sends (no inline script), adapted to the local origins.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio.to_thread
import requests
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CONSOLE_DIST = Path(__file__).resolve().parents[3] / "console" / "dist"
PREFIX = "/console"
COGNITO_PROXY_PATH = "/_local/cognito"
COGNITO_TARGET = "AWSCognitoIdentityProviderService."
MAX_COGNITO_BODY = 64 * 1024
# The JSON Schema worker (console/src/schema/schemaWorker.ts): ajv compiles schemas with new Function, so the worker
# script alone carries a CSP with 'unsafe-eval' (a dedicated worker follows its own response's CSP, not the page's).
SCHEMA_WORKER_PREFIX = "schemaWorker-"


def console_config(outputs: Mapping[str, str], region: str, api_url: str, websocket_url: str | None) -> dict[str, Any]:
    """The runtime configuration the app reads at start; keys as in ``console/src/config.ts``."""
    return {"apiUrl": api_url, "region": region, "userPoolId": outputs["UserPoolId"],
            "clientId": outputs["MobileClientId"], "cognitoEndpoint": f"{api_url}{COGNITO_PROXY_PATH}",
            "websocketUrl": websocket_url, "stepFunctionsConsole": None}


def security_headers(aws_endpoint: str, websocket_url: str | None) -> dict[str, str]:
    connect = " ".join(filter(None, ("'self'", aws_endpoint, websocket_url)))
    return {
        "content-security-policy": (
            f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: {aws_endpoint}; "
            f"connect-src {connect}; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
            "form-action 'self'"),
        "x-content-type-options": "nosniff",
        "referrer-policy": "strict-origin-when-cross-origin",
        "x-frame-options": "DENY",
    }


def console_routes(*, outputs: Mapping[str, str], region: str, api_url: str, aws_endpoint: str,
                   websocket_url: str | None, dist: Path = CONSOLE_DIST) -> list[Route]:
    headers = security_headers(aws_endpoint, websocket_url)
    worker_headers = {**headers, "content-security-policy": "default-src 'none'; script-src 'self' 'unsafe-eval'"}

    async def config(request: Request) -> JSONResponse:
        origin = f"{request.url.scheme}://{request.url.netloc}"  # the origin the browser used (localhost or 127…)
        body = console_config(outputs, region, origin or api_url, websocket_url)
        return JSONResponse(body, headers={"cache-control": "no-store"})

    async def page(request: Request) -> Response:
        relative = request.path_params.get("path", "") or "index.html"
        target = (dist / relative).resolve()
        if not target.is_relative_to(dist.resolve()) or not target.is_file():
            target = dist / "index.html"  # the app routes in the browser (hash routes); unknown paths get the app
        if not target.is_file():
            return Response("The console is not built: run `make console` (npm ci and npm run build in console/).",
                            status_code=503, media_type="text/plain")
        media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        cache = "no-cache" if target.name == "index.html" else "public, max-age=31536000, immutable"
        policy = worker_headers if target.name.startswith(SCHEMA_WORKER_PREFIX) else headers
        return FileResponse(target, media_type=media_type, headers={**policy, "cache-control": cache})

    async def cognito(request: Request) -> Response:
        target = request.headers.get("x-amz-target", "")
        if not target.startswith(COGNITO_TARGET):
            return JSONResponse({"__type": "AccessDeniedException", "message": "only Cognito user pool calls"},
                                status_code=403)
        body = await request.body()
        if len(body) > MAX_COGNITO_BODY:
            return JSONResponse({"__type": "InvalidParameterException", "message": "request too large"},
                                status_code=413)

        def forward() -> requests.Response:
            return requests.post(f"{aws_endpoint}/", data=body, timeout=30, headers={
                "content-type": request.headers.get("content-type", "application/x-amz-json-1.1"),
                "x-amz-target": target,
                # moto routes by the service in the credential scope; the browser's calls are unsigned
                "authorization": f"AWS4-HMAC-SHA256 Credential=local/20260101/{region}/cognito-idp/aws4_request",
            })

        answer = await anyio.to_thread.run_sync(forward)
        return Response(answer.content, status_code=answer.status_code,
                        media_type=answer.headers.get("content-type", "application/x-amz-json-1.1"))

    async def root(request: Request) -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/")

    return [
        Route(f"{PREFIX}/config.json", config, methods=["GET"]),
        Route(COGNITO_PROXY_PATH, cognito, methods=["POST"]),
        Route(PREFIX, root, methods=["GET"]),
        Route(f"{PREFIX}/{{path:path}}", page, methods=["GET", "HEAD"]),
    ]
