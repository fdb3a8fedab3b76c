"""The jobs table's key shapes (one table; every key starts with the tenant or names the global slots).

- a job: ``PK=T#t#U#u`` (the owner key every context shares), ``SK=JOB#<ulid>`` (a user's jobs, newest first by ULID);
  while dead-lettered also ``GSI1PK=T#t#DEAD``, ``GSI1SK=<job id>`` (a sparse index for admins);
- the ready index: ``PK=READY#t``, ``SK=<rank>#<ulid>``: waiting jobs, high before normal before low,
  FIFO within a level (ULIDs sort by time);
- slots: ``PK=SLOTS#t`` / ``PK=SLOTS#GLOBAL``, ``SK=SLOTS``: the set of job runs holding a slot.
"""

from __future__ import annotations

from crewhouse.core.keys import owner_pk as owner_pk  # one owner key for every context
from crewhouse.core.keys import tenant_prefix

PRIORITY_RANK = {"high": "0", "normal": "1", "low": "2"}
SLOTS_SK = "SLOTS"
GLOBAL_SLOTS_PK = "SLOTS#GLOBAL"


def job_sk(job_id: str) -> str:
    return f"JOB#{job_id}"


def ready_pk(tenant_id: str) -> str:
    return f"READY#{tenant_id}"


def ready_sk(priority: str, job_id: str) -> str:
    return f"{PRIORITY_RANK[priority]}#{job_id}"


def tenant_slots_pk(tenant_id: str) -> str:
    return f"SLOTS#{tenant_id}"


def dead_letter_pk(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}DEAD"


def slot_holder(job_id: str, run: int) -> str:
    """A slot is held by one run of a job: a redriven job takes a new slot under a new name."""
    return f"{job_id}#{run}"


def execution_name(job_id: str, run: int) -> str:
    """Step Functions names the execution after the job, so a duplicate delivery cannot start a second run."""
    return job_id if run == 1 else f"{job_id}-run{run}"
