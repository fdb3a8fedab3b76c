"""The realtime functions' AWS adapters: the WebSocket management API and the platform's authorizer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from crewhouse.core.observability import logger
from crewhouse.realtime.logic import Message


class ManagementApi:
    """``PostToConnection`` on the stage's callback URL; a ``GoneException`` means the client left."""

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client  # built at the first post ($connect and $disconnect never post)

    def send(self, connection_id: str, message: Message) -> bool:
        try:
            self._client().post_to_connection(ConnectionId=connection_id, Data=json.dumps(message).encode())
        except Exception as exc:
            code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
            if code in ("GoneException", "410"):
                return False
            raise
        return True

    def close(self, connection_id: str) -> None:
        """``DeleteConnection``: API Gateway closes the WebSocket (and runs ``$disconnect``)."""
        try:
            self._client().delete_connection(ConnectionId=connection_id)
        except Exception as exc:
            code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
            if code not in ("GoneException", "410"):
                raise


def management_client(callback_url: str, settings: Any) -> Any:
    """A client of ``execute-api`` for one stage (``https://<api>.execute-api.<region>.amazonaws.com/<stage>``),
    built once per container and stage (boto3 is imported here: the HTTP-free handlers pay for it only when
    they post)."""
    return _clients.get(callback_url) or _build(callback_url, settings)


_clients: dict[str, Any] = {}


def _build(callback_url: str, settings: Any) -> Any:
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "apigatewaymanagementapi", endpoint_url=callback_url, region_name=settings.aws_region,
        aws_access_key_id=settings.aws_access_key_id, aws_secret_access_key=settings.aws_secret_access_key,
        aws_session_token=settings.aws_session_token,
        config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10))
    _clients[callback_url] = client
    return client


class PlatformAuthorizer:
    """Asks the HTTP API's own Lambda authorizer (``crewhouse.platform.authorizer``) about a bearer credential:
    Cognito JWTs (JWKS, PyJWT), personal access tokens and bus agent tokens are judged by one function, not
    restated here. Its answer is the request context it gives the HTTP API (``sub``, ``tenant_id``,
    ``credential``, ``agent_id`` …), or None when it refuses."""

    def __init__(self, lambda_client: Any, function_name: str) -> None:
        self._lambda = lambda_client
        self._function = function_name

    def caller_context(self, bearer: str) -> dict[str, Any] | None:
        event = {"version": "2.0", "type": "REQUEST", "routeKey": "$connect",
                 "identitySource": [f"Bearer {bearer}"], "headers": {"authorization": f"Bearer {bearer}"}}
        response = self._lambda.invoke(FunctionName=self._function, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError") or not isinstance(payload, dict) or not payload.get("isAuthorized"):
            logger.info("websocket credential refused", extra={"answer": str(payload)[:200]})
            return None
        context = payload.get("context")
        return context if isinstance(context, dict) else None
