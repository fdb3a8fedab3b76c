"""Bus HTTP API, messaging: send, broadcast, topics and subscriptions, request-reply, inboxes and dead letters.

No ``from __future__ import annotations`` here: FastAPI reads the signatures at import (see chat/api.py).
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from crewhouse.bus.access import BusCaller
from crewhouse.bus.audit import AuditTrail
from crewhouse.bus.contexts import EVENT_SOURCE
from crewhouse.bus.dependencies import Agents, Audit, BusTableDep, Caller, Settings
from crewhouse.bus.messages_store import DynamoMessages
from crewhouse.bus.messaging import MAX_REPLY_WAIT_SECONDS, Messaging
from crewhouse.core.aws import aws_client
from crewhouse.core.errors import Problem
from crewhouse.core.events import Announcer
from crewhouse.core.http import IdempotencyKey, create_app, lambda_handler
from crewhouse.core.idempotency import run_idempotent

router = APIRouter(tags=["bus: messages"])
MAX_RECEIVE_WAIT_SECONDS = 20  # SQS's longest long poll
MAX_VISIBILITY_SECONDS = 43_200  # SQS's longest visibility timeout


# --- shapes ---------------------------------------------------------------------------------------------------

class Outgoing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payload: Any = None
    attributes: dict[str, str] = Field(default_factory=dict)
    context_ref: str | None = Field(default=None, min_length=1, max_length=128)


class DirectMessage(Outgoing):
    to: str = Field(min_length=1, max_length=64)


class RequestMessage(DirectMessage):
    timeout_seconds: float = Field(default=MAX_REPLY_WAIT_SECONDS, gt=0, le=MAX_REPLY_WAIT_SECONDS)
    wait: bool = True


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filter: dict[str, list[str]] = Field(default_factory=dict)


class Receipts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receipts: list[str] = Field(min_length=1, max_length=100)


class NackIn(Receipts):
    delay_seconds: int = Field(default=0, ge=0, le=MAX_VISIBILITY_SECONDS)


class RedriveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=100, ge=1, le=1000)


class Accepted(BaseModel):
    id: str
    duplicate: bool = False


class ReplyState(BaseModel):
    correlation_id: str
    status: str  # "replied" | "pending"
    reply: dict[str, Any] | None = None
    id: str | None = None  # the request message's id (answers to POST /messages/requests)


class Subscription(BaseModel):
    topic: str
    filter: dict[str, list[str]]
    created_at: str | None = None
    updated_at: str | None = None


class Inbox(BaseModel):
    messages: list[dict[str, Any]]


class Settled(BaseModel):
    acked: int | None = None
    nacked: int | None = None
    failed: list[dict[str, Any]]


class DeadLetters(BaseModel):
    messages: list[dict[str, Any]]
    approximate_count: int


class Redriven(BaseModel):
    moved: int


# --- dependencies ---------------------------------------------------------------------------------------------

def messaging(settings: Settings, table: BusTableDep, agents: Agents) -> Messaging:
    from crewhouse.bus.mailboxes import Mailboxes

    mailboxes = Mailboxes(aws_client("sqs", settings), aws_client("sns", settings), settings)
    return Messaging(agents, DynamoMessages(table), mailboxes, hosted_inbox_url=settings.hosted_inbox_url,
                     announcer=Announcer(lambda: aws_client("events", settings), settings.event_bus_name,
                                         EVENT_SOURCE))


Service = Annotated[Messaging, Depends(messaging)]


@contextmanager
def audited(audit: AuditTrail, caller: BusCaller, action: str, resource: str) -> Iterator[dict[str, Any]]:
    """Audit the action whatever its end: ``ok`` with the detail the block fills in, or refused with the status."""
    detail: dict[str, Any] = {}
    try:
        yield detail
    except Problem as problem:
        audit.record(caller, action, resource, result="refused", detail={"status": problem.status, **detail})
        raise
    audit.record(caller, action, resource, detail=detail or None)


def _once(http: Request, settings: Settings, caller: BusCaller, operation: str, key: str | None, request: BaseModel,
          send: Callable[[], dict[str, Any]], detail: dict[str, Any], **scope: Any) -> Accepted:
    """A send deduplicated by its Idempotency-Key for 24 h per sender: a repeat answers the first answer."""
    ran = False

    def first() -> dict[str, Any]:
        nonlocal ran
        ran = True
        return {"id": send()["id"]}

    answer = run_idempotent(settings, caller, operation, key, {**request.model_dump(mode="json"), **scope}, first,
                            http.scope.get("aws.context"))
    detail.update({"message_id": answer["id"], "duplicate": not ran})
    return Accepted(id=answer["id"], duplicate=not ran)


# --- sending --------------------------------------------------------------------------------------------------

@router.post("/messages", status_code=202, response_model=Accepted,
             summary="Send a message to an agent (at least once; Idempotency-Key deduplicates for 24 h)")
def send_message(body: DirectMessage, http: Request, caller: Caller, service: Service, settings: Settings,
                 audit: Audit, idempotency_key: IdempotencyKey = None) -> Accepted:
    with audited(audit, caller, "message.send", f"agent/{body.to}") as detail:
        return _once(http, settings, caller, "bus.send", idempotency_key, body, lambda: service.send(
            caller, body.to, body.payload, attributes=body.attributes, context_ref=body.context_ref), detail)


@router.post("/messages/broadcast", status_code=202, response_model=Accepted,
             summary="Send a message to every agent of the tenant")
def broadcast(body: Outgoing, http: Request, caller: Caller, service: Service, settings: Settings,
              audit: Audit, idempotency_key: IdempotencyKey = None) -> Accepted:
    with audited(audit, caller, "message.broadcast", "broadcast") as detail:
        return _once(http, settings, caller, "bus.broadcast", idempotency_key, body, lambda: service.broadcast(
            caller, body.payload, attributes=body.attributes, context_ref=body.context_ref), detail)


@router.post("/topics/{topic}/messages", status_code=202, response_model=Accepted,
             summary="Publish to a topic: its subscribers whose filter the attributes match receive it")
def publish(topic: str, body: Outgoing, http: Request, caller: Caller, service: Service, settings: Settings,
            audit: Audit, idempotency_key: IdempotencyKey = None) -> Accepted:
    with audited(audit, caller, "message.publish", f"topic/{topic}") as detail:
        return _once(http, settings, caller, "bus.publish", idempotency_key, body, lambda: service.publish(
            caller, topic, body.payload, attributes=body.attributes, context_ref=body.context_ref), detail,
            topic=topic)


# --- request-reply --------------------------------------------------------------------------------------------

@router.post("/messages/requests", response_model=ReplyState, responses={202: {"model": ReplyState}},
             summary="Send a request: 200 with the reply, or 202 with the correlation id to fetch it later")
def send_request(body: RequestMessage, caller: Caller, service: Service, audit: Audit,
                 response: Response) -> ReplyState:
    with audited(audit, caller, "message.request", f"agent/{body.to}") as detail:
        outcome = service.request(caller, body.to, body.payload, attributes=body.attributes,
                                  context_ref=body.context_ref, wait=body.wait, timeout_seconds=body.timeout_seconds)
        detail.update({"message_id": outcome["id"], "correlation_id": outcome["correlation_id"]})
    if outcome["status"] != "replied":
        response.status_code = 202
        response.headers["Location"] = f"/replies/{outcome['correlation_id']}"
    return ReplyState(**outcome)


@router.post("/replies/{correlation_id}", status_code=201, response_model=ReplyState,
             summary="Reply to a request (the agent it was addressed to, once)")
def post_reply(correlation_id: str, body: Outgoing, caller: Caller, service: Service, audit: Audit) -> ReplyState:
    with audited(audit, caller, "message.reply", f"reply/{correlation_id}"):
        reply = service.reply(caller, correlation_id, body.payload, attributes=body.attributes,
                              context_ref=body.context_ref)
    return ReplyState(correlation_id=correlation_id, status="replied", reply=reply)


@router.get("/replies/{correlation_id}", response_model=ReplyState, responses={202: {"model": ReplyState}},
            summary="A request's reply (200), or 202 while it is pending after waiting up to wait seconds")
def get_reply(correlation_id: str, caller: Caller, service: Service, response: Response,
              wait: Annotated[float, Query(ge=0, le=MAX_REPLY_WAIT_SECONDS)] = 0) -> ReplyState:
    outcome = service.reply_status(caller, correlation_id, wait)
    if outcome["status"] != "replied":
        response.status_code = 202
    return ReplyState(**outcome)


# --- subscriptions --------------------------------------------------------------------------------------------

@router.put("/agents/{agent_id}/subscriptions/{topic}", response_model=Subscription,
            summary="Subscribe an agent's inbox to a topic, with a filter on the message attributes")
def put_subscription(agent_id: str, topic: str, body: SubscriptionIn, caller: Caller, service: Service,
                     audit: Audit) -> Subscription:
    with audited(audit, caller, "subscription.put", f"agent/{agent_id}/subscriptions/{topic}"):
        return Subscription(**service.subscribe(caller, agent_id, topic, body.filter))


@router.delete("/agents/{agent_id}/subscriptions/{topic}", status_code=204, summary="Unsubscribe from a topic")
def delete_subscription(agent_id: str, topic: str, caller: Caller, service: Service, audit: Audit) -> Response:
    with audited(audit, caller, "subscription.delete", f"agent/{agent_id}/subscriptions/{topic}"):
        service.unsubscribe(caller, agent_id, topic)
    return Response(status_code=204)


@router.get("/agents/{agent_id}/subscriptions", response_model=list[Subscription],
            summary="An agent's topic subscriptions")
def list_subscriptions(agent_id: str, caller: Caller, service: Service) -> list[Subscription]:
    return [Subscription(**s) for s in service.subscriptions(caller, agent_id)]


# --- the inbox ------------------------------------------------------------------------------------------------

@router.get("/agents/{agent_id}/messages", response_model=Inbox,
            summary="Receive (the agent itself): a long poll of up to wait seconds for up to max messages")
def receive(agent_id: str, caller: Caller, service: Service,
            wait: Annotated[int, Query(ge=0, le=MAX_RECEIVE_WAIT_SECONDS)] = MAX_RECEIVE_WAIT_SECONDS,
            max: Annotated[int, Query(ge=1, le=10)] = 10) -> Inbox:
    return Inbox(messages=service.receive(caller, agent_id, wait_seconds=wait, max_messages=max))


@router.post("/agents/{agent_id}/messages/ack", response_model=Settled, response_model_exclude_none=True,
             summary="Acknowledge messages by their receipts: they are not delivered again")
def ack(agent_id: str, body: Receipts, caller: Caller, service: Service, audit: Audit) -> Settled:
    with audited(audit, caller, "message.ack", f"agent/{agent_id}") as detail:
        outcome = service.ack(caller, agent_id, body.receipts)
        detail.update({"acked": outcome["acked"], "failed": len(outcome["failed"])})
    return Settled(**outcome)


@router.post("/agents/{agent_id}/messages/nack", response_model=Settled, response_model_exclude_none=True,
             summary="Give messages back: delivered again after delay_seconds, dead letters after max deliveries")
def nack(agent_id: str, body: NackIn, caller: Caller, service: Service, audit: Audit) -> Settled:
    with audited(audit, caller, "message.nack", f"agent/{agent_id}") as detail:
        outcome = service.nack(caller, agent_id, body.receipts, body.delay_seconds)
        detail.update({"nacked": outcome["nacked"], "failed": len(outcome["failed"])})
    return Settled(**outcome)


# --- dead letters (admins) ------------------------------------------------------------------------------------

@router.get("/agents/{agent_id}/dead-letters", response_model=DeadLetters,
            summary="A look at an agent's dead letters (admins); the look takes none of them")
def dead_letters(agent_id: str, caller: Caller, service: Service,
                 max: Annotated[int, Query(ge=1, le=10)] = 10) -> DeadLetters:
    return DeadLetters(**service.dead_letters(caller, agent_id, max))


@router.post("/agents/{agent_id}/dead-letters/redrive", response_model=Redriven,
             summary="Move an agent's dead letters back to its inbox (admins)")
def redrive(agent_id: str, caller: Caller, service: Service, audit: Audit,
            body: RedriveIn | None = None) -> Redriven:
    with audited(audit, caller, "dead-letters.redrive", f"agent/{agent_id}") as detail:
        outcome = service.redrive(caller, agent_id, (body or RedriveIn()).limit)
        detail.update(outcome)
    return Redriven(**outcome)


app = create_app("Crewhouse bus: messaging", [router])
handler = lambda_handler(app, __name__)
