"""Hosted agents, crews and crew runs in the crews table: the only module that knows their key shapes.

- ``T#<t>#HAGENTS / <agent id>``: an agent's head (its latest definition and version), so listing a tenant's
  agents is one Query;
- ``T#<t>#HAGENT#<agent id> / V#<n:06>``: version ``n``, immutable (written once, with the head, in one
  transaction); ``… / MEMORY``: the agent's recent runs when its memory is on;
- ``T#<t>#CREWS / <crew id>``: a crew (its definition and version);
- ``T#<t>#CREW#<crew id>#RUNS / <run id>``: a run (ULIDs, so newest first is a backward Query), with the crew's
  definition as it started, so editing the crew never changes a run under way.

Keys are added on write and taken off on read: the logic sees plain fields.
"""

from __future__ import annotations

from typing import Any

from crewhouse.core import table as t
from crewhouse.core.errors import NotFound, PreconditionFailed
from crewhouse.core.keys import tenant_prefix

Item = dict[str, Any]
KEYS = ("PK", "SK")
HEAD_FIELDS_HIDDEN = ("tenant_id",)


def _agents_pk(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}HAGENTS"


def _agent_pk(tenant_id: str, agent_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}HAGENT#{agent_id}"


def _version_sk(version: int) -> str:
    return f"V#{version:06d}"


def _crews_pk(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}CREWS"


def _runs_pk(tenant_id: str, crew_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}CREW#{crew_id}#RUNS"


def _plain(item: Item | None) -> Item | None:
    if item is None:
        return None
    return {k: v for k, v in item.items() if k not in KEYS}


class DynamoCrews:
    def __init__(self, table: t.Table) -> None:
        self._table = table

    # --- hosted agents --------------------------------------------------------------------------------------

    def create_agent(self, head: Item) -> None:
        """The head and version 1, together."""
        tenant_id, agent_id = head["tenant_id"], head["id"]
        version = {k: v for k, v in head.items() if k not in ("updated_at",)}
        self._table.transact([
            t.new({**head, "PK": _agents_pk(tenant_id), "SK": agent_id}),
            t.new({**version, "PK": _agent_pk(tenant_id, agent_id), "SK": _version_sk(int(head["version"]))}),
        ])

    def agent(self, tenant_id: str, agent_id: str) -> Item | None:
        return _plain(self._table.get((_agents_pk(tenant_id), agent_id)))

    def new_agent_version(self, head: Item, expected_version: int, version_item: Item) -> None:
        """The head at ``expected_version`` moves to the new version, written beside it (never over one)."""
        tenant_id, agent_id = head["tenant_id"], head["id"]
        try:
            self._table.transact([
                t.versioned({**head, "PK": _agents_pk(tenant_id), "SK": agent_id}, expected_version),
                t.new({**version_item, "PK": _agent_pk(tenant_id, agent_id),
                       "SK": _version_sk(int(version_item["version"]))}),
            ])
        except t.Cancelled as cancelled:
            raise PreconditionFailed("The agent changed meanwhile; fetch it again and retry.") from cancelled

    def agent_version(self, tenant_id: str, agent_id: str, version: int) -> Item | None:
        return _plain(self._table.get((_agent_pk(tenant_id, agent_id), _version_sk(version))))

    def agent_versions(self, tenant_id: str, agent_id: str, *, limit: int, start: t.Resume | None
                       ) -> t.Page:
        """Newest first."""
        items, resume = self._table.query(t.starting_with(_agent_pk(tenant_id, agent_id), "V#"), limit=limit,
                                          start=start, forward=False)
        return [p for p in (_plain(i) for i in items) if p], resume

    def agents_page(self, tenant_id: str, *, limit: int, start: t.Resume | None) -> t.Page:
        items, resume = self._table.query(t.whole(_agents_pk(tenant_id)), limit=limit, start=start)
        return [p for p in (_plain(i) for i in items) if p], resume

    def agents(self, tenant_id: str, agent_ids: list[str]) -> dict[str, Item]:
        """The heads of these agents that exist (one BatchGetItem)."""
        keys = [(_agents_pk(tenant_id), agent_id) for agent_id in dict.fromkeys(agent_ids)]
        found = self._table.get_many(keys) if keys else {}
        return {key[1]: p for key, item in found.items() if (p := _plain(item))}

    def delete_agent(self, tenant_id: str, agent_id: str, expected_version: int | None) -> None:
        """The head first (at ``expected_version``), then its versions and memory."""
        self._table.delete((_agents_pk(tenant_id), agent_id), expected_version=expected_version,
                           stale="The agent changed meanwhile; fetch it again and retry.")
        keys = [t.item_key(i) for i in self._table.query_all(t.whole(_agent_pk(tenant_id, agent_id)),
                                                              projection=KEYS)]
        self._table.delete_many(keys)

    def memory(self, tenant_id: str, agent_id: str) -> list[Item]:
        found = self._table.get((_agent_pk(tenant_id, agent_id), "MEMORY"))
        return list(found.get("turns") or []) if found else []

    def remember(self, tenant_id: str, agent_id: str, turns: list[Item]) -> None:
        self._table.put({"PK": _agent_pk(tenant_id, agent_id), "SK": "MEMORY", "turns": turns})

    # --- crews ----------------------------------------------------------------------------------------------

    def create_crew(self, crew: Item) -> None:
        self._table.put_new({**crew, "PK": _crews_pk(crew["tenant_id"]), "SK": crew["id"]})

    def crew(self, tenant_id: str, crew_id: str) -> Item | None:
        return _plain(self._table.get((_crews_pk(tenant_id), crew_id)))

    def replace_crew(self, crew: Item, expected_version: int) -> None:
        self._table.replace({**crew, "PK": _crews_pk(crew["tenant_id"]), "SK": crew["id"]}, expected_version,
                            stale="The crew changed meanwhile; fetch it again and retry.")

    def crews_page(self, tenant_id: str, *, limit: int, start: t.Resume | None) -> t.Page:
        items, resume = self._table.query(t.whole(_crews_pk(tenant_id)), limit=limit, start=start)
        return [p for p in (_plain(i) for i in items) if p], resume

    def delete_crew(self, tenant_id: str, crew_id: str, expected_version: int | None) -> None:
        self._table.delete((_crews_pk(tenant_id), crew_id), expected_version=expected_version,
                           stale="The crew changed meanwhile; fetch it again and retry.")

    # --- runs -----------------------------------------------------------------------------------------------

    def create_run(self, run: Item) -> None:
        self._table.put_new({**run, "version": 1, "PK": _runs_pk(run["tenant_id"], run["crew_id"]), "SK": run["id"]})

    def run(self, tenant_id: str, crew_id: str, run_id: str) -> Item | None:
        return _plain(self._table.get((_runs_pk(tenant_id, crew_id), run_id)))

    def runs_page(self, tenant_id: str, crew_id: str, *, limit: int, start: t.Resume | None
                  ) -> t.Page:
        items, resume = self._table.query(t.whole(_runs_pk(tenant_id, crew_id)), limit=limit, start=start,
                                          forward=False)
        return [p for p in (_plain(i) for i in items) if p], resume

    def update_run(self, tenant_id: str, crew_id: str, run_id: str, changes: Item, *,
                   expected_step: int | None = None, require_running: bool = True) -> bool:
        """Set ``changes`` on a run still running (when asked) at ``expected_step`` (when given); False when it moved
        on (another attempt wrote this step, or it ended). A versioned write: a concurrent change is read again."""
        key = (_runs_pk(tenant_id, crew_id), run_id)
        for _ in range(3):
            current = self._table.get(key)
            if current is None or (require_running and current["status"] != "running"):
                return False
            if expected_step is not None and int(current["next_step"]) != expected_step:
                return False
            version = int(current.get("version") or 1)
            try:
                self._table.replace({**current, **changes, "version": version + 1}, version)
            except PreconditionFailed:
                continue
            return True
        return False

    def require_run(self, tenant_id: str, crew_id: str, run_id: str) -> Item:
        found = self.run(tenant_id, crew_id, run_id)
        if found is None:
            raise NotFound(f"No run {run_id} of crew {crew_id}.")
        return found
