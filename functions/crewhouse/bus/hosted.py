"""Hosted agents: the consumer of their shared inbox. A message to an agent Crewhouse runs is answered by the
agent's own tool loop (its role, goal, tools and memory: :mod:`crewhouse.crews.wiring`), and a request's answer
becomes its reply. An agent registered as hosted without a crews definition is answered by one model turn
(:class:`ConverseAnswerer`; the offline provider locally)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from crewhouse.bus.agents_store import DynamoAgents
from crewhouse.bus.ids import new_id
from crewhouse.bus.messages_store import DynamoMessages
from crewhouse.bus.messaging import build_envelope, iso
from crewhouse.bus.settings import BusSettings
from crewhouse.core.aws import aws_client
from crewhouse.core.observability import logger
from crewhouse.core.settings import load_settings
from crewhouse.core.table import Table
from crewhouse.crews.wiring import agent_runner
from crewhouse.llm.factory import LlmSettings

Item = dict[str, Any]


class HostedSettings(BusSettings, LlmSettings):
    pass


class Answerer(Protocol):
    def answer(self, agent: Item, envelope: Item) -> Any: ...


class ConverseAnswerer:
    """One model turn: the agent's name and description as the system prompt, the message as the user's."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    def answer(self, agent: Item, envelope: Item) -> Any:
        from crewhouse.llm.provider import text_message

        payload = envelope.get("payload")
        text = payload if isinstance(payload, str) else json.dumps(payload)
        system = [{"text": f"You are {agent['name']}, an agent of a Crewhouse workspace. "
                           f"{agent.get('description') or ''}".strip()}]
        result = self.provider.converse(messages=[text_message("user", text)], system=system, max_tokens=1024)
        return {"text": result.text, "provider": result.provider}


class AgentRunAnswerer:
    """The agent's own tool loop, acting as the agent (``agent:<id>``); one model turn for an agent that has no
    definition in crews."""

    def __init__(self, runner: Any, fallback: Answerer) -> None:
        self.runner = runner
        self.fallback = fallback

    def answer(self, agent: Item, envelope: Item) -> Any:
        from crewhouse.core.errors import NotFound
        from crewhouse.core.identity import Identity

        payload = envelope.get("payload")
        text = payload if isinstance(payload, str) else json.dumps(payload)
        identity = Identity(str(agent["tenant_id"]), f"agent:{agent['agent_id']}", "member", frozenset())
        try:
            run = self.runner.run(identity, str(agent["agent_id"]), text)
        except NotFound:
            return self.fallback.answer(agent, envelope)
        return {"text": run.text, "provider": run.provider, "agent_version": run.version,
                "tools_used": run.tools_used, "usage": run.usage}


def answer_message(envelope: Item, agents: DynamoAgents, messages: DynamoMessages, answerer: Answerer,
                   now: datetime) -> bool:
    """Answer one message; True when a reply was recorded. A message for an agent since unregistered is
    dropped (logged), as a queue deleted with its agent would drop it."""
    tenant_id, agent_id = str(envelope.get("tenant_id") or ""), str(envelope.get("to") or "")
    agent = agents.get(tenant_id, agent_id) if tenant_id and agent_id else None
    if agent is None or agent["kind"] != "hosted":
        logger.warning("message for no hosted agent dropped", extra={"to": agent_id, "id": envelope.get("id")})
        return False
    payload = answerer.answer(agent, envelope)
    if envelope.get("kind") != "request" or not envelope.get("correlation_id"):
        return False
    reply = build_envelope("reply", f"agent:{agent_id}", payload=payload, sent_at=iso(now),
                           message_id=new_id(), to=envelope.get("reply_to"),
                           correlation_id=envelope["correlation_id"])
    # A redelivered request finds its reply already recorded: answered once, as at-least-once delivery needs.
    return messages.record_reply(tenant_id, str(envelope["correlation_id"]), reply, reply["sent_at"])


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any, *, answerer: Answerer | None = None) -> dict[str, Any]:
    settings = load_settings(HostedSettings)
    table = Table(aws_client("dynamodb", settings), settings.bus_table)
    if answerer is None:
        from crewhouse.llm.factory import provider_chain

        answerer = AgentRunAnswerer(agent_runner(), ConverseAnswerer(provider_chain(settings)))
    agents, messages = DynamoAgents(table), DynamoMessages(table)
    processor = BatchProcessor(event_type=EventType.SQS)

    def handle(record: SQSRecord) -> None:
        answer_message(json.loads(record.body), agents, messages, answerer, datetime.now(UTC))

    return dict(process_partial_response(event=event, record_handler=handle, processor=processor, context=context))
