"""Agent-job rules: submission, admission control, the run's lifecycle, cancellation, dead letters and
redrive. No boto3 here: the service talks to ports (the DynamoDB store, the queue, Step Functions, the
scheduler and the notebooks check), so the rules run against fakes in unit tests and moto elsewhere.

Status moves only along conditional writes, so every job ends in exactly one terminal state:

    scheduled -> queued -> running -> succeeded | failed      (any non-terminal -> cancelled)
    failed (dead-lettered or not) -> queued                   (redrive, by an admin; a new run)

Admission: a queued job waits in the tenant's ready index (high, normal, low; FIFO within a level). It
goes to SQS only once it holds a tenant slot and an account slot (one transaction), and every terminal
path gives the run's slots back exactly once (a conditional transaction), then admits the next job. A job
submitted while nobody waits takes its slots as it is made (the same transaction, without the line).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ulid import ULID

from crewhouse.core.business_metrics import BusinessMetric, record
from crewhouse.core.errors import Conflict, NotFound
from crewhouse.core.identity import Identity, require_admin
from crewhouse.jobs import keys
from crewhouse.jobs.models import CANCELLABLE, PARTIAL_CHARS, TERMINAL, Job, JobEvent, JobSubmit, JobTimeline
from crewhouse.jobs.store import Admission, DynamoJobStore, ProgressWrite

Item = dict[str, Any]
MAX_ADMISSIONS_PER_CALL = 10
READY_PAGE = 5  # waiting jobs read per Query of a tenant's line (one read unit covers them)
WAITING_TENANTS_PER_RELEASE = 5
MESSAGE_CHARS = 200
STORING_PERCENT = 99  # the agent step is done; the store step is under way


class JobCancelled(Exception):
    """The job is no longer running (cancelled, or already finished): the run stops where it is."""


class JobQueue(Protocol):
    def send(self, message: Mapping[str, Any]) -> None: ...


class Executions(Protocol):
    def start(self, name: str, payload: Mapping[str, Any]) -> str: ...

    def stop(self, execution_arn: str, cause: str) -> None: ...

    def history(self, execution_arn: str) -> list[dict[str, Any]]: ...


class JobSchedules(Protocol):
    def create(self, name: str, at: datetime, payload: Mapping[str, Any]) -> None: ...

    def delete(self, name: str) -> None: ...


class Notebooks(Protocol):
    def exists(self, identity: Identity, notebook_id: str) -> bool: ...


@dataclass(frozen=True)
class JobRef:
    """What the queue message, the state machine input and the schedule carry."""

    tenant_id: str
    user_id: str
    job_id: str
    run: int = 1

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> JobRef:
        return cls(str(data["tenant_id"]), str(data["user_id"]), str(data["job_id"]), int(data.get("run", 1)))

    def as_dict(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "user_id": self.user_id, "job_id": self.job_id, "run": self.run}


@dataclass(frozen=True)
class Limits:
    tenant: int
    account: int


def console_url(execution_arn: str) -> str:
    region = execution_arn.split(":")[3]
    return (f"https://{region}.console.aws.amazon.com/states/home?region={region}"
            f"#/v2/executions/details/{execution_arn}")


def to_job(item: Mapping[str, Any]) -> Job:
    arn = item.get("execution_arn")
    return Job.model_validate({
        **{k: v for k, v in item.items() if k in Job.model_fields},
        "progress": int(item.get("progress", 0)), "attempts": int(item.get("attempts", 0)),
        "console_url": console_url(arn) if arn else None,
    })


def schedule_name(job_id: str) -> str:
    return f"job-{job_id}"


class JobService:
    def __init__(self, store: DynamoJobStore, *, queue: JobQueue | None = None, executions: Executions | None = None,
                 schedules: JobSchedules | None = None, notebooks: Notebooks | None = None,
                 limits: Limits = Limits(3, 100), clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 new_id: Callable[[], str] = lambda: str(ULID())) -> None:
        self.store = store
        self.queue = queue
        self.executions = executions
        self.schedules = schedules
        self.notebooks = notebooks
        self.limits = limits
        self.clock = clock
        self.new_id = new_id

    def _now(self) -> str:
        return self.clock().isoformat()

    # --- the API ----------------------------------------------------------------------------------------------

    def submit(self, identity: Identity, body: JobSubmit) -> Job:
        from crewhouse.jobs.registry import validate_params  # the type plugins load only when a job is made

        params = validate_params(body.type, body.params)
        if body.result.notebook_id and not (self.notebooks and self.notebooks.exists(identity,
                                                                                      body.result.notebook_id)):
            raise NotFound("The result notebook does not exist.", slug="notebook-not-found")
        now = self.clock()
        job_id = self.new_id()
        scheduled = body.run_at is not None and body.run_at > now + timedelta(seconds=1)  # past run_at = now
        item: Item = {
            "PK": keys.owner_pk(identity.tenant_id, identity.user_id), "SK": keys.job_sk(job_id), "id": job_id,
            "tenant_id": identity.tenant_id, "user_id": identity.user_id, "type": body.type,
            "params": params.model_dump(mode="json", exclude_none=True), "priority": body.priority,
            "status": "scheduled" if scheduled else "queued", "progress": 0,
            "message": "Scheduled" if scheduled else "Waiting for a slot", "attempts": 0, "run": 1,
            "result_spec": body.result.model_dump(mode="json"), "slot_held": False,
            "run_at": body.run_at.astimezone(UTC).isoformat() if scheduled and body.run_at else None,
            "created_at": now.isoformat(), "updated_at": now.isoformat(),
        }
        if scheduled:
            if self.schedules is None:
                raise RuntimeError("scheduled jobs need the scheduler port")
            self.store.create(item, None)
            assert body.run_at is not None
            self.schedules.create(schedule_name(job_id), body.run_at.astimezone(UTC),
                                  JobRef(identity.tenant_id, identity.user_id, job_id).as_dict())
            record(BusinessMetric.JOBS_SUBMITTED, identity.tenant_id)
            return to_job(item)
        line = self.store.ready_line(identity.tenant_id, READY_PAGE)
        if not line:  # nobody waits: the job takes its slots as it is made
            admitted = self._create_admitted(item)
            if admitted is not None:
                record(BusinessMetric.JOBS_SUBMITTED, identity.tenant_id)
                return to_job(admitted)
        ready_sk = keys.ready_sk(body.priority, job_id)
        self.store.create(item, ready_sk)
        # The line as read, with this job in its place: admission needs no second read of it.
        ahead = sorted([*line, self.store.ready_entry(item, ready_sk)], key=lambda entry: str(entry["SK"]))
        self.admit(identity.tenant_id, ahead, whole=len(line) < READY_PAGE)
        record(BusinessMetric.JOBS_SUBMITTED, identity.tenant_id)
        return to_job(item)

    def _create_admitted(self, item: Item) -> Item | None:
        """Make the job holding its slots and send it to the queue; None (nothing written) when a limit is full."""
        outcome = self.store.create_admitted(item, tenant_limit=self.limits.tenant, global_limit=self.limits.account,
                                             now=item["created_at"])
        if outcome is not Admission.ADMITTED:
            return None
        ref = JobRef(item["tenant_id"], item["user_id"], item["id"], int(item["run"]))
        try:
            self._enqueue(ref)
        except Exception:
            # Not sent: give the slot back and put the job in its line, as a failed admission does.
            self.release(ref, admit_next=False)
            self.store.put_ready(item, keys.ready_sk(item["priority"], ref.job_id))
            raise
        return {**item, "slot_held": True}

    def _load(self, identity: Identity, job_id: str) -> Item:
        item = self.store.get(identity.tenant_id, identity.user_id, job_id)
        if item is None:
            raise NotFound("No such job.", slug="job-not-found")
        return item

    def get(self, identity: Identity, job_id: str) -> Job:
        return to_job(self._load(identity, job_id))

    def list_jobs(self, identity: Identity, *, limit: int, start: Mapping[str, Any] | None, status: str | None,
                  job_type: str | None) -> tuple[list[Job], dict[str, Any] | None]:
        """One page; a filtered page keeps reading until it is full or the jobs run out (bounded)."""
        found: list[Item] = []
        last: Mapping[str, Any] | None = start
        for _ in range(5):
            items, last = self.store.list_jobs(identity.tenant_id, identity.user_id, limit=limit - len(found),
                                               start=last, status=status, job_type=job_type)
            found.extend(items)
            if len(found) >= limit or last is None:
                break
        if found and len(found) >= limit:
            last = self.store.resume_after(found[-1])
        return [to_job(i) for i in found], dict(last) if last else None

    def cancel(self, identity: Identity, job_id: str) -> Job:
        item = self._load(identity, job_id)
        if item["status"] in TERMINAL:
            raise Conflict(f"The job has already {item['status']}.", slug="job-finished")
        new = self.store.transition(identity.tenant_id, identity.user_id, job_id, from_statuses=CANCELLABLE,
                                    set_fields={"status": "cancelled", "message": "Cancelled",
                                                "finished_at": self._now(), "updated_at": self._now()})
        if new is None:  # it finished meanwhile
            raise Conflict(f"The job has already {self._load(identity, job_id)['status']}.", slug="job-finished")
        self._clean_up_cancelled(new)
        return to_job(new)

    def _clean_up_cancelled(self, item: Mapping[str, Any]) -> None:
        ref = JobRef(item["tenant_id"], item["user_id"], item["id"], int(item.get("run", 1)))
        if item.get("run_at") and self.schedules:
            with contextlib.suppress(Exception):  # already fired or deleted
                self.schedules.delete(schedule_name(ref.job_id))
        self.store.delete_ready(ref.tenant_id, keys.ready_sk(item["priority"], ref.job_id))
        if item.get("execution_arn") and self.executions:
            with contextlib.suppress(Exception):  # the execution may have ended on its own
                self.executions.stop(item["execution_arn"], "Cancelled by the user")
        if item.get("slot_held"):
            self.release(ref)

    def timeline(self, identity: Identity, job_id: str) -> JobTimeline:
        item = self._load(identity, job_id)
        arn = item.get("execution_arn")
        events = [JobEvent(at=datetime.fromisoformat(item["created_at"]), type="submitted",
                           detail=f"{item['type']} job, {item['priority']} priority")]
        if arn and self.executions:
            events.extend(readable_history(self.executions.history(arn)))
        return JobTimeline(job_id=job_id, execution_arn=arn, events=events)

    def dead_letters(self, identity: Identity, limit: int) -> list[Job]:
        _require_admin(identity)
        return [to_job(i) for i in self.store.dead_letters(identity.tenant_id, limit=limit)]

    def redrive(self, identity: Identity, job_id: str) -> Job:
        """An admin sends a failed job round again, as a new run (a new execution name and a new slot)."""
        _require_admin(identity)
        dead = self.store.dead_letters(identity.tenant_id, limit=1, job_id=job_id)
        owner = dead[0]["user_id"] if dead else identity.user_id
        item = self.store.get(identity.tenant_id, owner, job_id)
        if item is None:
            raise NotFound("No such job.", slug="job-not-found")
        new = self.store.transition(
            identity.tenant_id, owner, job_id, from_statuses=frozenset({"failed"}),
            set_fields={"status": "queued", "run": int(item.get("run", 1)) + 1, "message": "Redriven",
                        "dead_lettered": False, "updated_at": self._now(), "error": None, "finished_at": None,
                        "execution_arn": None, "GSI1PK": None, "GSI1SK": None},
        )
        if new is None:
            raise Conflict(f"Only a failed job can be redriven; this one is {item['status']}.", slug="job-not-failed")
        self.store.put_ready(new, keys.ready_sk(new["priority"], job_id))
        self.admit(identity.tenant_id)
        return to_job(new)

    # --- admission --------------------------------------------------------------------------------------------

    def admit(self, tenant_id: str, line: list[Item] | None = None, *, whole: bool = False) -> int:
        """Move waiting jobs to the queue while the tenant and the account have free slots.

        ``line``: the head of the tenant's line as the caller has it (``whole``: nobody else waited), which spares
        reading it. A job that joins the line later is admitted by whoever added it (each does so next)."""
        admitted = 0
        line = list(line or [])
        while admitted < MAX_ADMISSIONS_PER_CALL:
            if not line:
                if whole:
                    return admitted
                line = self.store.ready_line(tenant_id, READY_PAGE)
                whole = len(line) < READY_PAGE
                if not line:
                    return admitted
            entry = line.pop(0)
            run = int(entry.get("run", 1))  # the entry names the run it queues: no read of the job
            outcome = self.store.try_admit(tenant_id, entry, run=run, tenant_limit=self.limits.tenant,
                                           global_limit=self.limits.account, now=self._now())
            if outcome is Admission.TENANT_FULL:
                return admitted
            if outcome is Admission.GLOBAL_FULL:
                self.store.note_waiting_tenant(tenant_id)
                return admitted
            if outcome is Admission.NOT_QUEUED:
                self.store.delete_ready(tenant_id, entry["SK"])
                continue
            if outcome is Admission.GONE:
                continue
            ref = JobRef(tenant_id, entry["user_id"], entry["job_id"], run)
            try:
                self._enqueue(ref)
            except Exception:
                # Not sent: give the slot back and put the job back at its place in the line.
                self.release(ref, admit_next=False)
                self.store.restore_ready(entry)
                raise
            admitted += 1
        return admitted

    def _enqueue(self, ref: JobRef) -> None:
        if self.queue is None:
            raise RuntimeError("admission needs the queue port")
        self.queue.send(ref.as_dict())

    def release(self, ref: JobRef, *, admit_next: bool = True) -> bool:
        released = self.store.release(ref.tenant_id, ref.user_id, ref.job_id, run=ref.run, now=self._now())
        if released and admit_next:
            self._admit_after_release(ref.tenant_id)
        return released

    def _admit_after_release(self, tenant_id: str) -> None:
        """A slot came back: the tenant's next job, and tenants the account limit held back."""
        self.admit(tenant_id)
        for tenant in self.store.take_waiting_tenants(WAITING_TENANTS_PER_RELEASE):
            if tenant != tenant_id:
                self.admit(tenant)

    def schedule_due(self, ref: JobRef) -> bool:
        """A ``run_at`` schedule fired: the job joins its tenant's line like a new submission."""
        item = self.store.transition(ref.tenant_id, ref.user_id, ref.job_id, from_statuses=frozenset({"scheduled"}),
                                     set_fields={"status": "queued", "message": "Waiting for a slot",
                                                 "updated_at": self._now()})
        if item is None:
            return False  # cancelled, or a duplicate delivery of the schedule
        self.store.put_ready(item, keys.ready_sk(item["priority"], ref.job_id))
        self.admit(ref.tenant_id)
        return True

    # --- dispatch (the SQS consumer) ---------------------------------------------------------------------------

    def dispatch(self, ref: JobRef) -> str:
        """Start the run's execution, named after the job and run: a duplicate delivery finds the same execution.

        Dispatch reads and writes nothing: the run's first attempt starts it with a write conditioned on the job
        being queued on that run and holding its slot (``start_attempt``), which also records the execution. A
        message of a job cancelled meanwhile, or of an older run, starts an execution that ends at that write as
        cancelled (or finds the older run's, which has ended)."""
        if self.executions is None:
            raise RuntimeError("dispatch needs the executions port")
        return self.executions.start(keys.execution_name(ref.job_id, ref.run), {"job": ref.as_dict()})

    def dead_letter(self, ref: JobRef, reason: str) -> bool:
        """The queue gives up on the message: the job fails as dead-lettered, findable by admins."""
        item = self.store.transition(
            ref.tenant_id, ref.user_id, ref.job_id, from_statuses=frozenset({"queued"}),
            set_fields={"status": "failed", "dead_lettered": True, "finished_at": self._now(),
                        "updated_at": self._now(), "message": "Dead-lettered",
                        "error": {"code": "dead_lettered", "message": reason[:1000]},
                        "GSI1PK": keys.dead_letter_pk(ref.tenant_id), "GSI1SK": ref.job_id},
        )
        if item is None:
            return False
        record_finished(ref, BusinessMetric.JOBS_FAILED, item["finished_at"])
        if item.get("slot_held"):
            self.release(ref)
        return True

    # --- the state machine's steps -----------------------------------------------------------------------------

    def start_attempt(self, ref: JobRef, attempt: int, execution_arn: str | None = None) -> Item:
        """The agent step's first write: the first attempt starts the run (queued -> running, recording the
        execution), a retry counts itself; JobCancelled when the run is not (or no longer) the job's live one."""
        item = self.store.start_attempt(ref.tenant_id, ref.user_id, ref.job_id, run=ref.run, attempt=attempt,
                                        execution_arn=execution_arn,
                                        message=f"Attempt {attempt}" if attempt > 1 else "Working", now=self._now())
        if item is None:
            raise JobCancelled(f"job {ref.job_id} is not running run {ref.run}")
        return item

    def begin_storing(self, ref: JobRef) -> Item:
        """The run's job, still running, now showing that its result is being stored; JobCancelled otherwise.

        A retried store step whose first try got as far as marking the job succeeded gets the job as it is."""
        item = self.store.transition(ref.tenant_id, ref.user_id, ref.job_id, from_statuses=frozenset({"running"}),
                                     set_fields={"progress": STORING_PERCENT, "message": "Storing the result",
                                                 "updated_at": self._now(), "eta": None}, run=ref.run)
        if item is not None:
            return item
        current = self.store.get(ref.tenant_id, ref.user_id, ref.job_id)
        if current and current["status"] == "succeeded" and int(current.get("run", 1)) == ref.run:
            return current
        raise JobCancelled(f"job {ref.job_id} is no longer running")

    def report_progress(self, ref: JobRef, percent: int, message: str, started_at: datetime | None) -> None:
        """Monotonic progress with an ETA from the pace so far; raises JobCancelled when the job stopped."""
        percent = max(0, min(100, int(percent)))
        now = self.clock()
        eta = None
        if started_at and 0 < percent < 100:
            elapsed = (now - started_at).total_seconds()
            eta = (now + timedelta(seconds=elapsed * (100 - percent) / percent)).isoformat()
        outcome = self.store.write_progress(ref.tenant_id, ref.user_id, ref.job_id, percent=percent,
                                            message=message[:MESSAGE_CHARS], now=now.isoformat(), eta=eta)
        if outcome is ProgressWrite.NOT_RUNNING:
            raise JobCancelled(f"job {ref.job_id} stopped")

    def succeed(self, ref: JobRef, result: Mapping[str, Any], usage: Mapping[str, int], provider: str, *,
                agent_ms: int | None = None) -> Item:
        """The run succeeded: its outcome and the slots' return in one transaction, then the next admissions."""
        fields: Item = {"status": "succeeded", "progress": 100, "message": "Done", "result": dict(result),
                        "usage": dict(usage), "provider": provider, "finished_at": self._now(),
                        "updated_at": self._now(), "eta": None, "agent_ms": agent_ms}
        if not self.store.finish_and_release(ref.tenant_id, ref.user_id, ref.job_id, run=ref.run,
                                             set_fields=fields, now=self._now()):
            raise JobCancelled(f"job {ref.job_id} is no longer running")
        record_finished(ref, BusinessMetric.JOBS_SUCCEEDED, fields["finished_at"])
        self._admit_after_release(ref.tenant_id)
        return fields

    def fail(self, ref: JobRef, error: str, cause: str, state: Mapping[str, Any] | None = None) -> Item | None:
        """Mark the job failed, naming the step that failed (from the execution's ``state``) and keeping what
        the finished steps made: the agent's output when storing it was what failed."""
        state = state or {}
        set_fields: Item = {"status": "failed", "message": "Failed", "finished_at": self._now(),
                            "updated_at": self._now(), "eta": None,
                            "error": {"code": error or "error", "message": readable_cause(cause or error)}}
        if state:
            set_fields["failed_step"] = failed_step(state)
            output = state.get("output") or {}
            if output.get("markdown"):
                markdown = str(output["markdown"])
                set_fields["partial"] = {"title": str(output.get("title") or "")[:200],
                                         "markdown": markdown[:PARTIAL_CHARS],
                                         "truncated": len(markdown) > PARTIAL_CHARS}
        item = self.store.transition(
            ref.tenant_id, ref.user_id, ref.job_id, from_statuses=frozenset({"queued", "running"}),
            set_fields=set_fields,
        )
        if item is None:
            return None  # cancelled meanwhile: cancellation already gave the slot back
        record_finished(ref, BusinessMetric.JOBS_FAILED, item["finished_at"])
        self.release(ref)
        return item


def record_finished(ref: JobRef, outcome: BusinessMetric, finished_at: str) -> None:
    """A job's terminal status as business metrics: the outcome, and the time from submit (the job id is a
    ULID: it holds its creation time) to ``finished_at``."""
    record(outcome, ref.tenant_id)
    try:
        submitted = ULID.from_str(ref.job_id).datetime
    except ValueError:
        return  # an id not made here (tests): no duration
    elapsed = datetime.fromisoformat(finished_at) - submitted
    record(BusinessMetric.JOB_DURATION, ref.tenant_id, max(0.0, elapsed.total_seconds() * 1000))


def readable_cause(cause: str) -> str:
    """What a person may read of a failure: a Lambda error's type and message, never its stack trace (Step
    Functions hands the whole error document over as the cause)."""
    import json

    try:
        document = json.loads(cause)
    except ValueError:
        return cause[:1000]
    if isinstance(document, dict) and "errorMessage" in document:
        kind = str(document.get("errorType") or "")
        message = str(document["errorMessage"])
        return (f"{kind}: {message}" if kind else message)[:1000]
    return cause[:1000]


def failed_step(state: Mapping[str, Any]) -> str:
    """Which step of the agent_job state machine failed, from what the state holds when MarkFailed runs (the
    agent step adds its ``output``)."""
    return "StoreResult" if "output" in state else "RunAgent"


def _require_admin(identity: Identity) -> None:
    require_admin(identity, "see and redrive dead-lettered jobs")


_SKIPPED_EVENTS = frozenset({"TaskScheduled", "TaskStarted", "TaskSubmitted", "LambdaFunctionScheduled",
                             "LambdaFunctionStarted"})


def readable_history(events: list[dict[str, Any]]) -> list[JobEvent]:
    """Step Functions history as a timeline: states entered and exited, failures, retries, the outcome."""
    timeline: list[JobEvent] = []
    state: str | None = None
    failed_in: str | None = None
    for event in events:
        kind = str(event.get("type", ""))
        at = event.get("timestamp")
        when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
        details = next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})
        if kind.endswith("StateEntered"):
            state = details.get("name")
            timeline.append(JobEvent(at=when, type="state_entered", state=state))
        elif kind.endswith("StateExited"):
            timeline.append(JobEvent(at=when, type="state_exited", state=details.get("name")))
        elif kind == "TaskScheduled" and failed_in == state:
            timeline.append(JobEvent(at=when, type="retry", state=state, detail="Retrying after a failure"))
            failed_in = None
        elif kind in _SKIPPED_EVENTS:
            continue
        elif kind.startswith("Execution"):
            word = kind.removeprefix("Execution").lower()
            detail = f"{details.get('error', '')}: {details.get('cause', '')}".strip(": ") if details else ""
            timeline.append(JobEvent(at=when, type=f"execution_{word}", detail=detail[:500]))
        elif kind.endswith(("Failed", "TimedOut")):
            failed_in = state
            detail = f"{details.get('error', '')}: {details.get('cause', '')}".strip(": ")
            timeline.append(JobEvent(at=when, type="task_failed", state=state, detail=detail[:500]))
    return timeline
