"""Messaging's items in the bus table: the only place that knows their key shapes.

- ``T#<t>#REPLY#<correlation id> / REPLY``: a request awaiting (then holding) its reply; ``expires_epoch`` lets
  DynamoDB's TTL drop it a day later;
- ``T#<t>#AGENT#<id> / SUB#<topic>``: an agent's topic subscription (its SNS subscription ARN and filter), in the
  agent's partition, so unregistering the agent finds and removes them with the record.
"""

from __future__ import annotations

from typing import Any

from crewhouse.bus.agents_store import agent_pk
from crewhouse.core import table as t
from crewhouse.core.keys import tenant_prefix

Item = dict[str, Any]
REPLY, SUBSCRIPTION = "REPLY", "SUB#"
_KEYS = ("PK", "SK")


def reply_key(tenant_id: str, correlation_id: str) -> t.ItemKey:
    return f"{tenant_prefix(tenant_id)}REPLY#{correlation_id}", REPLY


def _without_keys(item: Item) -> Item:
    return {k: v for k, v in item.items() if k not in _KEYS}


class DynamoMessages:
    def __init__(self, table: t.Table) -> None:
        self._table = table

    # --- request-reply --------------------------------------------------------------------------------------

    def open_request(self, tenant_id: str, correlation_id: str, request: Item, expires_epoch: int) -> None:
        pk, sk = reply_key(tenant_id, correlation_id)
        self._table.put_new({**request, "PK": pk, "SK": sk, "tenant_id": tenant_id, "status": "pending",
                             "expires_epoch": expires_epoch})

    def request(self, tenant_id: str, correlation_id: str) -> Item | None:
        """Strongly consistent: a waiting requester sees a reply the moment it is written."""
        item = self._table.get(reply_key(tenant_id, correlation_id), consistent=True)
        return _without_keys(item) if item else None

    def record_reply(self, tenant_id: str, correlation_id: str, reply: Item, replied_at: str) -> bool:
        """Store the reply unless the request has one already (or is gone); False then."""
        updated = self._table.update(
            reply_key(tenant_id, correlation_id), "SET #reply = :reply, replied_at = :at, #status = :replied",
            names={"#reply": "reply", "#status": "status"},
            values={":reply": reply, ":at": replied_at, ":replied": "replied"},
            condition="attribute_exists(PK) AND attribute_not_exists(#reply)")
        return updated is not None

    # --- subscriptions --------------------------------------------------------------------------------------

    def subscription(self, tenant_id: str, agent_id: str, topic: str) -> Item | None:
        item = self._table.get((agent_pk(tenant_id, agent_id), SUBSCRIPTION + topic))
        return _without_keys(item) if item else None

    def put_subscription(self, tenant_id: str, agent_id: str, topic: str, subscription: Item) -> None:
        self._table.put({**subscription, "PK": agent_pk(tenant_id, agent_id), "SK": SUBSCRIPTION + topic,
                         "agent_id": agent_id, "tenant_id": tenant_id})

    def remove_subscription(self, tenant_id: str, agent_id: str, topic: str) -> None:
        self._table.delete_if_present((agent_pk(tenant_id, agent_id), SUBSCRIPTION + topic))

    def subscriptions(self, tenant_id: str, agent_id: str) -> list[Item]:
        """An agent's subscriptions by topic name (a few per agent by design)."""
        found = self._table.query_all(t.starting_with(agent_pk(tenant_id, agent_id), SUBSCRIPTION), consistent=True)
        return [_without_keys(item) for item in found]
