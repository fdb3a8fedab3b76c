"""The chat Lambda in-process against moto: sessions, the offline assistant, isolation, Bedrock via Stubber."""

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from crewhouse.chat.api import handler
from crewhouse.chat.logic import ChatService, registry_caller
from crewhouse.chat.store import DynamoChatStore
from crewhouse.core.errors import Conflict, NotFound
from crewhouse.core.identity import Identity
from crewhouse.core.settings import function_environment, load_settings
from crewhouse.core.table import Table
from crewhouse.llm.bedrock import BedrockProvider
from crewhouse.llm.provider import FailoverProvider
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.members import seed_membership
from tests.support.tables import mocked_tables

ENV = {"CHAT_TABLE": "chat", "TASKS_TABLE": "tasks", "SEARCH_TABLE": "search", "LLM_PROVIDERS": "offline",
       "CURSOR_SIGNING_KEY": "k", "AWS_REGION": "us-east-1"}
Call = Callable[..., tuple[int, Any]]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_tables(monkeypatch, {"chat": "ChatChatTable",
                                      "tasks": "TasksTasksTable",
                                      "search": "StorageSearchIndexTable"}) as dynamodb:
        yield dynamodb


@pytest.fixture
def call(aws: Any) -> Call:
    def invoke(method: str, path: str, body: Any = None, *, user: str = "u1", query: str = "") -> tuple[int, Any]:
        seed_membership("t1", user)
        event = http_event(method, path, body=body, claims=claims_for("t1", user), query=query)
        with function_environment(ENV):
            response = handler(event, lambda_context("chat"))
        return response["statusCode"], response_json(response)

    return invoke


def say(call: Call, session: str, text: str, user: str = "u1") -> dict[str, Any]:
    status, body = call("POST", f"/chat/sessions/{session}/messages", {"text": text}, user=user)
    assert status == 200, body
    return dict(body)


def test_offline_todo_flow_changes_real_tasks(call: Call, aws: Any) -> None:
    status, session = call("POST", "/chat/sessions", {})
    assert status == 201
    added = say(call, session["id"], "add buy milk priority A")
    assert added["provider"] == "offline"
    assert added["reply"]["text"].startswith("(offline assistant)")
    assert [c["name"] for c in added["tool_calls"]] == ["create_task"]
    say(call, session["id"], "add call the bank")
    listed = say(call, session["id"], "list my tasks")
    assert "1. [A1] buy milk" in listed["reply"]["text"]
    assert "2. [B1] call the bank" in listed["reply"]["text"]
    done = say(call, session["id"], "complete 2")
    assert done["tool_calls"][0]["name"] == "complete_task"
    assert done["tool_calls"][0]["result"]["title"] == "call the bank"
    assert done["tool_calls"][0]["result"]["status"] == "done"

    status, messages = call("GET", f"/chat/sessions/{session['id']}/messages")
    assert status == 200
    assert [m["role"] for m in messages["items"]][:2] == ["user", "assistant"]
    assert messages["items"][0]["text"] == "add buy milk priority A"
    _, sessions = call("GET", "/chat/sessions")
    assert sessions["items"][0]["title"] == "add buy milk priority A"


def test_sessions_and_messages_are_private(call: Call) -> None:
    _, session = call("POST", "/chat/sessions", {"title": "mine"})
    say(call, session["id"], "add secret plan")
    assert call("GET", f"/chat/sessions/{session['id']}/messages", user="u2")[0] == 404
    assert call("POST", f"/chat/sessions/{session['id']}/messages", {"text": "hi"}, user="u2")[0] == 404
    assert call("DELETE", f"/chat/sessions/{session['id']}", user="u2")[0] == 404
    assert call("GET", "/chat/sessions", user="u2")[1]["items"] == []
    listed = say(call, (call("POST", "/chat/sessions", {}, user="u2")[1])["id"], "list my tasks", user="u2")
    assert "secret plan" not in listed["reply"]["text"]
    assert call("DELETE", f"/chat/sessions/{session['id']}")[0] == 204
    assert call("GET", f"/chat/sessions/{session['id']}/messages")[0] == 404


def test_bad_input(call: Call) -> None:
    _, session = call("POST", "/chat/sessions", {})
    assert call("POST", f"/chat/sessions/{session['id']}/messages", {"text": ""})[0] == 422
    assert call("POST", f"/chat/sessions/{session['id']}/messages", {})[0] == 422
    assert call("POST", "/chat/sessions/nope/messages", {"text": "hi"})[0] == 404


def converse_response(content: list[dict[str, Any]], stop: str) -> dict[str, Any]:
    return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
            "usage": {"inputTokens": 50, "outputTokens": 10, "totalTokens": 60},
            "metrics": {"latencyMs": 100}}


def test_bedrock_multi_step_tool_use_and_a_tool_error(aws: Any) -> None:
    """Recorded Converse responses through botocore's Stubber: create, a failing complete, then text."""
    runtime = boto3.client("bedrock-runtime", region_name="us-east-1")
    stubber = Stubber(runtime)
    stubber.add_response("converse", converse_response(
        [{"text": "I'll add it."}, {"toolUse": {"toolUseId": "t1", "name": "create_task",
                                                "input": {"title": "Buy milk", "priority": "A"}}}], "tool_use"))
    stubber.add_response("converse", converse_response(
        [{"toolUse": {"toolUseId": "t2", "name": "complete_task", "input": {"id": "no-such-task"}}}], "tool_use"))
    stubber.add_response("converse", converse_response([{"text": "Added Buy milk; I could not complete the other."}],
                                                       "end_turn"))
    identity = Identity("t1", "u1", "member", frozenset())
    with function_environment(ENV), stubber:
        store = DynamoChatStore(Table(aws, "chat"))
        chat = ChatService(store, FailoverProvider([BedrockProvider(runtime, "us.anthropic.claude-test")]),
                           registry_caller(identity, load_settings))
        session = chat.create_session(identity, None)
        outcome = chat.send(identity, session["id"], "add buy milk and complete no-such-task")
    stubber.assert_no_pending_responses()
    assert outcome.reply_text.startswith("Added Buy milk")
    assert [(c["name"], c["ok"]) for c in outcome.tool_calls] == [("create_task", True), ("complete_task", False)]
    assert outcome.usage["totalTokens"] == 180
    failed = outcome.stored[-2]["converse"]["content"][0]["toolResult"]
    assert failed["status"] == "error"
    assert "No task no-such-task" in failed["content"][0]["json"]["detail"]


def test_bedrock_throttling_fails_over_to_the_next_provider(aws: Any) -> None:
    from crewhouse.llm.offline import OfflineProvider

    runtime = boto3.client("bedrock-runtime", region_name="us-east-1")
    stubber = Stubber(runtime)
    for _ in range(2):  # the turn makes two model calls (tool use, then the answer): both fail over
        stubber.add_client_error("converse", service_error_code="ThrottlingException", http_status_code=429)
    identity = Identity("t1", "u1", "member", frozenset())
    with function_environment(ENV), stubber:
        chat = ChatService(DynamoChatStore(Table(aws, "chat")),
                           FailoverProvider([BedrockProvider(runtime, "m"), OfflineProvider()]),
                           registry_caller(identity, load_settings))
        session = chat.create_session(identity, None)
        outcome = chat.send(identity, session["id"], "what's on today")
    stubber.assert_no_pending_responses()
    assert outcome.provider == "offline"
    assert [c["name"] for c in outcome.tool_calls] == ["get_tasks"]


def chat_requests(dynamodb: Any) -> list[str]:
    """Record the operations ``dynamodb`` sends to the chat table (the handler's own cached client)."""
    seen: list[str] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        tables = {params.get("TableName"), *(params.get("RequestItems") or {})}
        if "chat" in tables:
            seen.append(model.name)

    dynamodb.meta.events.register("provide-client-params.dynamodb.*", record)
    return seen


def handler_dynamodb() -> Any:
    from crewhouse.chat.settings import ChatSettings
    from crewhouse.core.aws import aws_client

    with function_environment(ENV):
        return aws_client("dynamodb", load_settings(ChatSettings))


def test_a_turn_is_three_chat_requests_and_reads_no_messages(call: Call) -> None:
    _, session = call("POST", "/chat/sessions", {})
    say(call, session["id"], "add buy milk")
    seen = chat_requests(handler_dynamodb())
    second = say(call, session["id"], "list my tasks")
    # The lock (which brings the context back), the turn's messages, the commit: no Query of the history.
    assert seen == ["UpdateItem", "BatchWriteItem", "UpdateItem"]
    assert "1. [B1] buy milk" in second["reply"]["text"]
    _, messages = call("GET", f"/chat/sessions/{session['id']}/messages")
    assert [m["text"].split(" ")[0] for m in messages["items"]] == ["add", "(offline", "list", "(offline"]


def test_the_commit_is_the_only_point_a_turn_becomes_visible(aws: Any) -> None:
    store = DynamoChatStore(Table(aws, "chat"))
    store.create_session("T#t#U#u", "s1", "New chat", "2026-11-22T10:00:00+00:00")
    message: dict[str, Any] = {"role": "user", "text": "hi", "converse": {"role": "user", "content": [{"text": "hi"}]}}

    # Messages written without a commit (the Lambda stopped in between) are neither listed nor sent.
    held = store.acquire_turn("T#t#U#u", "s1", 1_000, 30)
    assert held is not None and held["context"] is None
    aws.put_item(TableName="chat", Item={
        "PK": {"S": "T#t#U#u#CHAT#s1"}, "SK": {"S": "MSG#00000000"}, "role": {"S": "user"}, "text": {"S": "lost"},
        "created_at": {"S": "x"}, "converse": {"S": "{}"}, "tool_calls": {"S": "[]"}})
    assert store.list_messages("T#t#U#u", "s1", 50, None, 0)[0] == []
    assert store.recent_converse("T#t#U#u", "s1", 40, 0) == []

    # A lock that expired and was taken by another turn: this commit is refused, the other turn's stands.
    assert store.acquire_turn("T#t#U#u", "s1", 2_000, 30) is not None
    with pytest.raises(Conflict):
        store.finish_turn("T#t#U#u", "s1", [message], 0, "now", None, lock=1_030, context=[message["converse"]])
    assert store.get_session("T#t#U#u", "s1")["message_count"] == 0  # type: ignore[index]

    # The session was deleted during the turn: 404, and the turn's messages are removed again.
    store.delete_session("T#t#U#u", "s1")
    with pytest.raises(NotFound):
        store.finish_turn("T#t#U#u", "s1", [message], 0, "now", None, lock=2_030, context=[message["converse"]])
    assert aws.query(TableName="chat", KeyConditionExpression="PK = :pk",
                     ExpressionAttributeValues={":pk": {"S": "T#t#U#u#CHAT#s1"}})["Items"] == []
    assert store.get_session("T#t#U#u", "s1") is None


def test_a_context_too_large_for_the_item_is_dropped_and_the_messages_are_read(aws: Any) -> None:
    import random

    store = DynamoChatStore(Table(aws, "chat"))
    store.create_session("T#t#U#u", "s1", "New chat", "2026-11-22T10:00:00+00:00")
    noise = "".join(random.Random(7).choices("abcdefghijklmnopqrstuvwxyz0123456789", k=400_000))
    big = {"role": "user", "content": [{"text": noise}]}
    for turn, context in enumerate([[big], [{"role": "user", "content": [{"text": "small"}]}], [big]]):
        held = store.acquire_turn("T#t#U#u", "s1", 1_000 + turn, 30)
        assert held is not None
        store.finish_turn("T#t#U#u", "s1", [{"role": "user", "text": "t", "converse": context[0]}], turn, "now",
                          None, lock=1_030 + turn, context=context)
        stored = store.acquire_turn("T#t#U#u", "s1", 1_100 + turn, 30)
        assert stored is not None
        assert stored["context"] == (None if context[0] is big else context)  # a stale one never stays
        store.release_turn("T#t#U#u", "s1")


def test_a_turn_announces_each_tool_call_then_its_reply_for_live_updates(call: Call) -> None:
    """The handler's own wiring puts chat.tool_call (as the tool returns) and chat.reply (once the turn is stored)
    on the crewhouse bus, each naming the session's owner; the realtime fan-out files them under chat:<session>
    of that owner."""
    from crewhouse.realtime.logic import deliveries_for
    from crewhouse.realtime.models import Topic
    from tests.support.event_inbox import event_inbox, sent_events

    boto3.client("events", region_name="us-east-1").create_event_bus(Name="crewhouse")
    inbox = event_inbox("crewhouse.chat")
    _, session = call("POST", "/chat/sessions", {})
    say(call, session["id"], "add buy oat milk priority A")
    events = sent_events(inbox)
    assert [e["detail-type"] for e in events] == ["chat.tool_call", "chat.reply"]
    tool_call, reply = (e["detail"] for e in events)
    owner = {"tenant_id": "t1", "user_id": "u1", "session_id": session["id"]}
    assert {k: tool_call[k] for k in owner} == owner and tool_call["index"] == 1
    assert (tool_call["tool_call"]["name"], tool_call["tool_call"]["ok"]) == ("create_task", True)
    assert tool_call["tool_call"]["input"]["title"] == "buy oat milk"
    assert tool_call["tool_call"]["result"]["title"] == "buy oat milk"  # small results come whole
    assert {k: reply[k] for k in owner} == owner
    assert reply["reply"]["text"].startswith("(offline assistant)")
    assert reply["reply"]["tool_calls"] == [{"name": "create_task", "ok": True}]
    for event in events:
        (delivery,) = deliveries_for(event)
        assert (delivery.tenant_id, delivery.user_id, delivery.topic) == ("t1", "u1", Topic("chat", session["id"]))
    # A turn without tool calls announces its reply only.
    say(call, session["id"], "hello")
    assert [e["detail-type"] for e in sent_events(inbox)] == ["chat.reply"]
