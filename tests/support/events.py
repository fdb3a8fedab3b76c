"""API Gateway HTTP API (payload 2.0) events for calling handlers in-process."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from crewhouse.local.lambda_runtime import LambdaContext


def claims_for(tenant_id: str = "tenant-1", user_id: str = "user-1", email: str = "someone@example.com",
               **extra: str) -> dict[str, str]:
    """A verified caller as the API's authorizer describes it; the tenant as the pre-token trigger names it.
    The caller's role is its membership's (``tests.support.members.seed_membership``)."""
    return {"sub": user_id, "tenant_id": tenant_id, "email": email, "token_use": "id",
            "iat": str(int(time.time())), **extra}


def http_event(method: str, path: str, *, body: Any = None, claims: dict[str, str] | None = None,
               headers: dict[str, str] | None = None, query: str = "", raw_body: str | None = None) -> dict[str, Any]:
    payload = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    all_headers = {"host": "api.test", "user-agent": "pytest", **({"content-type": "application/json"}
                                                                   if payload is not None else {}),
                   **(headers or {})}
    if payload is not None:
        all_headers["content-length"] = str(len(payload.encode()))
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.test",
            "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "pytest"},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "22/Nov/2026:10:00:00 +0000",
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }
    if payload is not None:
        event["body"] = payload
    if claims is not None:
        # What the API's Lambda authorizer hands on for a verified Cognito token (crewhouse.platform.credentials).
        event["requestContext"]["authorizer"] = {"lambda": {"credential": "cognito", **claims}}
    return event


def lambda_context(name: str = "test-function") -> LambdaContext:
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    return LambdaContext(function_name=name, invoked_function_arn=arn, memory_limit_in_mb=1024, timeout_seconds=29)


def response_json(response: dict[str, Any]) -> Any:
    return json.loads(response["body"]) if response.get("body") else None
