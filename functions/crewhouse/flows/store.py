"""The flows table: the only module that knows its key shapes.

- a flow: ``T#<tenant>#FLOWS`` / ``FLOW#<flow>`` (a tenant's flows are one Query);
- a saved version: ``T#<tenant>#FLOW#<flow>`` / ``V#<number, 6 digits>`` (immutable: written once with ``put_new``);
- a run: ``T#<tenant>#RUN#<run>`` / ``RUN``, with ``GSI1PK = T#<tenant>#FLOW#<flow>#RUNS`` and ``GSI1SK = <run>``
  (run ids grow with time, so a flow's runs newest first are one backwards Query of GSI1);
- a run's approvals ``APPROVAL#<node>`` and the node runner's events ``EVENT#<at>#<sequence>`` under the run's
  partition (one Query each).

Graphs and compiled definitions are kept as JSON text: an ASL document nests deeper than DynamoDB's 32 levels.
Reads take the key attributes off, so ``logic`` sees plain fields.
"""

from __future__ import annotations

import json
from typing import Any

from crewhouse.core.table import (
    Resume,
    Table,
    between,
    new,
    starting_with,
    versioned,
    whole,
)

KEY_ATTRIBUTES = ("PK", "SK", "GSI1PK", "GSI1SK")
JSON_FIELDS = ("graph", "definition")
Item = dict[str, Any]


def _flows_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#FLOWS"


def _flow_pk(tenant_id: str, flow_id: str) -> str:
    return f"T#{tenant_id}#FLOW#{flow_id}"


def _run_pk(tenant_id: str, run_id: str) -> str:
    return f"T#{tenant_id}#RUN#{run_id}"


def _version_sk(number: int) -> str:
    return f"V#{number:06d}"


def _plain(item: Item | None) -> Item | None:
    if item is None:
        return None
    plain = {k: v for k, v in item.items() if k not in KEY_ATTRIBUTES}
    for name in JSON_FIELDS:
        if isinstance(plain.get(name), str):
            plain[name] = json.loads(plain[name])
    return plain


def _stored(item: Item) -> Item:
    stored = dict(item)
    for name in JSON_FIELDS:
        if name in stored and not isinstance(stored[name], str):
            stored[name] = json.dumps(stored[name], separators=(",", ":"), sort_keys=True)
    return stored


class FlowStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    # --- flows and versions -------------------------------------------------------------------------------------

    def flow(self, tenant_id: str, flow_id: str) -> Item | None:
        return _plain(self.table.get((_flows_pk(tenant_id), f"FLOW#{flow_id}")))

    def flows(self, tenant_id: str, *, limit: int, start: Resume | None) -> tuple[list[Item], Resume | None]:
        items, resume = self.table.query(starting_with(_flows_pk(tenant_id), "FLOW#"), limit=limit, start=start)
        return [p for p in map(_plain, items) if p is not None], resume

    def _flow_item(self, flow: Item) -> Item:
        return _stored({"PK": _flows_pk(flow["tenant_id"]), "SK": f"FLOW#{flow['id']}", **flow})

    def _version_item(self, version: Item) -> Item:
        return _stored({"PK": _flow_pk(version["tenant_id"], version["flow_id"]),
                        "SK": _version_sk(version["number"]), **version})

    def create_flow(self, flow: Item, version: Item) -> None:
        """The flow and its first version, both or neither."""
        self.table.transact([new(self._flow_item(flow)), new(self._version_item(version))])

    def save_flow(self, flow: Item, expected_version: int, version: Item | None = None) -> None:
        """The flow at ``expected_version`` replaced, with its next version written (immutable) in the same
        transaction; ``Cancelled`` when the flow changed meanwhile or the version exists."""
        writes = [versioned(self._flow_item(flow), expected_version)]
        if version is not None:
            writes.append(new(self._version_item(version)))
        self.table.transact(writes)

    def delete_flow(self, tenant_id: str, flow_id: str, expected_version: int) -> None:
        """The flow and every saved version (runs stay: their history outlives the flow)."""
        versions = self.table.query_all(starting_with(_flow_pk(tenant_id, flow_id), "V#"), projection=("PK", "SK"))
        self.table.delete((_flows_pk(tenant_id), f"FLOW#{flow_id}"), expected_version=expected_version)
        self.table.delete_many((v["PK"], v["SK"]) for v in versions)

    def version(self, tenant_id: str, flow_id: str, number: int) -> Item | None:
        return _plain(self.table.get((_flow_pk(tenant_id, flow_id), _version_sk(number))))

    def versions(self, tenant_id: str, flow_id: str, *, limit: int,
                 start: Resume | None) -> tuple[list[Item], Resume | None]:
        """Newest first, without the compiled definitions."""
        items, resume = self.table.query(
            starting_with(_flow_pk(tenant_id, flow_id), "V#"), limit=limit, start=start, forward=False,
            projection=("PK", "SK", "flow_id", "tenant_id", "number", "graph", "state_machine_version_arn",
                        "created_by", "created_at"))
        return [p for p in map(_plain, items) if p is not None], resume

    # --- runs -----------------------------------------------------------------------------------------------------

    def add_run(self, run: Item) -> None:
        self.table.put_new({"PK": _run_pk(run["tenant_id"], run["id"]), "SK": "RUN",
                            "GSI1PK": f"{_flow_pk(run['tenant_id'], run['flow_id'])}#RUNS", "GSI1SK": run["id"],
                            **run})

    def run(self, tenant_id: str, run_id: str) -> Item | None:
        return _plain(self.table.get((_run_pk(tenant_id, run_id), "RUN")))

    def runs_of(self, tenant_id: str, flow_id: str, *, limit: int,
                start: Resume | None) -> tuple[list[Item], Resume | None]:
        items, resume = self.table.query(whole(f"{_flow_pk(tenant_id, flow_id)}#RUNS", index="GSI1"),
                                         limit=limit, start=start, forward=False)
        return [p for p in map(_plain, items) if p is not None], resume

    def finish_run(self, tenant_id: str, run_id: str, fields: Item) -> Item | None:
        """Record the run's end once: None when it had already ended (or does not exist)."""
        names = {f"#{name}": name for name in fields}
        expression = "SET " + ", ".join(f"#{name} = :{name}" for name in fields)
        values = {f":{name}": value for name, value in fields.items()}
        return _plain(self.table.update(
            (_run_pk(tenant_id, run_id), "RUN"), expression, names={**names, "#s": "status"},
            values={**values, ":running": "running"}, condition="#s = :running", return_new=True))

    def restart_run(self, tenant_id: str, run_id: str, fields: Item, *, previous_count: int) -> Item | None:
        """A redriven run running again, its previous end removed: None when it is not ended, or another redrive
        (``redrive_count`` no longer ``previous_count``) came first."""
        names = {f"#{name}": name for name in fields}
        values = {f":{name}": value for name, value in fields.items()}
        ended = ("stopped_at", "output", "failed_node", "error", "cause", "cancelled_by")
        expression = ("SET " + ", ".join(f"#{name} = :{name}" for name in fields) +
                      " REMOVE " + ", ".join(f"#{name}" for name in ended))
        return _plain(self.table.update(
            (_run_pk(tenant_id, run_id), "RUN"), expression,
            names={**names, **{f"#{name}": name for name in ended}, "#s": "status", "#count": "redrive_count"},
            values={**values, ":running": "running", ":previous": previous_count},
            condition="#s <> :running AND (attribute_not_exists(#count) OR #count = :previous)", return_new=True))

    def remove_run(self, tenant_id: str, run_id: str) -> None:
        """A run whose execution never started (nothing half-written is left)."""
        self.table.delete_if_present((_run_pk(tenant_id, run_id), "RUN"))

    # --- approvals and events ---------------------------------------------------------------------------------------

    def add_approval(self, tenant_id: str, run_id: str, approval: Item) -> None:
        self.table.put_new({"PK": _run_pk(tenant_id, run_id), "SK": f"APPROVAL#{approval['node_id']}", **approval},
                           exists="This node already asked for an approval in this run.")

    def approvals(self, tenant_id: str, run_id: str) -> list[Item]:
        items = self.table.query_all(starting_with(_run_pk(tenant_id, run_id), "APPROVAL#"), consistent=True)
        return [p for p in map(_plain, items) if p is not None]

    def approval(self, tenant_id: str, run_id: str, node_id: str) -> Item | None:
        return _plain(self.table.get((_run_pk(tenant_id, run_id), f"APPROVAL#{node_id}")))

    def decide(self, tenant_id: str, run_id: str, node_id: str, fields: Item) -> Item | None:
        """Record a decision on a pending approval; None when it was already decided."""
        names = {f"#{name}": name for name in fields}
        expression = "SET " + ", ".join(f"#{name} = :{name}" for name in fields)
        values = {f":{name}": value for name, value in fields.items()}
        return _plain(self.table.update(
            (_run_pk(tenant_id, run_id), f"APPROVAL#{node_id}"), expression,
            names={**names, "#s": "status"}, values={**values, ":pending": "pending"},
            condition="#s = :pending", return_new=True))

    def reopen(self, tenant_id: str, run_id: str, node_id: str) -> None:
        """A decision whose callback Step Functions refused is taken back."""
        self.table.update((_run_pk(tenant_id, run_id), f"APPROVAL#{node_id}"),
                          "SET #s = :pending REMOVE decided_by, decided_at, #c",
                          names={"#s": "status", "#c": "comment"}, values={":pending": "pending"})

    def add_event(self, tenant_id: str, run_id: str, event: Item) -> None:
        self.table.put({"PK": _run_pk(tenant_id, run_id), "SK": f"EVENT#{event['at']}#{event['sequence']}",
                        **event})

    def events_after(self, tenant_id: str, run_id: str, after: str | None, *, limit: int = 500) -> list[Item]:
        """The runner's events after the one whose key is ``after`` (``EVENT#…``), in order."""
        pk = _run_pk(tenant_id, run_id)
        where = starting_with(pk, "EVENT#")
        if after:
            where = between(pk, after + "\x00", "EVENT#\uffff")
        items, _ = self.table.query(where, limit=limit, consistent=True)
        return [{**p, "key": item["SK"]} for item in items if (p := _plain(item)) is not None]
