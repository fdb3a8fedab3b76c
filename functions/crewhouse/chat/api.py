"""Chat HTTP API (``/chat/sessions``): persistent conversations with the tool-using assistant.

This Lambda calls the tool registry in-process; it never imports the MCP transport. The provider layer and
the task tools load with the first message a container handles, not with the module (cold starts).

No ``from __future__ import annotations`` here: FastAPI reads every route's and dependency's signature at
import, and string annotations would make it ``eval`` each of them (a few ms of the cold start).
"""

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from crewhouse.chat.logic import EVENT_SOURCE, ChatService, Crews, find_session, owner_of, registry_caller
from crewhouse.chat.logic import create_session as new_session
from crewhouse.chat.models import (
    AgentUse,
    ChatMessage,
    MessageIn,
    Session,
    SessionCreate,
    ToolCall,
    TurnResult,
    TurnTimings,
)
from crewhouse.chat.settings import ChatSettings
from crewhouse.chat.store import DynamoChatStore
from crewhouse.core.aws import aws_client
from crewhouse.core.cursors import cursor_key, decode_cursor, encode_cursor
from crewhouse.core.events import Announcer
from crewhouse.core.http import PageParams, create_app, current_identity, lambda_handler
from crewhouse.core.identity import Identity
from crewhouse.core.observability import logger
from crewhouse.core.pagination import Page
from crewhouse.core.settings import load_settings
from crewhouse.core.table import Table

router = APIRouter(tags=["chat"])
CurrentIdentity = Annotated[Identity, Depends(current_identity)]


def chat_store() -> DynamoChatStore:
    """The store, from the settings of the function being invoked (parsed once per environment)."""
    settings = load_settings(ChatSettings)
    return DynamoChatStore(Table(aws_client("dynamodb", settings), settings.chat_table))


Store = Annotated[DynamoChatStore, Depends(chat_store)]


def crews() -> Crews:
    """The crews context's conversation, for sessions bound to a crew (loaded with the first such request)."""
    from crewhouse.crews.wiring import crew_conversation

    return crew_conversation(timeout_seconds=load_settings(ChatSettings).turn_timeout_seconds)


def chat_service(identity: CurrentIdentity, store: Store) -> ChatService:
    settings = load_settings(ChatSettings)
    from crewhouse.llm.factory import provider_chain
    from crewhouse.providers.wiring import tenant_provider

    # The tenant's own model providers when it has any; the platform's chain otherwise.
    llm = tenant_provider(identity.tenant_id, settings) or provider_chain(settings)
    return ChatService(store, llm, registry_caller(identity, load_settings),
                       max_tool_calls=settings.max_tool_calls_per_turn,
                       timeout_seconds=settings.turn_timeout_seconds, token_budget=settings.history_token_budget,
                       crews=crews, announcer=Announcer(lambda: aws_client("events", settings),
                                                        settings.event_bus_name, EVENT_SOURCE))


Service = Annotated[ChatService, Depends(chat_service)]


async def turn_started() -> float:  # async: nothing to wait for, so no hop to the thread pool
    """When the turn's handling began: the first dependency of a turn, so that building the service (identity,
    store, provider chain, tool context) counts in the turn's reported time."""
    return time.perf_counter()


Started = Annotated[float, Depends(turn_started)]


@router.post("/chat/sessions", status_code=201, response_model=Session,
             summary="Start a conversation (with the assistant, or with one of the tenant's crews)")
def create_session(body: SessionCreate, identity: CurrentIdentity, store: Store) -> Session:
    return Session.model_validate(new_session(store, identity, body.title, datetime.now(UTC), body.crew_id, crews))


@router.get("/chat/sessions", response_model=Page[Session], summary="Your conversations, newest first")
def list_sessions(identity: CurrentIdentity, store: Store, page: PageParams) -> Page[Session]:
    key = cursor_key(load_settings(ChatSettings))
    scope = f"{identity.tenant_id}/{identity.user_id}/chat-sessions"
    start = decode_cursor(page.cursor, key=key, scope=scope) if page.cursor else None
    items, last = store.list_sessions(owner_of(identity), page.limit, start)
    return Page[Session](items=[Session.model_validate(i) for i in items],
                         next_cursor=encode_cursor(last, key=key, scope=scope) if last else None)


@router.get("/chat/sessions/{session_id}/messages", response_model=Page[ChatMessage],
            summary="A conversation's messages, oldest first")
def list_messages(session_id: str, identity: CurrentIdentity, store: Store, page: PageParams) -> Page[ChatMessage]:
    session = find_session(store, identity, session_id)
    key = cursor_key(load_settings(ChatSettings))
    scope = f"{identity.tenant_id}/{identity.user_id}/chat/{session_id}"
    start = decode_cursor(page.cursor, key=key, scope=scope) if page.cursor else None
    items, last = store.list_messages(owner_of(identity), session_id, page.limit, start, session["message_count"])
    visible = [ChatMessage.model_validate(i) for i in items if i["text"]]  # tool-result turns are internal
    return Page[ChatMessage](items=visible, next_cursor=encode_cursor(last, key=key, scope=scope) if last else None)


@router.delete("/chat/sessions/{session_id}", status_code=204, summary="Delete a conversation")
def delete_session(session_id: str, identity: CurrentIdentity, store: Store) -> Response:
    find_session(store, identity, session_id)
    store.delete_session(owner_of(identity), session_id)
    return Response(status_code=204)


@router.post("/chat/sessions/{session_id}/messages", response_model=TurnResult,
             summary="Send a message; the reply and the tool calls it made (409 while a reply is running)")
def send_message(session_id: str, body: MessageIn, started: Started, identity: CurrentIdentity,
                 service: Service) -> TurnResult:
    outcome = service.send(identity, session_id, body.text)
    timings = TurnTimings(total_ms=(time.perf_counter() - started) * 1000, model_ms=outcome.model_ms)
    calls = [ToolCall.model_validate(c) for c in outcome.tool_calls]
    agents = [AgentUse.model_validate(a) for a in outcome.agents or []]
    last = outcome.stored[-1]
    reply = ChatMessage(id="latest", role="assistant", text=last["text"], tool_calls=calls, agents=agents,
                        created_at=service.clock())
    logger.info("chat turn", extra={"total_ms": timings.total_ms, "model_ms": timings.model_ms,
                                    "tool_calls": len(calls), "provider": outcome.provider})
    return TurnResult(reply=reply, tool_calls=calls, crew_id=outcome.crew_id, agents=agents, provider=outcome.provider,
                      usage=outcome.usage, timings=timings)


app = create_app("Crewhouse chat", [router])
handler = lambda_handler(app, __name__)
