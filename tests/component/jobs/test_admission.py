"""Admission control, lifecycle and cancellation rules over moto's DynamoDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crewhouse.core.errors import Conflict, Forbidden, NotFound, ValidationProblem
from crewhouse.core.identity import Identity
from crewhouse.jobs.logic import JobCancelled, JobRef
from crewhouse.jobs.models import JobSubmit
from tests.component.jobs.conftest import Harness

ALICE = Identity(tenant_id="t1", user_id="alice", role="member", scopes=frozenset())
ADMIN = Identity(tenant_id="t1", user_id="root", role="admin", scopes=frozenset())


def submit(h: Harness, priority: str = "normal", who: Identity = ALICE, **extra: Any) -> str:
    body = JobSubmit.model_validate({"type": "echo", "params": {"text": "hi"}, "priority": priority, **extra})
    return h.service.submit(who, body).id


def queued_ids(h: Harness) -> list[str]:
    return [m["job_id"] for m in h.queue.messages]


def finish(h: Harness, job_id: str, who: Identity = ALICE) -> None:
    ref = JobRef(who.tenant_id, who.user_id, job_id)
    h.service.start_attempt(ref, 1, h.service.dispatch(ref))
    h.service.succeed(ref, {"kind": "note", "note_id": "n1"}, {}, "offline")


def test_high_priority_job_submitted_last_runs_next(make_harness: Any) -> None:
    h = make_harness(tenant_limit=1)
    first = submit(h)
    normal = [submit(h) for _ in range(20)]
    high = submit(h, "high")
    assert queued_ids(h) == [first]  # one slot: everything else waits
    finish(h, first)
    assert queued_ids(h) == [first, high]
    finish(h, high)
    assert queued_ids(h)[2] == normal[0]  # then FIFO within the normal level


def test_tenant_limit_holds_and_each_release_admits_one(make_harness: Any) -> None:
    h = make_harness(tenant_limit=2)
    ids = [submit(h) for _ in range(5)]
    assert queued_ids(h) == ids[:2]
    assert len(h.store.slot_holders("t1")) == 2
    finish(h, ids[0])
    assert queued_ids(h) == ids[:3]
    assert len(h.store.slot_holders("t1")) == 2


def test_account_limit_admits_a_waiting_tenant_when_any_slot_frees(make_harness: Any) -> None:
    h = make_harness(tenant_limit=3, account_limit=1)
    bob = Identity(tenant_id="t2", user_id="bob", role="member", scopes=frozenset())
    first = submit(h)
    waiting = submit(h, who=bob)
    assert queued_ids(h) == [first]
    finish(h, first)
    assert queued_ids(h) == [first, waiting]


def test_release_happens_once(make_harness: Any) -> None:
    h = make_harness()
    job_id = submit(h)
    ref = JobRef("t1", "alice", job_id)
    assert h.service.release(ref) is True
    assert h.service.release(ref) is False
    item = h.store.get("t1", "alice", job_id)
    assert item is not None and item["admissions"] == 1 and item["releases"] == 1


def test_duplicate_delivery_starts_one_execution(make_harness: Any) -> None:
    h = make_harness()
    job_id = submit(h)
    ref = JobRef("t1", "alice", job_id)
    first = h.service.dispatch(ref)
    assert h.service.dispatch(ref) == first
    assert list(h.executions.started) == [job_id]


def test_cancel_a_waiting_job_removes_it_from_the_line(make_harness: Any) -> None:
    h = make_harness(tenant_limit=1)
    running = submit(h)
    waiting = submit(h)
    assert h.service.cancel(ALICE, waiting).status == "cancelled"
    finish(h, running)
    assert queued_ids(h) == [running]  # the cancelled job never went to the queue
    with pytest.raises(Conflict):
        h.service.cancel(ALICE, waiting)
    with pytest.raises(Conflict):
        h.service.cancel(ALICE, running)


def test_cancel_a_running_job_stops_the_execution_and_frees_the_slot(make_harness: Any) -> None:
    h = make_harness(tenant_limit=1)
    running = submit(h)
    waiting = submit(h)
    ref = JobRef("t1", "alice", running)
    h.service.start_attempt(ref, 1, h.service.dispatch(ref))
    assert h.service.cancel(ALICE, running).status == "cancelled"
    assert h.executions.stopped == [f"arn:aws:states:us-east-1:123456789012:execution:agent-job:{running}"]
    assert queued_ids(h) == [running, waiting]
    with pytest.raises(JobCancelled):
        h.service.report_progress(ref, 50, "half way", datetime.now(UTC))
    with pytest.raises(JobCancelled):
        h.service.succeed(ref, {"kind": "note", "note_id": "n"}, {}, "offline")


def test_progress_never_goes_backwards_and_has_an_eta(make_harness: Any) -> None:
    h = make_harness()
    job_id = submit(h)
    ref = JobRef("t1", "alice", job_id)
    h.service.dispatch(ref)
    started = datetime.fromisoformat(h.service.start_attempt(ref, 1)["started_at"]) - timedelta(seconds=10)
    h.service.report_progress(ref, 50, "half", started)
    h.service.report_progress(ref, 20, "late writer", started)
    job = h.service.get(ALICE, job_id)
    assert (job.progress, job.message) == (50, "half")
    assert job.eta is not None and job.eta > datetime.now(UTC)


def test_dead_letter_then_admin_redrive_runs_a_new_execution(make_harness: Any) -> None:
    h = make_harness(tenant_limit=1)
    job_id = submit(h)
    ref = JobRef("t1", "alice", job_id)
    assert h.service.dead_letter(ref, "dispatch failed 3 times")
    with pytest.raises(Forbidden):
        h.service.dead_letters(ALICE, 10)
    assert [j.id for j in h.service.dead_letters(ADMIN, 10)] == [job_id]
    redriven = h.service.redrive(ADMIN, job_id)
    assert redriven.status == "queued" and not redriven.dead_lettered and redriven.error is None
    assert h.service.dead_letters(ADMIN, 10) == []
    h.service.dispatch(JobRef("t1", "alice", job_id, run=2))
    assert list(h.executions.started) == [f"{job_id}-run2"]
    with pytest.raises(NotFound):  # no longer a dead letter: another user's job is out of the admin's reach
        h.service.redrive(ADMIN, job_id)
    own = submit(h, who=ADMIN)
    with pytest.raises(Conflict):  # the admin's own job, but not failed
        h.service.redrive(ADMIN, own)


def test_failed_enqueue_gives_the_slot_back_and_keeps_the_job_waiting(make_harness: Any) -> None:
    h = make_harness(tenant_limit=1)
    h.queue.fail_next = 1
    with pytest.raises(ConnectionError):
        submit(h)
    assert h.store.slot_holders("t1") == []
    assert h.service.admit("t1") == 1  # the next admission finds it at its place


def test_scheduled_job_waits_for_its_schedule(make_harness: Any) -> None:
    h = make_harness()
    run_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    job_id = submit(h, run_at=run_at)
    assert h.service.get(ALICE, job_id).status == "scheduled"
    assert queued_ids(h) == []
    assert list(h.schedules.created) == [f"job-{job_id}"]
    assert h.service.schedule_due(JobRef("t1", "alice", job_id)) is True
    assert h.service.schedule_due(JobRef("t1", "alice", job_id)) is False  # a duplicate firing
    assert queued_ids(h) == [job_id]


def test_run_at_in_the_past_means_now(make_harness: Any) -> None:
    h = make_harness()
    job_id = submit(h, run_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
    assert queued_ids(h) == [job_id]


def test_unknown_type_and_bad_params_are_422(make_harness: Any) -> None:
    h = make_harness()
    with pytest.raises(ValidationProblem) as unknown:
        h.service.submit(ALICE, JobSubmit(type="nope", params={}))
    assert "echo" in str(unknown.value.extra)
    with pytest.raises(ValidationProblem):
        h.service.submit(ALICE, JobSubmit(type="echo", params={"text": 3, "extra": True}))


def test_the_store_step_shows_the_result_being_stored_only_while_the_run_is_running(make_harness: Any) -> None:
    h = make_harness()
    job_id = submit(h)
    ref = JobRef("t1", "alice", job_id)
    h.service.start_attempt(ref, 1, h.service.dispatch(ref))
    stored = h.service.begin_storing(ref)
    assert (stored["progress"], stored["message"]) == (99, "Storing the result")
    with pytest.raises(JobCancelled):
        h.service.begin_storing(JobRef("t1", "alice", job_id, run=2))  # another run's step writes nothing
    h.service.cancel(ALICE, job_id)
    with pytest.raises(JobCancelled):
        h.service.begin_storing(ref)
    assert h.service.get(ALICE, job_id).message == "Cancelled"


def test_the_first_attempt_starts_the_run_and_dispatch_writes_nothing(make_harness: Any) -> None:
    h = make_harness()
    job_id = submit(h)
    ref = JobRef("t1", "alice", job_id)
    arn = h.service.dispatch(ref)
    assert h.service.get(ALICE, job_id).execution_arn is None
    first = h.service.start_attempt(ref, 1, arn)
    job = h.service.get(ALICE, job_id)
    assert job.execution_arn == arn and job.console_url and (job.status, job.attempts) == ("running", 1)
    # A retried attempt counts itself and keeps the run's start; another run's attempt writes nothing.
    assert h.service.start_attempt(ref, 2, arn)["started_at"] == first["started_at"]
    assert (h.service.get(ALICE, job_id).attempts, h.service.get(ALICE, job_id).message) == (2, "Attempt 2")
    with pytest.raises(JobCancelled):
        h.service.start_attempt(JobRef("t1", "alice", job_id, run=2), 1, arn)


def test_a_message_of_a_cancelled_job_starts_an_execution_that_stops_at_its_first_write(make_harness: Any) -> None:
    h = make_harness(tenant_limit=1)
    job_id = submit(h)
    ref = JobRef("t1", "alice", job_id)
    h.service.cancel(ALICE, job_id)
    arn = h.service.dispatch(ref)  # the message was already in the queue
    with pytest.raises(JobCancelled):
        h.service.start_attempt(ref, 1, arn)
    job = h.service.get(ALICE, job_id)
    assert (job.status, job.attempts, job.execution_arn) == ("cancelled", 0, None)
    assert h.store.slot_holders("t1") == []


def test_a_job_submitted_while_nobody_waits_is_admitted_as_it_is_made(make_harness: Any) -> None:
    h = make_harness(tenant_limit=1)
    first = submit(h)
    item = h.store.get("t1", "alice", first)
    assert item is not None and item["slot_held"] and item["admissions"] == 1
    assert h.store.ready_line("t1", 5) == []  # it never stood in the line
    second = submit(h)  # the tenant's slot is taken: this one waits in the line
    assert [e["job_id"] for e in h.store.ready_line("t1", 5)] == [second]
    assert queued_ids(h) == [first]
    finish(h, first)
    assert queued_ids(h) == [first, second]
    done = h.store.get("t1", "alice", first)
    assert done is not None and (done["status"], done["slot_held"], done["releases"]) == ("succeeded", False, 1)


def test_a_retried_store_step_finds_the_job_it_already_finished(make_harness: Any) -> None:
    h = make_harness()
    job_id = submit(h)
    ref = JobRef("t1", "alice", job_id)
    finish(h, job_id)
    assert h.service.begin_storing(ref)["status"] == "succeeded"
    with pytest.raises(JobCancelled):  # but the result is not stored twice: the run is over
        h.service.succeed(ref, {"kind": "note", "note_id": "n1"}, {}, "offline")
    with pytest.raises(JobCancelled):
        h.service.begin_storing(JobRef("t1", "alice", job_id, run=2))


def test_a_failed_job_names_its_step_and_keeps_what_the_agent_made(make_harness: Any) -> None:
    from crewhouse.jobs.models import PARTIAL_CHARS

    h = make_harness()
    stored_failed, agent_failed = submit(h), submit(h)
    for job_id in (stored_failed, agent_failed):
        ref = JobRef("t1", "alice", job_id)
        h.service.start_attempt(ref, 1, h.service.dispatch(ref))
    report = "# Findings\n" + "word " * PARTIAL_CHARS
    # Storing the result failed: the agent's report is kept with the job (bounded), the step named.
    h.service.fail(JobRef("t1", "alice", stored_failed), "States.TaskFailed", "AccessDenied writing the note",
                   {"job": {}, "started": {"type": "echo"}, "output": {"title": "Findings", "markdown": report}})
    kept = h.service.get(ALICE, stored_failed)
    assert (kept.status, kept.failed_step, kept.error.message if kept.error else None) == (
        "failed", "StoreResult", "AccessDenied writing the note")
    assert kept.partial is not None and kept.partial.title == "Findings" and kept.partial.truncated
    assert kept.partial.markdown == report[:PARTIAL_CHARS]
    # The agent step itself failed: nothing was made, the step is named.
    h.service.fail(JobRef("t1", "alice", agent_failed), "Crewhouse.PermanentError", "no readable source",
                   {"job": {}, "started": {"type": "echo"}})
    lost = h.service.get(ALICE, agent_failed)
    assert (lost.failed_step, lost.partial) == ("RunAgent", None)


def test_a_succeeded_job_shows_the_start_of_its_result(make_harness: Any) -> None:
    h = make_harness()
    job_id = submit(h)
    ref = JobRef("t1", "alice", job_id)
    h.service.start_attempt(ref, 1, h.service.dispatch(ref))
    h.service.succeed(ref, {"kind": "note", "note_id": "n1", "preview": "# Summary\nShort."}, {}, "offline")
    result = h.service.get(ALICE, job_id).result
    assert result is not None and result.preview == "# Summary\nShort." and result.note_id == "n1"
