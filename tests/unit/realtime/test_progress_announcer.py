"""The jobs producer of live updates (crewhouse.jobs.runner.progress_announcer): the job.progress entry that
crewhouse.realtime.logic.deliveries_for reads, bounded, and never a reason to fail the job."""

from __future__ import annotations

import json
from typing import Any

from crewhouse.jobs.logic import JobRef
from crewhouse.jobs.runner import progress_announcer
from crewhouse.realtime.logic import deliveries_for
from crewhouse.realtime.models import Topic

REF = JobRef("t1", "alice", "j1", run=2)


class Events:
    def __init__(self, fail: bool = False) -> None:
        self.entries: list[dict[str, Any]] = []
        self.fail = fail

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError("AccessDeniedException")
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0}


def test_each_progress_write_puts_one_job_progress_event_that_the_fan_out_reads() -> None:
    events = Events()
    announce = progress_announcer(events, "crewhouse", REF)
    announce(50, "Summarizing")
    announce(140, "x" * 500)
    first, second = events.entries
    assert (first["Source"], first["DetailType"], first["EventBusName"]) == ("crewhouse.jobs", "job.progress",
                                                                            "crewhouse")
    detail = json.loads(first["Detail"])
    assert detail == {"job": {"tenant_id": "t1", "user_id": "alice", "job_id": "j1", "run": 2}, "progress": 50,
                      "message": "Summarizing"}
    assert (json.loads(second["Detail"])["progress"], len(json.loads(second["Detail"])["message"])) == (100, 200)
    (delivery,) = deliveries_for({"detail-type": first["DetailType"], "detail": detail})
    assert (delivery.tenant_id, delivery.user_id, delivery.topic) == ("t1", "alice", Topic("job", "j1"))


def test_a_failed_announcement_does_not_fail_the_job() -> None:
    progress_announcer(Events(fail=True), "crewhouse", REF)(10, "Reading the sources")  # no exception
