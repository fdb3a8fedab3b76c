"""The tool registry in ``mock_aws`` (its table as the template defines it) and a local HTTP endpoint for tools."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3

from crewhouse.core.settings import function_environment
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.members import seed_membership

TOOLS_TABLE, PLATFORM, IDEMPOTENCY = "tools", "platform", "idempotency"
ENV = {"TOOL_REGISTRY_TABLE": TOOLS_TABLE, "PLATFORM_TABLE": PLATFORM, "IDEMPOTENCY_TABLE": IDEMPOTENCY,
       "AWS_REGION": "us-east-1", "CURSOR_SIGNING_KEY": "c" * 32, "TOOL_SECRET_PREFIX": "crewhouse/tools"}
Call = Callable[..., tuple[int, Any, dict[str, str]]]


def keyed_table(dynamodb: Any, name: str, indexes: int) -> None:
    """PK/SK with GSI1..n keyed GSInPK/GSInSK, as ``tenant_table`` defines every Crewhouse table (not from the
    synthesized template: the other contexts of the nested stack are being written alongside;
    tests/infra/test_tool_registry_stack.py holds the template to this shape)."""
    keys = ["PK", "SK"] + [f"GSI{n}{part}" for n in range(1, indexes + 1) for part in ("PK", "SK")]
    gsis = [{"IndexName": f"GSI{n}", "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": f"GSI{n}PK", "KeyType": "HASH"},
                           {"AttributeName": f"GSI{n}SK", "KeyType": "RANGE"}]} for n in range(1, indexes + 1)]
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
                          KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                                     {"AttributeName": "SK", "KeyType": "RANGE"}],
                          **({"GlobalSecondaryIndexes": gsis} if gsis else {}))


def create_registry_resources() -> Any:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    keyed_table(dynamodb, TOOLS_TABLE, 1)
    keyed_table(dynamodb, PLATFORM, 0)
    dynamodb.create_table(TableName=IDEMPOTENCY, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    return dynamodb


def as_member(handler: Any, user: str, tenant: str = "t1", role: str = "member",
              env: dict[str, str] | None = None) -> Call:
    seed_membership(tenant, user, role, table=PLATFORM)

    def call(method: str, path: str, body: Any = None, *, query: str = "",
             headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        event = http_event(method, path, body=body, claims=claims_for(tenant, user), query=query, headers=headers)
        with function_environment({**ENV, **(env or {})}):
            response = handler(event, lambda_context())
        return response["statusCode"], response_json(response), dict(response.get("headers") or {})

    return call


class Recorded:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []


@contextmanager
def local_endpoint(answer: Callable[[dict[str, Any]], tuple[int, dict[str, str], bytes]]) -> Iterator[
        tuple[str, Recorded]]:
    """An HTTP server on 127.0.0.1; ``answer(request) -> (status, headers, body)``; yields its base URL."""
    recorded = Recorded()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = {"method": self.command, "path": self.path, "headers": headers,
                       "body": json.loads(body) if body else None}
            recorded.requests.append(request)
            status, headers, payload = answer(request)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorded
    finally:
        server.shutdown()
        server.server_close()


def json_answer(payload: Any, status: int = 200) -> Callable[[dict[str, Any]], tuple[int, dict[str, str], bytes]]:
    return lambda request: (status, {"content-type": "application/json"}, json.dumps(payload).encode())
