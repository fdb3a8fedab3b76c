"""The WebSocket API's routes (``$connect``, ``$disconnect``, ``$default``) and the bus fan-out.

``$connect`` takes the credential from the query string (``?token=<ID token, personal or agent token>``), because
browsers cannot set headers on a WebSocket, or from ``Sec-WebSocket-Protocol: bearer, <token>`` (the answer then
selects ``bearer``). It asks the HTTP API's authorizer about it, then checks the membership as every HTTP route
does; a refusal answers 401/403 and API Gateway does not open the connection.
"""

from __future__ import annotations

from typing import Any

from crewhouse.core.aws import aws_client
from crewhouse.core.errors import Problem
from crewhouse.core.identity import Principal, authorize
from crewhouse.core.observability import logger
from crewhouse.core.settings import load_settings
from crewhouse.core.table import Table
from crewhouse.core.tenancy import DynamoMembershipReader
from crewhouse.realtime.adapters import ManagementApi, PlatformAuthorizer, management_client
from crewhouse.realtime.logic import MembershipCache, MembershipCheck, RealtimeService, deliveries_for
from crewhouse.realtime.models import Caller
from crewhouse.realtime.settings import RealtimeSettings
from crewhouse.realtime.store import DynamoRealtimeStore, TableResources

BEARER_PROTOCOL = "bearer"
_memberships: MembershipCache = {}  # this container's membership reads (MembershipCheck), kept between invocations


def service_for(settings: RealtimeSettings) -> RealtimeService:
    dynamodb = aws_client("dynamodb", settings)
    sender = ManagementApi(lambda: management_client(settings.realtime_callback_url or "", settings))
    return RealtimeService(
        DynamoRealtimeStore(Table(dynamodb, settings.realtime_table)),
        TableResources(dynamodb, jobs_table=settings.jobs_table, chat_table=settings.chat_table,
                       bus_table=settings.bus_table, flows_table=settings.flows_table),
        sender, connection_seconds=settings.connection_seconds, replay_seconds=settings.replay_seconds,
        members=MembershipCheck(DynamoMembershipReader(dynamodb, settings.platform_table), _memberships))


def credential(event: dict[str, Any]) -> tuple[str, bool]:
    """The bearer credential of a ``$connect`` request, and whether it came as a subprotocol."""
    token = (event.get("queryStringParameters") or {}).get("token")
    if token:
        return str(token), False
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    protocols = [p.strip() for p in str(headers.get("sec-websocket-protocol") or "").split(",") if p.strip()]
    if len(protocols) == 2 and protocols[0] == BEARER_PROTOCOL:
        return protocols[1], True
    return "", False


def caller_from(context: dict[str, Any], memberships: Any) -> Caller:
    """The connection's holder: the membership's role for a person, the agent for an agent token."""
    if context.get("credential") == "agent-token":
        return Caller(str(context["tenant_id"]), str(context["sub"]), "agent", str(context["agent_id"]))
    issued = str(context.get("iat") or "0")
    principal = Principal(user_id=str(context["sub"]), tenant_id=context.get("tenant_id") or None,
                          scopes=frozenset(str(context.get("scope") or "").split()),
                          issued_at=int(issued) if issued.isdigit() else 0,
                          token_access=frozenset(str(context["token_access"]).split())
                          if context.get("token_access") else None)
    identity = authorize(principal, memberships)
    return Caller(identity.tenant_id, identity.user_id, identity.role)


@logger.inject_lambda_context(clear_state=True)
def connect(event: dict[str, Any], context: Any, *, authorizer: Any = None,
            service: RealtimeService | None = None) -> dict[str, Any]:
    settings = load_settings(RealtimeSettings)
    connection_id = event["requestContext"]["connectionId"]
    bearer, as_protocol = credential(event)
    if not bearer:
        return {"statusCode": 401, "body": "Pass ?token=<token> or Sec-WebSocket-Protocol: bearer, <token>."}
    authorizer = authorizer or PlatformAuthorizer(aws_client("lambda", settings), settings.authorizer_function or "")
    verdict = authorizer.caller_context(bearer)
    if verdict is None:
        return {"statusCode": 401, "body": "Unauthorized"}
    try:
        caller = caller_from(verdict, DynamoMembershipReader(aws_client("dynamodb", settings),
                                                             settings.platform_table))
    except Problem as problem:
        return {"statusCode": problem.status, "body": problem.detail}
    (service or service_for(settings)).connect(connection_id, caller)
    logger.info("connected", extra={"connection_id": connection_id, "tenant_id": caller.tenant_id})
    answer: dict[str, Any] = {"statusCode": 200}
    if as_protocol:
        answer["headers"] = {"Sec-WebSocket-Protocol": BEARER_PROTOCOL}
    return answer


@logger.inject_lambda_context(clear_state=True)
def disconnect(event: dict[str, Any], context: Any, *, service: RealtimeService | None = None) -> dict[str, Any]:
    settings = load_settings(RealtimeSettings)
    (service or service_for(settings)).disconnect(event["requestContext"]["connectionId"])
    return {"statusCode": 200}


@logger.inject_lambda_context(clear_state=True)
def default(event: dict[str, Any], context: Any, *, service: RealtimeService | None = None) -> dict[str, Any]:
    """Every client message (subscribe, unsubscribe, ping): the answers go back with PostToConnection."""
    settings = load_settings(RealtimeSettings)
    service = service or service_for(settings)
    connection_id = event["requestContext"]["connectionId"]
    for message in service.handle(connection_id, event.get("body")):
        if not service.sender.send(connection_id, message):
            service.disconnect(connection_id)
            break
    return {"statusCode": 200}


@logger.inject_lambda_context(clear_state=True)
def fan_out(event: dict[str, Any], context: Any, *, service: RealtimeService | None = None) -> dict[str, Any]:
    """An EventBridge rule's target: the event goes to every connection subscribed to its topic."""
    settings = load_settings(RealtimeSettings)
    service = service or service_for(settings)
    counts = {"delivered": 0, "gone": 0, "failed": 0, "dropped": 0}
    for delivery in deliveries_for(event):
        for name, count in zip(counts, service.publish(delivery), strict=True):
            counts[name] += count
    if counts["failed"]:
        logger.warning("posts failed", extra={"detail_type": event.get("detail-type"), "failed": counts["failed"]})
    logger.info("fan-out", extra={"detail_type": event.get("detail-type"), **counts})
    return counts
