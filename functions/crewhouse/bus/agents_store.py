"""The agent registry in the bus table: the only place that knows its key shapes.

- ``T#<t>#AGENT#<id> / AGENT``: the record. GSI1 lists a tenant's agents by kind and name
  (``T#<t>#AGENTS`` / ``<kind>#<name>#<id>``); GSI2 by status (``T#<t>#STATUS#<status>`` / ``<id>``); GSI3, sparse,
  holds the online external agents by the time their heartbeat falls due (``ONLINE#<shard>`` / ``<due ms>#…``),
  which is what the offline sweep reads;
- ``T#<t>#AGENT#<id> / CAP#<capability>``: one item per capability, in GSI1 as ``T#<t>#CAP#<capability>`` / ``<id>``,
  so discovery by capability is one Query;
- ``T#<t>#AGENT#<id> / GATE`` (external agents): the rate-limit bucket (:mod:`crewhouse.bus.rate_limit`) and a copy
  of what every request of the agent reads (``GATE_FIELDS``: role, kind, inbox, credentials' cut-off, limits), in
  no index. Admitting a request is one conditional UpdateItem of this small item that returns that copy; on the
  record it rewrote the record's GSI1 and GSI2 entries (and GSI3's while online) each time, 6 WCU instead of 1.
  Every write that changes a copied field writes the gate in the same transaction; an agent registered before the
  gate existed gets one at its first admission (from its record);
- ``CLIENT#<client id> / CLIENT`` in the **platform** table: the keyed hash of the agent's client secret, which
  the token exchange reads; the access tokens it mints are stored there too, as ``TOKEN#<digest>`` items the API's
  authorizer looks up exactly like personal access tokens.
"""

from __future__ import annotations

import zlib
from typing import Any

from crewhouse.bus.rate_limit import BUCKET_STATE, RATE_CONSTANTS, refusal, state_after
from crewhouse.core import table as t
from crewhouse.core.errors import TooManyRequests, Unauthorized
from crewhouse.core.keys import tenant_prefix
from crewhouse.core.rate_limit import RateState

Item = dict[str, Any]
SWEEP_SHARDS = 8  # the sweep reads each shard's due agents; shards keep one partition from taking every write
RECORD, CAPABILITY, GATE = "AGENT", "CAP#", "GATE"
# What the gate keeps of the record: all that admitting a request and the messaging routes read of the caller.
GATE_FIELDS = ("agent_id", "tenant_id", "kind", "role", "heartbeat_interval_seconds", "credentials_valid_after_ms",
               "queue_url", "dead_letter_queue_url", *RATE_CONSTANTS)


def agent_pk(tenant_id: str, agent_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}AGENT#{agent_id}"


def _record_key(tenant_id: str, agent_id: str) -> t.ItemKey:
    return agent_pk(tenant_id, agent_id), RECORD


def _listing_sort_key(kind: str, name: str, agent_id: str) -> str:
    return f"{kind}#{name.lower()}#{agent_id}"


def _status_pk(tenant_id: str, status: str) -> str:
    return f"{tenant_prefix(tenant_id)}STATUS#{status}"


def _gate_key(tenant_id: str, agent_id: str) -> t.ItemKey:
    return agent_pk(tenant_id, agent_id), GATE


def gate_view(record: Item) -> Item:
    """The record's fields the gate copies (of a gate: its copy, without its keys and bucket)."""
    return {name: record[name] for name in GATE_FIELDS if name in record}


def _has_gate(record: Item) -> bool:
    return bool(record["kind"] == "external")  # only they have credentials, so only their requests are admitted


def _assignments(fields: Item) -> tuple[list[str], dict[str, str], Item]:
    """``#fN = :fN`` for each field, with its names and values."""
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    values: Item = {f":f{i}": value for i, value in enumerate(fields.values())}
    return [f"#f{i} = :f{i}" for i in range(len(fields))], names, values


def _sweep_pk(agent_id: str) -> str:
    return f"ONLINE#{zlib.crc32(agent_id.encode()) % SWEEP_SHARDS}"


def _client_key(client_id: str) -> t.ItemKey:
    return f"CLIENT#{client_id}", "CLIENT"


class DynamoAgents:
    def __init__(self, table: t.Table, platform: t.Table | None = None) -> None:
        self._table = table
        self._platform = platform

    # --- records --------------------------------------------------------------------------------------------

    def create(self, record: Item, capabilities: list[str], client: Item | None) -> None:
        """The record, its capability items and (external agents) its client secret's hash, all or nothing."""
        tenant_id, agent_id = record["tenant_id"], record["agent_id"]
        pk = agent_pk(tenant_id, agent_id)
        writes = [t.new(self._record_item(record))]
        if _has_gate(record):
            writes.append(t.new({**gate_view(record), "PK": pk, "SK": GATE, "rate_tat_ms": 0, "rate_gate_ms": 0}))
        writes += [t.new(self._capability_item(tenant_id, agent_id, capability)) for capability in capabilities]
        if client is not None:
            assert self._platform is not None
            cpk, csk = _client_key(client["client_id"])
            writes.append(t.on(self._platform, t.new({**client, "PK": cpk, "SK": csk})))
        self._table.transact(writes)

    def get(self, tenant_id: str, agent_id: str) -> Item | None:
        return self._table.get(_record_key(tenant_id, agent_id))

    def replace(self, record: Item, expected_version: int, *, old_capabilities: list[str],
                new_capabilities: list[str], refill_bucket: bool = False) -> None:
        """Write the updated record (at ``expected_version``), its gate's copy (``refill_bucket``: with a full
        bucket, for a new limit) and its capability items' difference together."""
        tenant_id, agent_id = record["tenant_id"], record["agent_id"]
        writes = [t.versioned(self._record_item(record), expected_version)]
        if _has_gate(record):
            writes.append(self._gate_copy(record, refill_bucket=refill_bucket))
        writes += [t.removal((agent_pk(tenant_id, agent_id), CAPABILITY + c))
                   for c in set(old_capabilities) - set(new_capabilities)]
        writes += [t.overwrite(self._capability_item(tenant_id, agent_id, c))
                   for c in set(new_capabilities) - set(old_capabilities)]
        try:
            self._table.transact(writes)
        except t.Cancelled as cancelled:
            from crewhouse.core.errors import PreconditionFailed

            raise PreconditionFailed("The agent changed meanwhile; fetch it again and retry.") from cancelled

    def remove(self, record: Item) -> None:
        """The record, every item of its partition (capabilities, subscriptions) and its client secret."""
        pk = agent_pk(record["tenant_id"], record["agent_id"])
        keys = [t.item_key(item) for item in self._table.query_all(t.whole(pk), projection=("PK", "SK"))]
        self._table.delete_many(keys)
        if record.get("client_id") and self._platform is not None:
            self._platform.delete_if_present(_client_key(record["client_id"]))

    def _record_item(self, record: Item) -> Item:
        """The record as stored: with its index keys, without a bucket (an older record's is dropped)."""
        kept = {name: value for name, value in record.items() if name not in BUCKET_STATE}
        return {**kept, "PK": agent_pk(record["tenant_id"], record["agent_id"]), "SK": RECORD,
                **self._index_keys(record)}

    def _gate_copy(self, record: Item, *, refill_bucket: bool) -> t.Write:
        """Set the gate's copy from ``record`` in a transaction; the bucket's state stays unless refilled (a
        missing gate is made whole here, with a full bucket)."""
        assignments, names, values = _assignments(gate_view(record))
        values[":full"] = 0
        for state in BUCKET_STATE:
            assignments.append(f"{state} = :full" if refill_bucket else f"{state} = if_not_exists({state}, :full)")
        return t.change(_gate_key(record["tenant_id"], record["agent_id"]), "SET " + ", ".join(assignments),
                        names=names, values=values)

    def _seed_gate(self, tenant_id: str, agent_id: str) -> None:
        """The gate of an agent registered before gates existed (or only partly written by a credentials change),
        from its record, with a full bucket; 401 when the agent is gone."""
        record = self.get(tenant_id, agent_id)
        if record is None:
            raise Unauthorized("The agent this token was issued to no longer exists.", slug="agent-unregistered")
        assignments, names, values = _assignments({**gate_view(record), "rate_tat_ms": 0, "rate_gate_ms": 0})
        values[":seen"] = int(record.get("credentials_valid_after_ms") or 0)
        # Over a partial gate only while the record agrees on the credentials' cut-off: a rotation between the
        # read and this write fails it, and the next admission seeds again.
        self._table.update(_gate_key(tenant_id, agent_id), "SET " + ", ".join(assignments), names=names,
                           values=values, condition="attribute_not_exists(PK) OR "
                           "(attribute_not_exists(rate_interval_ms) AND credentials_valid_after_ms = :seen)")

    def _capability_item(self, tenant_id: str, agent_id: str, capability: str) -> Item:
        return {"PK": agent_pk(tenant_id, agent_id), "SK": CAPABILITY + capability,
                "GSI1PK": f"{tenant_prefix(tenant_id)}CAP#{capability}", "GSI1SK": agent_id, "agent_id": agent_id}

    def _index_keys(self, record: Item) -> Item:
        keys = {"GSI1PK": f"{tenant_prefix(record['tenant_id'])}AGENTS",
                "GSI1SK": _listing_sort_key(record["kind"], record["name"], record["agent_id"]),
                "GSI2PK": _status_pk(record["tenant_id"], record["status"]), "GSI2SK": record["agent_id"]}
        if record["status"] == "online" and record.get("heartbeat_due_ms"):
            keys.update(self._sweep_keys(record["tenant_id"], record["agent_id"], int(record["heartbeat_due_ms"])))
        return keys

    def _sweep_keys(self, tenant_id: str, agent_id: str, due_ms: int) -> Item:
        return {"GSI3PK": _sweep_pk(agent_id), "GSI3SK": f"{due_ms:013d}#{tenant_id}#{agent_id}"}

    # --- discovery ------------------------------------------------------------------------------------------

    def page(self, tenant_id: str, *, capability: str | None, kind: str | None, status: str | None, limit: int,
             start: t.Resume | None) -> tuple[list[Item], t.Resume | None]:
        """One page of agents, by the most selective facet given: a Query each, never a Scan. Further facets
        filter the page (so a page may hold fewer than ``limit``; the cursor still moves on)."""
        prefix = tenant_prefix(tenant_id)
        if capability:
            refs, resume = self._table.query(t.whole(f"{prefix}CAP#{capability}", "GSI1"), limit=limit, start=start)
            found = self._table.get_many([_record_key(tenant_id, ref["agent_id"]) for ref in refs])
            items = [found[k] for k in (_record_key(tenant_id, ref["agent_id"]) for ref in refs) if k in found]
        elif status:
            items, resume = self._table.query(t.whole(_status_pk(tenant_id, status), "GSI2"), limit=limit,
                                              start=start)
        elif kind:
            items, resume = self._table.query(t.starting_with(f"{prefix}AGENTS", f"{kind}#", "GSI1"), limit=limit,
                                              start=start)
        else:
            items, resume = self._table.query(t.whole(f"{prefix}AGENTS", "GSI1"), limit=limit, start=start)
        return [i for i in items if (not kind or i["kind"] == kind)], resume

    # --- heartbeats and the offline sweep -------------------------------------------------------------------

    def heartbeat(self, tenant_id: str, agent_id: str, *, at: str, due_ms: int) -> Item | None:
        """Record a heartbeat (the agent is online until ``due_ms``); the updated record, None when unknown."""
        keys = self._sweep_keys(tenant_id, agent_id, due_ms)
        return self._table.update(
            _record_key(tenant_id, agent_id),
            "SET last_heartbeat_at = :at, heartbeat_due_ms = :due, #status = :online, GSI2PK = :online_pk, "
            "GSI3PK = :sweep_pk, GSI3SK = :sweep_sk",
            names={"#status": "status"},
            values={":at": at, ":due": due_ms, ":online": "online", ":online_pk": _status_pk(tenant_id, "online"),
                    ":sweep_pk": keys["GSI3PK"], ":sweep_sk": keys["GSI3SK"]},
            condition="attribute_exists(PK)", return_new=True)

    def overdue(self, now_ms: int, *, limit: int = 500) -> list[Item]:
        """Online agents whose heartbeat is overdue, across tenants (GSI3, one Query a shard)."""
        found: list[Item] = []
        for shard in range(SWEEP_SHARDS):
            items, _ = self._table.query(t.KeyRange(f"ONLINE#{shard}", "GSI3", "<", f"{now_ms:013d}"), limit=limit)
            found += items
        return found

    def mark_offline(self, record: Item) -> bool:
        """Online → offline, unless a heartbeat came meanwhile; True for the one caller that made the transition."""
        updated = self._table.update(
            _record_key(record["tenant_id"], record["agent_id"]),
            "SET #status = :offline, GSI2PK = :offline_pk REMOVE GSI3PK, GSI3SK",
            names={"#status": "status"},
            values={":offline": "offline", ":offline_pk": _status_pk(record["tenant_id"], "offline"),
                    ":online": "online", ":due": record["heartbeat_due_ms"]},
            condition="#status = :online AND heartbeat_due_ms = :due")
        return updated is not None

    # --- admission (rate limit) -----------------------------------------------------------------------------

    def admit(self, tenant_id: str, agent_id: str, now_ms: int) -> tuple[Item, RateState]:
        """Charge one request to the agent's bucket: the agent as the gate copies it (``GATE_FIELDS``) and the
        bucket after it. 401 for an agent that no longer exists (its token outlived it), 429 with the headers when
        the bucket is empty.

        An agent within its rate finds its bucket idle (``tat`` behind now) at almost every request, so that
        update is tried first: one conditional UpdateItem of the gate; a second only while requests come faster
        than the rate.
        """
        key = _gate_key(tenant_id, agent_id)
        for _ in range(3):  # idle, else busy; a race between two requests (or a gate seeded) repeats the pair
            gate = self._table.update(
                key, "SET rate_tat_ms = :now + rate_interval_ms, rate_gate_ms = :now + rate_gate_offset_ms",
                values={":now": now_ms}, condition="attribute_exists(rate_interval_ms) AND rate_tat_ms < :now",
                return_new=True)
            if gate is not None:
                return gate_view(gate), state_after(gate, now_ms)
            try:
                gate = self._table.update(
                    key, "SET rate_tat_ms = rate_tat_ms + rate_interval_ms, "
                         "rate_gate_ms = rate_gate_ms + rate_interval_ms",
                    values={":now": now_ms},
                    condition="attribute_exists(rate_interval_ms) AND rate_tat_ms >= :now AND rate_gate_ms <= :now",
                    return_new=True, explain_failure=True)
            except t.ConditionFailed as failed:
                old = failed.current
                if old is None or "rate_interval_ms" not in old:
                    self._seed_gate(tenant_id, agent_id)  # 401 when the record is gone too
                    continue
                if int(old["rate_tat_ms"]) >= now_ms:
                    state = refusal(old, now_ms)
                    raise TooManyRequests(
                        f"Agent {agent_id} is over its limit of {state.limit} requests a minute.",
                        slug="rate-limited", headers=state.headers()) from failed
                continue  # idle again meanwhile (tat fell behind now): the first update applies
            assert gate is not None
            return gate_view(gate), state_after(gate, now_ms)
        raise TooManyRequests("The agent's requests raced too often; retry.", slug="rate-limited",
                              headers={"Retry-After": "1"})

    # --- client credentials (platform table) ----------------------------------------------------------------

    def client(self, client_id: str) -> Item | None:
        assert self._platform is not None
        return self._platform.get(_client_key(client_id))

    def replace_client_secret(self, tenant_id: str, agent_id: str, client: Item | None, valid_after: int) -> None:
        """Rotate (the client's item replaced by one for a new secret) or revoke (None, the item removed); access
        tokens issued before stop working at once, as the record's ``credentials_valid_after_ms`` moves to now."""
        assert self._platform is not None
        writes = [t.change(_record_key(tenant_id, agent_id), "SET credentials_valid_after_ms = :after, client_id = :id",
                           values={":after": valid_after, ":id": client["client_id"] if client else ""},
                           condition="attribute_exists(PK)"),
                  # Admission reads the cut-off from the gate (a missing one is seeded at the next admission).
                  t.change(_gate_key(tenant_id, agent_id), "SET credentials_valid_after_ms = :after",
                           values={":after": valid_after})]
        if client is not None:
            cpk, csk = _client_key(client["client_id"])
            writes.append(t.on(self._platform, t.overwrite({**client, "PK": cpk, "SK": csk})))
        else:
            writes.append(t.on(self._platform, t.removal(_client_key(agent_id))))
        try:
            self._table.transact(writes)
        except t.Cancelled as cancelled:
            from crewhouse.core.errors import NotFound

            raise NotFound(f"No agent {agent_id}.") from cancelled

    def store_access_token(self, item: Item) -> None:
        """An access token's lookup item (``TOKEN#<digest>``), read by the API's authorizer; TTL drops it."""
        assert self._platform is not None
        self._platform.put(item)
