"""DynamoDB access for jobs: the only module that knows the table's key shapes (see keys.py).

Admission and release are transactions over the job, its ready-index entry and the tenant's and the
account's slot sets, so a slot is taken by one run of one job and given back exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from crewhouse.core.dynamo import Item, ItemCodec
from crewhouse.jobs import keys

INDEX_DEAD = "GSI1"


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
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table
        self._codec = ItemCodec()

    # --- jobs --------------------------------------------------------------------------------------------

    def create(self, job: Item, ready_sk: str | None) -> None:
        """The job, and (when it is queued) its ready-index entry, in one transaction."""
        writes: list[dict[str, Any]] = [{"Put": {"TableName": self._table, "Item": self._codec.dump(job),
                                                 "ConditionExpression": "attribute_not_exists(PK)"}}]
        if ready_sk:
            writes.append({"Put": {"TableName": self._table,
                                   "Item": self._codec.dump(self._ready_item(job, ready_sk))}})
        self._db.transact_write_items(TransactItems=writes)

    def get(self, tenant_id: str, user_id: str, job_id: str) -> Item | None:
        found = self._db.get_item(TableName=self._table, Key=self._job_key(tenant_id, user_id, job_id),
                                  ConsistentRead=True).get("Item")
        return self._codec.load(found) if found else None

    def list_jobs(self, tenant_id: str, user_id: str, *, limit: int, start: Mapping[str, Any] | None,
                  status: str | None, job_type: str | None) -> tuple[list[Item], dict[str, Any] | None]:
        names: dict[str, str] = {"#pk": "PK", "#sk": "SK"}
        values: dict[str, Any] = {":pk": keys.owner_pk(tenant_id, user_id), ":prefix": "JOB#"}
        filters = []
        if status:
            names["#status"], values[":status"] = "status", status
            filters.append("#status = :status")
        if job_type:
            names["#type"], values[":type"] = "type", job_type
            filters.append("#type = :type")
        request: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": self._codec.dump(values),
            "ScanIndexForward": False, "Limit": limit,
        }
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        if start:
            request["ExclusiveStartKey"] = self._codec.dump(start)
        response = self._db.query(**request)
        last = response.get("LastEvaluatedKey")
        return [self._codec.load(i) for i in response.get("Items", [])], self._codec.load(last) if last else None

    def transition(self, tenant_id: str, user_id: str, job_id: str, *, from_statuses: frozenset[str],
                   set_fields: Mapping[str, Any], remove_fields: tuple[str, ...] = (),
                   add_fields: Mapping[str, int] | None = None, run: int | None = None) -> Item | None:
        """Change a job only if its status is one of ``from_statuses`` (and, given ``run``, it is on that run);
        the new item, or None."""
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
        try:
            response = self._db.update_item(
                TableName=self._table, Key=self._job_key(tenant_id, user_id, job_id),
                UpdateExpression=expression.strip(), ExpressionAttributeNames=names,
                ExpressionAttributeValues=self._codec.dump(values),
                ConditionExpression=condition, ReturnValues="ALL_NEW",
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return None
        return self._codec.load(response["Attributes"])

    def write_progress(self, tenant_id: str, user_id: str, job_id: str, *, percent: int, message: str,
                       now: str, eta: str | None) -> ProgressWrite:
        values = {":p": percent, ":m": message, ":now": now, ":running": "running"}
        expression = "SET progress = :p, #message = :m, heartbeat_at = :now, updated_at = :now"
        if eta:
            values[":eta"] = eta
            expression += ", eta = :eta"
        try:
            self._db.update_item(
                TableName=self._table, Key=self._job_key(tenant_id, user_id, job_id),
                UpdateExpression=expression, ExpressionAttributeNames={"#status": "status", "#message": "message"},
                ExpressionAttributeValues=self._codec.dump(values),
                ConditionExpression="#status = :running AND progress <= :p",
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            current = self.get(tenant_id, user_id, job_id)
            if not current or current.get("status") != "running":
                return ProgressWrite.NOT_RUNNING
            return ProgressWrite.STALE
        return ProgressWrite.WRITTEN

    # --- the ready index and admission ---------------------------------------------------------------------

    @staticmethod
    def _ready_item(job: Mapping[str, Any], ready_sk: str) -> Item:
        return {"PK": keys.ready_pk(job["tenant_id"]), "SK": ready_sk, "job_id": job["id"],
                "user_id": job["user_id"], "run": int(job.get("run", 1)), "created_at": job["created_at"]}

    def put_ready(self, job: Mapping[str, Any], ready_sk: str) -> None:
        self._db.put_item(TableName=self._table, Item=self._codec.dump(self._ready_item(job, ready_sk)))

    def restore_ready(self, entry: Mapping[str, Any]) -> None:
        """Put a consumed ready entry back, as it was (its place in the line is its key)."""
        self._db.put_item(TableName=self._table, Item=self._codec.dump(dict(entry)))

    def delete_ready(self, tenant_id: str, ready_sk: str) -> None:
        self._db.delete_item(TableName=self._table, Key=self._codec.dump({"PK": keys.ready_pk(tenant_id),
                                                                           "SK": ready_sk}))

    def ready_head(self, tenant_id: str) -> Item | None:
        """The next waiting job: the lowest (rank, ULID)."""
        response = self._db.query(
            TableName=self._table, KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues=self._codec.dump({":pk": keys.ready_pk(tenant_id)}),
            Limit=1, ConsistentRead=True,
        )
        items = response.get("Items", [])
        return self._codec.load(items[0]) if items else None

    def try_admit(self, tenant_id: str, entry: Mapping[str, Any], *, run: int, tenant_limit: int,
                  global_limit: int, now: str) -> Admission:
        """Take a tenant slot and an account slot for this run, consume the ready entry and mark the job."""
        job_id, user_id = entry["job_id"], entry["user_id"]
        holder = keys.slot_holder(job_id, run)
        take = ("ADD holders :h SET updated_at = :now")
        room = "(attribute_not_exists(holders) OR size(holders) < :limit) AND NOT contains(holders, :hs)"
        writes = [
            {"Update": {"TableName": self._table, "Key": self._codec.dump({"PK": keys.tenant_slots_pk(tenant_id),
                                                                            "SK": keys.SLOTS_SK}),
                        "UpdateExpression": take, "ConditionExpression": room,
                        "ExpressionAttributeValues": self._codec.dump({":h": {holder}, ":hs": holder, ":now": now,
                                                                       ":limit": tenant_limit})}},
            {"Update": {"TableName": self._table, "Key": self._codec.dump({"PK": keys.GLOBAL_SLOTS_PK,
                                                                            "SK": keys.SLOTS_SK}),
                        "UpdateExpression": take, "ConditionExpression": room,
                        "ExpressionAttributeValues": self._codec.dump({":h": {holder}, ":hs": holder, ":now": now,
                                                                       ":limit": global_limit})}},
            {"Delete": {"TableName": self._table, "Key": self._codec.dump({"PK": entry["PK"], "SK": entry["SK"]}),
                        "ConditionExpression": "attribute_exists(PK)"}},
            {"Update": {"TableName": self._table, "Key": self._job_key(tenant_id, user_id, job_id),
                        "UpdateExpression": "SET slot_held = :true, admitted_at = :now, updated_at = :now "
                                            "ADD admissions :one",
                        "ConditionExpression": "#status = :queued AND (attribute_not_exists(slot_held) "
                                               "OR slot_held = :false)",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": self._codec.dump({":true": True, ":false": False, ":now": now,
                                                                       ":queued": "queued", ":one": 1})}},
        ]
        try:
            self._db.transact_write_items(TransactItems=writes)
        except self._db.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            failed = [i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"]
            if 2 in failed:
                return Admission.GONE
            if 3 in failed:
                return Admission.NOT_QUEUED
            if 0 in failed:
                return Admission.TENANT_FULL
            if 1 in failed:
                return Admission.GLOBAL_FULL
            raise
        return Admission.ADMITTED

    def release(self, tenant_id: str, user_id: str, job_id: str, *, run: int, now: str) -> bool:
        """Give the run's slots back; False when they were already given back (releases happen once)."""
        holder = keys.slot_holder(job_id, run)
        give = "DELETE holders :h SET updated_at = :now"
        values = self._codec.dump({":h": {holder}, ":hs": holder, ":now": now})
        writes = [
            {"Update": {"TableName": self._table, "Key": self._codec.dump({"PK": pk, "SK": keys.SLOTS_SK}),
                        "UpdateExpression": give, "ConditionExpression": "contains(holders, :hs)",
                        "ExpressionAttributeValues": values}}
            for pk in (keys.tenant_slots_pk(tenant_id), keys.GLOBAL_SLOTS_PK)
        ]
        writes.append({"Update": {
            "TableName": self._table, "Key": self._job_key(tenant_id, user_id, job_id),
            "UpdateExpression": "SET slot_held = :false, updated_at = :now ADD releases :one",
            "ConditionExpression": "slot_held = :true",
            "ExpressionAttributeValues": self._codec.dump({":true": True, ":false": False, ":now": now, ":one": 1}),
        }})
        try:
            self._db.transact_write_items(TransactItems=writes)
        except self._db.exceptions.TransactionCanceledException:
            return False
        return True

    def slot_holders(self, tenant_id: str | None) -> list[str]:
        pk = keys.tenant_slots_pk(tenant_id) if tenant_id else keys.GLOBAL_SLOTS_PK
        found = self._db.get_item(TableName=self._table, Key=self._codec.dump({"PK": pk, "SK": keys.SLOTS_SK}),
                                  ConsistentRead=True).get("Item")
        return list(self._codec.load(found).get("holders", [])) if found else []

    def note_waiting_tenant(self, tenant_id: str) -> None:
        """The account limit stopped this tenant: the next freed slot anywhere admits it too."""
        self._db.update_item(TableName=self._table,
                             Key=self._codec.dump({"PK": keys.GLOBAL_SLOTS_PK, "SK": keys.SLOTS_SK}),
                             UpdateExpression="ADD waiting :t", ExpressionAttributeValues=self._codec.dump(
                                 {":t": {tenant_id}}))

    def take_waiting_tenants(self, limit: int) -> list[str]:
        found = self._db.get_item(TableName=self._table,
                                  Key=self._codec.dump({"PK": keys.GLOBAL_SLOTS_PK, "SK": keys.SLOTS_SK}),
                                  ConsistentRead=True).get("Item")
        waiting = list(self._codec.load(found).get("waiting", []))[:limit] if found else []
        if waiting:
            self._db.update_item(TableName=self._table,
                                 Key=self._codec.dump({"PK": keys.GLOBAL_SLOTS_PK, "SK": keys.SLOTS_SK}),
                                 UpdateExpression="DELETE waiting :t",
                                 ExpressionAttributeValues=self._codec.dump({":t": set(waiting)}))
        return waiting

    # --- dead letters ------------------------------------------------------------------------------------------

    def dead_letters(self, tenant_id: str, *, limit: int, job_id: str | None = None) -> list[Item]:
        condition = "GSI1PK = :pk" + (" AND GSI1SK = :id" if job_id else "")
        values: dict[str, Any] = {":pk": keys.dead_letter_pk(tenant_id)}
        if job_id:
            values[":id"] = job_id
        response = self._db.query(TableName=self._table, IndexName=INDEX_DEAD, KeyConditionExpression=condition,
                                  ExpressionAttributeValues=self._codec.dump(values), Limit=limit)
        return [self._codec.load(i) for i in response.get("Items", [])]

    def _job_key(self, tenant_id: str, user_id: str, job_id: str) -> dict[str, Any]:
        return self._codec.dump({"PK": keys.owner_pk(tenant_id, user_id), "SK": keys.job_sk(job_id)})
