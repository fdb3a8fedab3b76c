"""The agent bus's operations: the registry, credentials, inboxes, topics, requests and replies, contexts, large
uploads, A2A and the discovery documents. Agents act with their own bus tokens, admins with the user's."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import httpx

from tests.cost.catalog import Context, Effect, Metered
from tests.cost.operations.agents_support import bus_agent, hosted_agent, kept, ok, received

STREAM_PART = 5 * 1024 * 1024  # the smallest part size the bus allows; a 1 KiB upload is its one (last) part


def _fresh_agent(ctx: Context) -> dict[str, Any]:
    return bus_agent(ctx, f"scratch-{uuid.uuid4().hex[:6]}", cache=False)


# --- the registry ------------------------------------------------------------------------------------------


def register_agent(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.post("/agents", json={"name": "registered", "capabilities": ["review"], "role": "agent-full"},
                     headers=ctx.headers), 201)
    return None


def list_agents(ctx: Context, _: Any) -> Effect:
    assert ok(ctx.api.get("/agents", params={"capability": "review"}, headers=ctx.headers))["items"]
    return None


def get_agent(ctx: Context, _: Any) -> Effect:
    agent = bus_agent(ctx, "producer")
    ok(ctx.api.get(f"/agents/{agent['id']}", headers=agent["headers"]))
    return None


def change_agent(ctx: Context, _: Any) -> Effect:
    agent = bus_agent(ctx, "producer")
    ok(ctx.api.patch(f"/agents/{agent['id']}", json={"description": "sends things"}, headers=ctx.headers))
    return None


def unregister_agent(ctx: Context, agent: dict[str, Any]) -> Effect:
    ok(ctx.api.delete(f"/agents/{agent['id']}", headers=ctx.headers), 204)
    return None


def agent_card(ctx: Context, _: Any) -> Effect:
    agent = bus_agent(ctx, "producer")
    ok(ctx.api.get(f"/agents/{agent['id']}/card", headers=agent["headers"]))
    return None


def rotate_credentials(ctx: Context, agent: dict[str, Any]) -> Effect:
    ok(ctx.api.post(f"/agents/{agent['id']}/credentials", headers=ctx.headers))
    return None


def revoke_credentials(ctx: Context, agent: dict[str, Any]) -> Effect:
    ok(ctx.api.delete(f"/agents/{agent['id']}/credentials", headers=ctx.headers), 204)
    return None


def heartbeat(ctx: Context, _: Any) -> Effect:
    agent = bus_agent(ctx, "producer")
    ok(ctx.api.put(f"/agents/{agent['id']}/heartbeat", headers=agent["headers"]))
    return None


def token(ctx: Context, _: Any) -> Effect:
    credentials = bus_agent(ctx, "producer")["credentials"]
    ok(ctx.api.post("/bus/token", data={"grant_type": "client_credentials", "client_id": credentials["client_id"],
                                         "client_secret": credentials["client_secret"]}))
    return None


# --- inboxes -----------------------------------------------------------------------------------------------


def _delivered(ctx: Context) -> dict[str, Any]:
    """A message sent to the consumer and received by it, not yet acknowledged."""
    sender, receiver = bus_agent(ctx, "producer"), bus_agent(ctx, "consumer")
    ok(ctx.api.post("/messages", json={"to": receiver["id"], "payload": {"n": 1}}, headers=sender["headers"]), 202)
    return received(ctx, receiver)[0]


def nack(ctx: Context, message: dict[str, Any]) -> Effect:
    receiver = bus_agent(ctx, "consumer")
    ok(ctx.api.post(f"/agents/{receiver['id']}/messages/nack", json={"receipts": [message["receipt"]]},
                     headers=receiver["headers"]))
    return None


def _nacked_back(ctx: Context) -> None:
    """Takes the nacked message again and acknowledges it, so the next reading starts from an empty inbox."""
    receiver = bus_agent(ctx, "consumer")
    for message in received(ctx, receiver):
        ok(ctx.api.post(f"/agents/{receiver['id']}/messages/ack", json={"receipts": [message["receipt"]]},
                         headers=receiver["headers"]))


def nack_prepared(ctx: Context) -> dict[str, Any]:
    _nacked_back(ctx)
    return _delivered(ctx)


def _flaky(ctx: Context) -> dict[str, Any]:
    return bus_agent(ctx, "flaky", max_deliveries=1)


def _dead_lettered(ctx: Context) -> None:
    """One message in the flaky agent's dead letters (its inbox empty): delivered once, given back, and moved
    there by SQS at the next receive (max deliveries 1)."""
    flaky, sender = _flaky(ctx), bus_agent(ctx, "producer")
    for message in received(ctx, flaky, wait=0):  # what an earlier redrive brought back
        ok(ctx.api.post(f"/agents/{flaky['id']}/messages/ack", json={"receipts": [message["receipt"]]},
                         headers=flaky["headers"]))
    if ok(ctx.api.get(f"/agents/{flaky['id']}/dead-letters", headers=ctx.headers))["messages"]:
        return  # a look takes none of them: the one from before is still there
    ok(ctx.api.post("/messages", json={"to": flaky["id"], "payload": "poison"}, headers=sender["headers"]), 202)
    message = received(ctx, flaky)[0]
    ok(ctx.api.post(f"/agents/{flaky['id']}/messages/nack", json={"receipts": [message["receipt"]]},
                     headers=flaky["headers"]))
    assert received(ctx, flaky, wait=1) == []
    letters = ok(ctx.api.get(f"/agents/{flaky['id']}/dead-letters", headers=ctx.headers))
    assert len(letters["messages"]) == 1, letters


def dead_letters(ctx: Context, _: Any) -> Effect:
    letters = ok(ctx.api.get(f"/agents/{_flaky(ctx)['id']}/dead-letters", headers=ctx.headers))
    assert len(letters["messages"]) == 1, letters
    return None


def redrive_dead_letters(ctx: Context, _: Any) -> Effect:
    moved = ok(ctx.api.post(f"/agents/{_flaky(ctx)['id']}/dead-letters/redrive", json={}, headers=ctx.headers))
    assert moved["moved"] == 1, moved
    return None


def broadcast(ctx: Context, _: Any) -> Effect:
    sender = bus_agent(ctx, "producer")
    ok(ctx.api.post("/messages/broadcast", json={"payload": {"hello": "all"}}, headers=sender["headers"]), 202)
    return None


def _drain_all(ctx: Context) -> None:
    """Acknowledges what every cached agent has in its inbox (a broadcast or topic reached them)."""
    for agent in ctx.state.get("bus_agents", {}).values():
        for message in received(ctx, agent, wait=0):
            ok(ctx.api.post(f"/agents/{agent['id']}/messages/ack", json={"receipts": [message["receipt"]]},
                             headers=agent["headers"]))


# --- topics ------------------------------------------------------------------------------------------------


def subscribe(ctx: Context, topic: str) -> Effect:
    agent = bus_agent(ctx, "consumer")
    ok(ctx.api.put(f"/agents/{agent['id']}/subscriptions/{topic}", json={"filter": {"kind": ["launch"]}},
                    headers=agent["headers"]))
    return None


def _unsubscribed_topic(ctx: Context) -> str:
    return f"scratch-{uuid.uuid4().hex[:8]}"


def list_subscriptions(ctx: Context, _: Any) -> Effect:
    agent = bus_agent(ctx, "consumer")
    ok(ctx.api.get(f"/agents/{agent['id']}/subscriptions", headers=agent["headers"]))
    return None


def _subscribed_topic(ctx: Context) -> str:
    topic = _unsubscribed_topic(ctx)
    subscribe(ctx, topic)
    return topic


def unsubscribe(ctx: Context, topic: str) -> Effect:
    agent = bus_agent(ctx, "consumer")
    ok(ctx.api.delete(f"/agents/{agent['id']}/subscriptions/{topic}", headers=agent["headers"]), 204)
    return None


def _news_topic(ctx: Context) -> str:
    """The consumer subscribed to ``news`` (once), its inbox empty."""
    if "news_topic" not in ctx.state:
        subscribe(ctx, "news")
        ctx.state["news_topic"] = "news"
    _drain_all(ctx)
    return "news"


def publish(ctx: Context, topic: str) -> Effect:
    sender = bus_agent(ctx, "producer")
    ok(ctx.api.post(f"/topics/{topic}/messages", json={"payload": {"headline": "launch"},
                                                        "attributes": {"kind": "launch"}},
                     headers=sender["headers"]), 202)
    return None


# --- requests and replies ----------------------------------------------------------------------------------


def send_request(ctx: Context, _: Any) -> Effect:
    asker, answerer = bus_agent(ctx, "producer"), bus_agent(ctx, "consumer")
    ok(ctx.api.post("/messages/requests", json={"to": answerer["id"], "payload": [1, 2], "timeout_seconds": 20,
                                                 "wait": False},
                     headers=asker["headers"]), 202)
    return None


def _asked(ctx: Context) -> dict[str, Any]:
    """A request the consumer has received and acknowledged, not yet answered."""
    _drain_all(ctx)
    asker, answerer = bus_agent(ctx, "producer"), bus_agent(ctx, "consumer")
    ok(ctx.api.post("/messages/requests", json={"to": answerer["id"], "payload": [1, 2], "timeout_seconds": 20,
                                                 "wait": False},
                     headers=asker["headers"]), 202)
    message = received(ctx, answerer)[0]
    ok(ctx.api.post(f"/agents/{answerer['id']}/messages/ack", json={"receipts": [message["receipt"]]},
                     headers=answerer["headers"]))
    return message


def reply(ctx: Context, message: dict[str, Any]) -> Effect:
    answerer = bus_agent(ctx, "consumer")
    ok(ctx.api.post(f"/replies/{message['correlation_id']}", json={"payload": {"sum": 3}},
                     headers=answerer["headers"]), 201)
    return None


def _answered(ctx: Context) -> str:
    message = _asked(ctx)
    reply(ctx, message)
    return str(message["correlation_id"])


def get_reply(ctx: Context, correlation_id: str) -> Effect:
    asker = bus_agent(ctx, "producer")
    ok(ctx.api.get(f"/replies/{correlation_id}", headers=asker["headers"]))
    return None


# --- contexts ----------------------------------------------------------------------------------------------


def _context(ctx: Context, payload: Any = None) -> dict[str, Any]:
    owner = bus_agent(ctx, "producer")
    response = ctx.api.post("/contexts", json={"name": f"plan-{uuid.uuid4().hex[:6]}", "scope": "tenant",
                                               "payload": payload if payload is not None else {"step": 1}},
                            headers=owner["headers"])
    created = ok(response, 201)
    return {"id": created["id"], "etag": response.headers["etag"]}


def shared_context(ctx: Context) -> dict[str, Any]:
    return dict(kept(ctx, "bus_context", lambda: _context(ctx)))


def create_context(ctx: Context, _: Any) -> Effect:
    _context(ctx)
    return None


def list_contexts(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.get("/contexts", headers=bus_agent(ctx, "producer")["headers"]))
    return None


def get_context(ctx: Context, _: Any) -> Effect:
    context = shared_context(ctx)
    ok(ctx.api.get(f"/contexts/{context['id']}", headers=bus_agent(ctx, "consumer")["headers"]))
    return None


def write_context(ctx: Context, context: dict[str, Any]) -> Effect:
    ok(ctx.api.put(f"/contexts/{context['id']}", json={"payload": {"step": 2}},
                    headers={**bus_agent(ctx, "producer")["headers"], "If-Match": context["etag"]}))
    return None


def delete_context(ctx: Context, context: dict[str, Any]) -> Effect:
    ok(ctx.api.delete(f"/contexts/{context['id']}", headers=bus_agent(ctx, "producer")["headers"]), 204)
    return None


def context_versions(ctx: Context, _: Any) -> Effect:
    context = shared_context(ctx)
    ok(ctx.api.get(f"/contexts/{context['id']}/versions", headers=bus_agent(ctx, "producer")["headers"]))
    return None


def _large_context(ctx: Context) -> dict[str, Any]:
    return dict(kept(ctx, "bus_large_context", lambda: _context(ctx, "x" * (300 * 1024))))  # over 256 KiB: kept in S3


def download_context(ctx: Context, context: dict[str, Any]) -> Effect:
    response = ctx.api.get(f"/contexts/{context['id']}/download", headers=bus_agent(ctx, "producer")["headers"])
    assert response.status_code in (200, 302, 307), response.text
    return None


# --- large uploads -----------------------------------------------------------------------------------------

UPLOAD = b"crewhouse stream part " * 47  # 1,034 bytes: one part


def _stream_body() -> dict[str, Any]:
    checksum = base64.b64encode(hashlib.sha256(UPLOAD).digest()).decode()
    return {"size": len(UPLOAD), "sha256": hashlib.sha256(UPLOAD).hexdigest(), "part_size": STREAM_PART,
            "part_checksums": [checksum], "name": f"dataset-{uuid.uuid4().hex[:6]}", "scope": "tenant"}


def _stream(ctx: Context) -> dict[str, Any]:
    return dict(ok(ctx.api.post("/streams", json=_stream_body(), headers=bus_agent(ctx, "producer")["headers"]),
                    201))


def start_stream(ctx: Context, _: Any) -> Effect:
    _stream(ctx)
    return None


def get_stream(ctx: Context, stream: dict[str, Any]) -> Effect:
    ok(ctx.api.get(f"/streams/{stream['stream_id']}", headers=bus_agent(ctx, "producer")["headers"]))
    return None


def abort_stream(ctx: Context, stream: dict[str, Any]) -> Effect:
    ok(ctx.api.delete(f"/streams/{stream['stream_id']}", headers=bus_agent(ctx, "producer")["headers"]), 204)
    return None


def _uploaded_stream(ctx: Context) -> dict[str, Any]:
    stream = _stream(ctx)
    part = stream["parts"][0]  # the client's PUT goes to S3 with the presigned URL, not through a function
    answer = httpx.put(part["url"], content=UPLOAD, headers=part["headers"], timeout=30)
    assert answer.status_code == 200, answer.text
    return stream


def complete_stream(ctx: Context, stream: dict[str, Any]) -> Effect:
    ok(ctx.api.post(f"/streams/{stream['stream_id']}/complete", json={},
                     headers=bus_agent(ctx, "producer")["headers"]), 201)
    return None


# --- A2A and discovery -------------------------------------------------------------------------------------


def a2a_send_message(ctx: Context, _: Any) -> Effect:
    helper = hosted_agent(ctx, "Helper")
    request = {"jsonrpc": "2.0", "id": "r1", "method": "SendMessage",
               "params": {"message": {"messageId": uuid.uuid4().hex, "role": "ROLE_USER",
                                      "parts": [{"text": "help me plan"}]}}}
    answer = ok(ctx.api.post(f"/a2a/agents/{helper['id']}", json=request,
                              headers=bus_agent(ctx, "producer")["headers"]))
    assert "result" in answer, answer
    return None


def agent_card_well_known(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.get("/.well-known/agent-card.json"))
    return None


def protected_resource(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.get("/.well-known/oauth-protected-resource"))
    return None


METERED: list[Metered] = [
    Metered("register a bus agent", ("POST /agents",), register_agent),
    Metered("discover agents by capability", ("GET /agents",), list_agents),
    Metered("get a bus agent", ("GET /agents/{agent_id}",), get_agent),
    Metered("change a bus agent", ("PATCH /agents/{agent_id}",), change_agent),
    Metered("unregister a bus agent", ("DELETE /agents/{agent_id}",), unregister_agent, _fresh_agent),
    Metered("a bus agent's A2A card", ("GET /agents/{agent_id}/card",), agent_card),
    Metered("rotate an agent's credentials", ("POST /agents/{agent_id}/credentials",), rotate_credentials,
            _fresh_agent),
    Metered("revoke an agent's credentials", ("DELETE /agents/{agent_id}/credentials",), revoke_credentials,
            _fresh_agent),
    Metered("agent heartbeat", ("PUT /agents/{agent_id}/heartbeat",), heartbeat),
    Metered("bus token for client credentials", ("POST /bus/token",), token),
    Metered("nack a bus message", ("POST /agents/{agent_id}/messages/nack",), nack, nack_prepared),
    Metered("look at an agent's dead letters (one)", ("GET /agents/{agent_id}/dead-letters",), dead_letters,
            _dead_lettered),
    Metered("redrive an agent's dead letters (one)", ("POST /agents/{agent_id}/dead-letters/redrive",),
            redrive_dead_letters, _dead_lettered),
    Metered("broadcast to the tenant's agents", ("POST /messages/broadcast",), broadcast,
            lambda ctx: _drain_all(ctx)),
    Metered("subscribe to a topic", ("PUT /agents/{agent_id}/subscriptions/{topic}",), subscribe,
            _unsubscribed_topic),
    Metered("list an agent's subscriptions", ("GET /agents/{agent_id}/subscriptions",), list_subscriptions),
    Metered("unsubscribe from a topic", ("DELETE /agents/{agent_id}/subscriptions/{topic}",), unsubscribe,
            _subscribed_topic),
    Metered("publish to a topic, one subscriber", ("POST /topics/{topic}/messages",), publish, _news_topic),
    Metered("send a request (reply later)", ("POST /messages/requests",), send_request,
            lambda ctx: _drain_all(ctx)),
    Metered("reply to a request", ("POST /replies/{correlation_id}",), reply, _asked),
    Metered("fetch a request's reply", ("GET /replies/{correlation_id}",), get_reply, _answered),
    Metered("share a context", ("POST /contexts",), create_context),
    Metered("list contexts", ("GET /contexts",), list_contexts),
    Metered("read a context", ("GET /contexts/{context_id}",), get_context),
    Metered("write a context's next version", ("PUT /contexts/{context_id}",), write_context, _context),
    Metered("delete a context", ("DELETE /contexts/{context_id}",), delete_context, _context),
    Metered("a context's versions", ("GET /contexts/{context_id}/versions",), context_versions),
    Metered("presigned download of a large context", ("GET /contexts/{context_id}/download",), download_context,
            _large_context),
    Metered("start a large upload", ("POST /streams",), start_stream),
    Metered("resume a large upload", ("GET /streams/{stream_id}",), get_stream, _stream),
    Metered("abort a large upload", ("DELETE /streams/{stream_id}",), abort_stream, _stream),
    Metered("complete a large upload (one part)", ("POST /streams/{stream_id}/complete",), complete_stream,
            _uploaded_stream),
    Metered("A2A SendMessage to a hosted agent", ("POST /a2a/agents/{agent_id}",), a2a_send_message),
    Metered("Crewhouse's A2A agent card", ("GET /.well-known/agent-card.json",), agent_card_well_known),
    Metered("OAuth protected-resource metadata", ("GET /.well-known/oauth-protected-resource",),
            protected_resource),
]
