"""The realtime table's key shapes (one table; TTL ``expires_epoch``), and reads of the tables topics name.

- a connection: ``PK=CONN#<connection id>``, ``SK=CONN``: tenant, user, role (and agent) as ``$connect`` found
  them. Keyed by API Gateway's connection id, the only thing a ``$default`` or ``$disconnect`` event names;
- its subscriptions, for ``$disconnect``: ``PK=CONN#<connection id>``, ``SK=SUB#<topic key>``;
- a topic's subscribers: ``PK=<topic key>``, ``SK=CONN#<connection id>`` (the fan-out's one Query), with the
  holder's ``user_id`` (and ``agent_id``) for the fan-out's membership re-check, where the topic key starts with the
  owner: ``T#t#U#u#TOPIC#job:<id>`` for a user's own resources, ``T#t#TOPIC#agent:<id>`` for a tenant's;
- a topic's counter and replay log: ``PK=<topic key>#LOG``, ``SK=SEQ`` (the last event id, kept 30 days so ids
  keep increasing) and ``SK=EV#<id, 12 digits>`` (each event, kept ``replay_seconds``).

Subscribing to a resource reads it with its owning context's key rules (the jobs, chat, flows and bus tables,
GetItem by the caller's own owner or tenant key): a resource of another tenant or user is simply not found.
"""

from __future__ import annotations

import json
import time
from typing import Any

from crewhouse.core import table as t
from crewhouse.core.keys import owner_pk, tenant_prefix
from crewhouse.realtime.logic import Message, Scope
from crewhouse.realtime.models import Caller, Subscriber, Topic

CONNECTION_SK = "CONN"
COUNTER_SK = "SEQ"
COUNTER_SECONDS = 30 * 24 * 3600
_ID_DIGITS = 12


def connection_pk(connection_id: str) -> str:
    return f"CONN#{connection_id}"


def topic_key(scope: Scope) -> str:
    tenant_id, user_id, topic = scope
    owner = f"{owner_pk(tenant_id, user_id)}#" if user_id else tenant_prefix(tenant_id)
    return f"{owner}TOPIC#{topic}"


def event_sk(event_id: int) -> str:
    return f"EV#{event_id:0{_ID_DIGITS}d}"


class DynamoRealtimeStore:
    def __init__(self, table: t.Table) -> None:
        self._table = table

    def save_connection(self, connection_id: str, caller: Caller, expires_epoch: int) -> None:
        self._table.put({"PK": connection_pk(connection_id), "SK": CONNECTION_SK, **caller.as_item(),
                         "connected_epoch": int(time.time()), "expires_epoch": expires_epoch})

    def connection(self, connection_id: str) -> Caller | None:
        item = self._table.get((connection_pk(connection_id), CONNECTION_SK))
        return Caller.of(item) if item else None

    def remove_connection(self, connection_id: str) -> None:
        """The connection, its subscriptions and its entries in each topic's subscribers."""
        pk = connection_pk(connection_id)
        items = self._table.query_all(t.whole(pk), projection=("PK", "SK", "topic_key"))
        deletes = [(pk, str(item["SK"])) for item in items]
        deletes += [(str(item["topic_key"]), pk) for item in items if item.get("topic_key")]
        if deletes:
            self._table.delete_many(deletes)

    def subscribe(self, connection_id: str, scope: Scope, expires_epoch: int, caller: Caller | None = None) -> None:
        key, pk = topic_key(scope), connection_pk(connection_id)
        holder = {k: v for k, v in (caller.as_item() if caller else {}).items() if k in ("user_id", "agent_id")}
        self._table.put_many([
            {"PK": key, "SK": pk, "connection_id": connection_id, "expires_epoch": expires_epoch, **holder},
            {"PK": pk, "SK": f"SUB#{key}", "topic_key": key, "expires_epoch": expires_epoch},
        ])

    def unsubscribe(self, connection_id: str, scope: Scope) -> None:
        key, pk = topic_key(scope), connection_pk(connection_id)
        self._table.delete_many([(key, pk), (pk, f"SUB#{key}")])

    def subscribers(self, scope: Scope) -> list[Subscriber]:
        now = int(time.time())
        items = self._table.query_all(t.whole(topic_key(scope)),
                                      projection=("connection_id", "expires_epoch", "user_id", "agent_id"))
        # DynamoDB deletes expired items within days, not at once: an expired subscription is no subscription.
        return [Subscriber(str(i["connection_id"]), i.get("user_id"), i.get("agent_id")) for i in items
                if int(i.get("expires_epoch") or 0) > now]

    def append(self, scope: Scope, message: Message, expires_epoch: int) -> int:
        log = f"{topic_key(scope)}#LOG"
        counter = self._table.update((log, COUNTER_SK), "ADD seq :one SET expires_epoch = :keep",
                                     values={":one": 1, ":keep": int(time.time()) + COUNTER_SECONDS},
                                     return_new=True)
        assert counter is not None
        event_id = int(counter["seq"])
        self._table.put({"PK": log, "SK": event_sk(event_id), "message": json.dumps({**message, "id": event_id}),
                         "expires_epoch": expires_epoch})
        return event_id

    def events_after(self, scope: Scope, last_event_id: int) -> list[Message]:
        log = f"{topic_key(scope)}#LOG"
        now = int(time.time())
        items = self._table.query_all(t.between(log, event_sk(last_event_id + 1), event_sk(10 ** _ID_DIGITS - 1)),
                                      consistent=True)
        return [json.loads(str(i["message"])) for i in items if int(i.get("expires_epoch") or 0) > now]

    def latest_id(self, scope: Scope) -> int:
        item = self._table.get((f"{topic_key(scope)}#LOG", COUNTER_SK), projection=("seq",))
        return int(item["seq"]) if item else 0


class TableResources:
    """Reads the item a topic names in its owning context's table, by that context's key rules: a job and a
    chat session under the caller's owner key, a flow execution (its run item) and an agent under the caller's
    tenant."""

    def __init__(self, dynamodb: Any, *, jobs_table: str | None, chat_table: str | None,
                 bus_table: str | None, flows_table: str | None = None) -> None:
        self._db = dynamodb
        self._tables = {"job": jobs_table, "chat": chat_table, "agent": bus_table, "execution": flows_table}

    def can_read(self, caller: Caller, topic: Topic) -> bool:
        name = self._tables.get(topic.kind)
        if not name:
            return False
        owner = owner_pk(caller.tenant_id, caller.user_id)
        key = {"job": (owner, f"JOB#{topic.resource_id}"),  # crewhouse.jobs.keys
               "chat": (owner, f"CHAT#{topic.resource_id}"),  # crewhouse.chat.store
               "agent": (f"{tenant_prefix(caller.tenant_id)}AGENT#{topic.resource_id}", "AGENT"),  # bus.agents_store
               "execution": (f"{tenant_prefix(caller.tenant_id)}RUN#{topic.resource_id}", "RUN"),  # flows.store
               }[topic.kind]
        return t.Table(self._db, name).get(key, projection=("PK",)) is not None
