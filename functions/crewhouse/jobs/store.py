"""DynamoDB access for jobs: the only module that knows the table's key shapes (see keys.py).

Admission and release are transactions over the job, its ready-index entry and the tenant's and the
account's slot sets, so a slot is taken by one run of one job and given back exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from crewhouse.core import table as t
from crewhouse.core.dynamo import Item
from crewhouse.jobs import keys

DEAD_LETTERS = "GSI1"


class Admission(Enum):
    ADMITTED = "admitted"
    TENANT_FULL = "tenant_full"
    GLOBAL_FULL = "global_full"
    GONE = "gone"  # another admitter took this entry first
    NOT_QUEUED = "not_queued"  # the job was cancelled while it waited


class ProgressWrite(Enum):
    WRITTEN = "written"
    STALE = "stale"  # an equal or higher percentage is already stored: progress never goes backwards
    NOT_RUNNING = "not_running"  # cancelled (or finished): the run should stop


class DynamoJobStore:
    def __init__(self, table: t.Table) -> None:
        self._table = table

    # --- jobs --------------------------------------------------------------------------------------------

    def create(self, job: Item, ready_sk: str | None) -> None:
        """The job, and (when it is queued) its ready-index entry, in one transaction."""
        writes = [t.new(job)]
        if ready_sk:
            writes.append(t.overwrite(self.ready_entry(job, ready_sk)))
        self._table.transact(writes)

    def get(self, tenant_id: str, user_id: str, job_id: str) -> Item | None:
        return self._table.get(self._job_key(tenant_id, user_id, job_id))

    def list_jobs(self, tenant_id: str, user_id: str, *, limit: int, start: Mapping[str, Any] | None,
                  status: str | None, job_type: str | None) -> tuple[list[Item], dict[str, Any] | None]:
        """A user's jobs, newest first (ULID ids), optionally of one status and type."""
        filters = {name: value for name, value in (("status", status), ("type", job_type)) if value}
        return self._table.query(t.starting_with(keys.owner_pk(tenant_id, user_id), "JOB#"), limit=limit,
                                 start=dict(start) if start else None, forward=False, filters=filters or None)

    def resume_after(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """Where a page of ``list_jobs`` that ends at ``job`` goes on."""
        return self._table.resume_after(job)

    def transition(self, tenant_id: str, user_id: str, job_id: str, *, from_statuses: frozenset[str],
                   set_fields: Mapping[str, Any], remove_fields: tuple[str, ...] = (),
                   add_fields: Mapping[str, int] | None = None, run: int | None = None) -> Item | None:
        """Change a job only if its status is one of ``from_statuses`` (and, given ``run``, it is on that run);
        the new item, or None."""
        expression, condition, names, values = _transition_update(from_statuses, set_fields, remove_fields,
                                                                  add_fields, run)
        return self._table.update(self._job_key(tenant_id, user_id, job_id), expression, values=values,
                                  names=names, condition=condition, return_new=True)

    def start_attempt(self, tenant_id: str, user_id: str, job_id: str, *, run: int, attempt: int,
                      execution_arn: str | None, message: str, now: str) -> Item | None:
        """The run's job, running its ``attempt``: the first attempt moves it from queued (holding its slot), a
        retried one finds it running; one conditional write either way, which also records the execution. The
        new item, or None when the job is neither (cancelled, finished, or on another run)."""
        values: dict[str, Any] = {":running": "running", ":queued": "queued", ":run": run, ":true": True,
                                  ":attempt": attempt, ":message": message, ":now": now}
        expression = ("SET #status = :running, attempts = :attempt, #message = :message, heartbeat_at = :now, "
                      "updated_at = :now, started_at = if_not_exists(started_at, :now)")
        if execution_arn:
            values[":arn"] = execution_arn
            expression += ", execution_arn = :arn"
        return self._table.update(self._job_key(tenant_id, user_id, job_id), expression, values=values,
                                  names={"#status": "status", "#message": "message", "#run": "run"},
                                  condition="#status IN (:queued, :running) AND #run = :run AND slot_held = :true",
                                  return_new=True)

    def finish_and_release(self, tenant_id: str, user_id: str, job_id: str, *, run: int,
                           set_fields: Mapping[str, Any], now: str) -> bool:
        """Move the run's running job to its outcome and give its slots back in one transaction (the two
        writes :meth:`transition` and :meth:`release` would make); False when the job is not running that run."""
        job_fields = {**set_fields, "slot_held": False}
        expression, condition, names, values = _transition_update(frozenset({"running"}), job_fields, (),
                                                                  {"releases": 1}, run)
        values[":true"] = True
        writes = [*self._give_slots_back(tenant_id, job_id, run, now),
                  t.change(self._job_key(tenant_id, user_id, job_id), expression, values=values, names=names,
                           condition=f"{condition} AND slot_held = :true")]
        try:
            self._table.transact(writes)
        except t.Cancelled as cancelled:
            if cancelled.failed(len(writes) - 1):
                return False
            raise
        return True

    def write_progress(self, tenant_id: str, user_id: str, job_id: str, *, percent: int, message: str,
                       now: str, eta: str | None) -> ProgressWrite:
        values = {":p": percent, ":m": message, ":now": now, ":running": "running"}
        expression = "SET progress = :p, #message = :m, heartbeat_at = :now, updated_at = :now"
        if eta:
            values[":eta"] = eta
            expression += ", eta = :eta"
        written = self._table.update(self._job_key(tenant_id, user_id, job_id), expression, values=values,
                                     names={"#status": "status", "#message": "message"},
                                     condition="#status = :running AND progress <= :p")
        if written is not None:
            return ProgressWrite.WRITTEN
        current = self.get(tenant_id, user_id, job_id)
        if not current or current.get("status") != "running":
            return ProgressWrite.NOT_RUNNING
        return ProgressWrite.STALE

    # --- the ready index and admission ---------------------------------------------------------------------

    @staticmethod
    def ready_entry(job: Mapping[str, Any], ready_sk: str) -> Item:
        """The job's entry in its tenant's line (its place is its key)."""
        return {"PK": keys.ready_pk(job["tenant_id"]), "SK": ready_sk, "job_id": job["id"],
                "user_id": job["user_id"], "run": int(job.get("run", 1)), "created_at": job["created_at"]}

    def put_ready(self, job: Mapping[str, Any], ready_sk: str) -> None:
        self._table.put(self.ready_entry(job, ready_sk))

    def restore_ready(self, entry: Mapping[str, Any]) -> None:
        """Put a consumed ready entry back, as it was (its place in the line is its key)."""
        self._table.put(dict(entry))

    def delete_ready(self, tenant_id: str, ready_sk: str) -> None:
        self._table.delete_if_present((keys.ready_pk(tenant_id), ready_sk))

    def ready_line(self, tenant_id: str, limit: int) -> list[Item]:
        """The next ``limit`` waiting jobs, in order: the lowest (rank, ULID) first."""
        items, _ = self._table.query(t.whole(keys.ready_pk(tenant_id)), limit=limit, consistent=True)
        return items

    @staticmethod
    def _take_slots(tenant_id: str, holder: str, *, tenant_limit: int, global_limit: int,
                    now: str) -> list[t.Write]:
        """A tenant slot and an account slot for ``holder`` (transaction writes 0 and 1)."""
        take = "ADD holders :h SET updated_at = :now"
        room = "(attribute_not_exists(holders) OR size(holders) < :limit) AND NOT contains(holders, :hs)"
        return [
            t.change((slots_pk, keys.SLOTS_SK), take, condition=room,
                     values={":h": {holder}, ":hs": holder, ":now": now, ":limit": limit})
            for slots_pk, limit in ((keys.tenant_slots_pk(tenant_id), tenant_limit),
                                    (keys.GLOBAL_SLOTS_PK, global_limit))
        ]

    def create_admitted(self, job: Item, *, tenant_limit: int, global_limit: int, now: str) -> Admission:
        """A new job that takes its slots as it is made (its tenant's line was empty): one transaction instead of
        creating it in the line and admitting it from there. ``ADMITTED``, or which limit is full (nothing
        written then)."""
        admitted = {**job, "slot_held": True, "admitted_at": now, "admissions": 1}
        writes = self._take_slots(job["tenant_id"], keys.slot_holder(job["id"], int(job.get("run", 1))),
                                  tenant_limit=tenant_limit, global_limit=global_limit, now=now)
        try:
            self._table.transact([*writes, t.new(admitted)])
        except t.Cancelled as cancelled:
            for position, outcome in ((0, Admission.TENANT_FULL), (1, Admission.GLOBAL_FULL)):
                if cancelled.failed(position):
                    return outcome
            raise
        return Admission.ADMITTED

    def try_admit(self, tenant_id: str, entry: Mapping[str, Any], *, run: int, tenant_limit: int,
                  global_limit: int, now: str) -> Admission:
        """Take a tenant slot and an account slot for this run, consume the ready entry and mark the job."""
        job_id, user_id = entry["job_id"], entry["user_id"]
        writes = self._take_slots(tenant_id, keys.slot_holder(job_id, run), tenant_limit=tenant_limit,
                                  global_limit=global_limit, now=now)
        writes.append(t.removal(t.item_key(entry), must_exist=True))
        writes.append(t.change(
            self._job_key(tenant_id, user_id, job_id),
            "SET slot_held = :true, admitted_at = :now, updated_at = :now ADD admissions :one",
            condition="#status = :queued AND (attribute_not_exists(slot_held) OR slot_held = :false)",
            names={"#status": "status"},
            values={":true": True, ":false": False, ":now": now, ":queued": "queued", ":one": 1}))
        try:
            self._table.transact(writes)
        except t.Cancelled as cancelled:
            for position, outcome in ((2, Admission.GONE), (3, Admission.NOT_QUEUED), (0, Admission.TENANT_FULL),
                                      (1, Admission.GLOBAL_FULL)):
                if cancelled.failed(position):
                    return outcome
            raise
        return Admission.ADMITTED

    def release(self, tenant_id: str, user_id: str, job_id: str, *, run: int, now: str) -> bool:
        """Give the run's slots back; False when they were already given back (releases happen once)."""
        writes = self._give_slots_back(tenant_id, job_id, run, now)
        writes.append(t.change(self._job_key(tenant_id, user_id, job_id),
                               "SET slot_held = :false, updated_at = :now ADD releases :one",
                               condition="slot_held = :true",
                               values={":true": True, ":false": False, ":now": now, ":one": 1}))
        try:
            self._table.transact(writes)
        except t.Cancelled:
            return False
        return True

    @staticmethod
    def _give_slots_back(tenant_id: str, job_id: str, run: int, now: str) -> list[t.Write]:
        holder = keys.slot_holder(job_id, run)
        return [t.change((slots_pk, keys.SLOTS_SK), "DELETE holders :h SET updated_at = :now",
                         condition="contains(holders, :hs)", values={":h": {holder}, ":hs": holder, ":now": now})
                for slots_pk in (keys.tenant_slots_pk(tenant_id), keys.GLOBAL_SLOTS_PK)]

    def slot_holders(self, tenant_id: str | None) -> list[str]:
        pk = keys.tenant_slots_pk(tenant_id) if tenant_id else keys.GLOBAL_SLOTS_PK
        found = self._table.get((pk, keys.SLOTS_SK))
        return list(found.get("holders", [])) if found else []

    def note_waiting_tenant(self, tenant_id: str) -> None:
        """The account limit stopped this tenant: the next freed slot anywhere admits it too."""
        self._table.update((keys.GLOBAL_SLOTS_PK, keys.SLOTS_SK), "ADD waiting :t", values={":t": {tenant_id}})

    def take_waiting_tenants(self, limit: int) -> list[str]:
        found = self._table.get((keys.GLOBAL_SLOTS_PK, keys.SLOTS_SK))
        waiting = list(found.get("waiting", []))[:limit] if found else []
        if waiting:
            self._table.update((keys.GLOBAL_SLOTS_PK, keys.SLOTS_SK), "DELETE waiting :t",
                               values={":t": set(waiting)})
        return waiting

    # --- dead letters ------------------------------------------------------------------------------------------

    def dead_letters(self, tenant_id: str, *, limit: int, job_id: str | None = None) -> list[Item]:
        pk = keys.dead_letter_pk(tenant_id)
        where = t.KeyRange(pk, DEAD_LETTERS, "=", job_id) if job_id else t.whole(pk, DEAD_LETTERS)
        return self._table.query(where, limit=limit)[0]

    @staticmethod
    def _job_key(tenant_id: str, user_id: str, job_id: str) -> t.ItemKey:
        return keys.owner_pk(tenant_id, user_id), keys.job_sk(job_id)


def _transition_update(from_statuses: frozenset[str], set_fields: Mapping[str, Any], remove_fields: tuple[str, ...],
                       add_fields: Mapping[str, int] | None,
                       run: int | None) -> tuple[str, str, dict[str, str], dict[str, Any]]:
    """A status transition as an update: (expression, condition, names, values); a None field is removed."""
    names: dict[str, str] = {"#status": "status"}
    values: dict[str, Any] = {}
    sets, adds = [], []
    for i, (name, value) in enumerate(set_fields.items()):
        if value is None:
            remove_fields = (*remove_fields, name)
            continue
        names[f"#s{i}"], values[f":s{i}"] = name, value
        sets.append(f"#s{i} = :s{i}")
    for i, (name, amount) in enumerate((add_fields or {}).items()):
        names[f"#a{i}"], values[f":a{i}"] = name, amount
        adds.append(f"#a{i} :a{i}")
    removes = []
    for i, name in enumerate(dict.fromkeys(remove_fields)):
        names[f"#r{i}"] = name
        removes.append(f"#r{i}")
    allowed = []
    for i, status in enumerate(sorted(from_statuses)):
        values[f":from{i}"] = status
        allowed.append(f":from{i}")
    condition = f"#status IN ({', '.join(allowed)})"
    if run is not None:
        names["#run"], values[":run"] = "run", run
        condition += " AND #run = :run"
    expression = "SET " + ", ".join(sets) if sets else ""
    if adds:
        expression += " ADD " + ", ".join(adds)
    if removes:
        expression += " REMOVE " + ", ".join(removes)
    return expression.strip(), condition, names, values
