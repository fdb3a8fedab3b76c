"""The agent step: run one attempt of a job's type and report back to Step Functions by task token.

The runner is invoked asynchronously by a ``lambda:invoke.waitForTaskToken`` state, the execution's first. Its
first write starts the run (or counts a retried attempt) and records the execution. Progress goes to DynamoDB
(monotonic, conditional) at most every ``PROGRESS_EVERY_SECONDS`` (every report reaches live updates) and the
task's heartbeat at most once a minute; the outcome goes back with ``SendTaskSuccess`` or ``SendTaskFailure``,
whose error names the state machine's Retry and Catch match.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from crewhouse.core.events import Announcer
from crewhouse.core.observability import logger
from crewhouse.jobs.logic import JobCancelled, JobRef, JobService
from crewhouse.jobs.registry import get_type
from crewhouse.jobs.results import owner_identity
from crewhouse.jobs.settings import JobsSettings
from crewhouse.jobs.sources import job_sources, search_provider
from crewhouse.jobs.types.base import JobRun, PermanentJobError, TransientJobError
from crewhouse.llm.factory import build_provider
from crewhouse.llm.provider import ProviderUnavailable

MAX_RESULT_CHARS = 200_000  # the result travels in the execution's state (256 KiB at most)
TRANSIENT = "Crewhouse.TransientError"
PERMANENT = "Crewhouse.PermanentError"
CANCELLED = "Crewhouse.JobCancelled"
HEARTBEAT_EVERY_SECONDS = 60.0  # a fifth of the RunAgent state's HeartbeatSeconds
# The job's record follows the agent's progress at most this often (one write each); it also notices a
# cancellation at the next write (the cancel request has already stopped the execution).
PROGRESS_EVERY_SECONDS = 5.0
_THROTTLING = {"Throttling", "ThrottlingException", "TooManyRequestsException",
               "ProvisionedThroughputExceededException", "RequestLimitExceeded", "ServiceUnavailable",
               "InternalServerError", "InternalFailure"}


def classify(exc: BaseException) -> str:
    """The Step Functions error name for a failed attempt: retried (transient) or caught (permanent)."""
    if isinstance(exc, JobCancelled):
        return CANCELLED
    if isinstance(exc, TransientJobError | ProviderUnavailable | TimeoutError | ConnectionError):
        return TRANSIENT
    if isinstance(exc, PermanentJobError):
        return PERMANENT
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        code = str(response.get("Error", {}).get("Code", ""))
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return TRANSIENT if code in _THROTTLING or status >= 500 else PERMANENT
    if type(exc).__module__.startswith(("botocore", "urllib3")):
        return TRANSIENT  # connection and endpoint errors
    return PERMANENT


class Pace:
    """Due at most once every ``every_seconds``; the first window opens when it is made (the attempt's start)."""

    def __init__(self, every_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._every, self._clock = every_seconds, clock
        self._last = clock()

    def due(self) -> bool:
        now = self._clock()
        if now - self._last < self._every:
            return False
        self._last = now
        return True


class Heartbeat:
    """Beats on progress, but at most every ``every_seconds``: the task's ``HeartbeatSeconds`` (300) only
    needs a sign of life well within its window, not one call per progress report."""

    def __init__(self, send: Callable[[], None], every_seconds: float = HEARTBEAT_EVERY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._send, self._pace = send, Pace(every_seconds, clock)  # the task's timer starts with the attempt

    def __call__(self) -> None:
        if self._pace.due():
            self._send()


def run_attempt(service: JobService, settings: JobsSettings, ref: JobRef, attempt: int,
                heartbeat: Any = None, announce: Callable[[int, str], None] | None = None, *,
                execution_arn: str | None = None, progress_pace: Pace | None = None) -> dict[str, Any]:
    """One attempt of the job's agent step; the output the store step needs."""
    item = service.start_attempt(ref, attempt, execution_arn)
    pace = progress_pace or Pace(PROGRESS_EVERY_SECONDS)  # the start just written counts as the first write
    job_type = get_type(item["type"])
    if job_type is None:
        raise PermanentJobError(f"unknown job type {item['type']!r}")
    params = job_type.params_model.model_validate(item["params"])
    started = datetime.fromisoformat(item["started_at"]) if item.get("started_at") else None

    def progress(percent: int, message: str) -> None:
        if pace.due():
            service.report_progress(ref, percent, message, started)
        if announce:
            announce(percent, message)
        if heartbeat:
            heartbeat()

    identity = owner_identity(ref.tenant_id, ref.user_id)
    # Imported here: the other handlers of crewhouse.jobs.workers (step, dispatch) would pay for it at cold start.
    from crewhouse.providers.wiring import tenant_provider

    # The tenant's own model providers when it has any (usage recorded per provider); the platform's otherwise.
    llm = tenant_provider(ref.tenant_id, settings) or build_provider(settings)
    run = JobRun(job_id=ref.job_id, params=params, llm=llm, sources=job_sources(settings, identity),
                 search=search_provider(settings, identity), progress=progress)
    began = time.perf_counter()
    output = job_type.run(run)
    agent_ms = round((time.perf_counter() - began) * 1000)
    if len(output.markdown) > MAX_RESULT_CHARS:
        raise PermanentJobError(f"the result has {len(output.markdown)} characters; at most {MAX_RESULT_CHARS} fit")
    return {"title": output.title, "markdown": output.markdown, "citations": output.citations,
            "provider": output.provider or "none", "usage": dict(llm.usage), "agent_ms": agent_ms}


def progress_announcer(events: Any, event_bus: str, ref: JobRef) -> Callable[[int, str], None]:
    """Puts ``job.progress`` on the bus for each progress report (live updates, crewhouse.realtime); a lost
    announcement is only a missed live update: the job's record has the progress (written every 5 s at most)."""
    announcer = Announcer(events, event_bus, "crewhouse.jobs")

    def announce(percent: int, message: str) -> None:
        announcer.publish("job.progress", {"job": ref.as_dict(), "progress": max(0, min(100, int(percent))),
                                           "message": message[:200]})

    return announce


def run_and_report(service: JobService, settings: JobsSettings, sfn: Any, event: Mapping[str, Any],
                   events: Any = None) -> str:
    """Run an attempt and hand the outcome to Step Functions; returns the error name, or "" on success."""
    token = str(event["task_token"])
    ref = JobRef.of(event["job"])
    attempt = int(event.get("attempt", 0)) + 1
    announce = progress_announcer(events, settings.event_bus_name, ref) if events is not None else None

    def send_heartbeat() -> None:
        with contextlib.suppress(Exception):  # a missed heartbeat is only a missed heartbeat
            sfn.send_task_heartbeat(taskToken=token)

    try:
        output = run_attempt(service, settings, ref, attempt, Heartbeat(send_heartbeat), announce,
                             execution_arn=event.get("execution_arn"))
    except Exception as exc:  # every failure goes back to the state machine, which decides on retries
        error = classify(exc)
        logger.warning("job attempt failed", extra={"job_id": ref.job_id, "attempt": attempt, "error": error,
                                                    "cause": str(exc)[:500]})
        _answer(sfn.send_task_failure, taskToken=token, error=error, cause=f"{type(exc).__name__}: {exc}"[:32000])
        return error
    _answer(sfn.send_task_success, taskToken=token, output=json.dumps(output))
    return ""


def _answer(call: Any, **kwargs: Any) -> None:
    """The execution may have been stopped (cancelled) or timed out meanwhile: then nobody is waiting."""
    try:
        call(**kwargs)
    except Exception as exc:
        logger.warning("Step Functions did not take the job's answer", extra={"error": str(exc)[:500]})
