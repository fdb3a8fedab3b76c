"""Fire EventBridge Scheduler schedules against the local cloud.

Covers: moto's EventBridge Scheduler (moto/scheduler/models.py) only stores schedules; nothing ever fires.
:class:`SchedulerLoop` polls the Scheduler API of a moto server and delivers due schedules itself:

* ``at(yyyy-mm-ddThh:mm:ss)`` fires once when due, read in ``ScheduleExpressionTimezone`` (default UTC).
  Afterwards it is deleted when ``ActionAfterCompletion`` is ``DELETE``, else remembered as done. As in AWS,
  ``StartDate``/``EndDate`` do not apply to one-time schedules.
* ``rate(N minute[s]|hour[s]|day[s])`` fires at ``StartDate`` (or when first seen) and every N units after,
  never before ``StartDate`` nor after ``EndDate``; missed runs collapse into one.
* ``cron(...)`` is **not** evaluated: such schedules are skipped with a debug log line.

Only ``ENABLED`` schedules fire. A schedule that is updated (new ``LastModificationDate``) starts afresh.
Delivery sends ``Target.Input`` (default ``{}``, with ``<aws.scheduler.*>`` context attributes replaced) to
a Lambda (``Invoke``, ``InvocationType=Event``), SQS queue (``SendMessage``, FIFO group from
``SqsParameters``), state machine (``StartExecution`` with a unique name), event bus (``PutEvents`` with
``EventBridgeParameters``) or SNS topic (``Publish``). Universal ``aws-sdk`` targets, retries, dead-letter
queues and flexible time windows are not modelled; a failed delivery is logged and counts as the attempt.

:meth:`SchedulerLoop.tick` does one deterministic pass for tests; :meth:`start` runs it on a daemon thread.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crewhouse.local.eventbridge import arn_parts, endpoint_client
from crewhouse.local.polling import PollingThread, Wakeups

logger = logging.getLogger(__name__)

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
IDLE_CEILING_SECONDS = 5.0  # between ticks while no schedule exists
SCHEDULES_CHANGED = Wakeups()  # notified by moto's Scheduler as a schedule is created or updated


def install_wakeups() -> None:
    """Make moto's Scheduler wake the loops when a schedule is created or updated (idempotent)."""
    from moto.scheduler.models import EventBridgeSchedulerBackend

    SCHEDULES_CHANGED.notify_after(EventBridgeSchedulerBackend, "create_schedule", "update_schedule",
                                   reason="wakes the scheduler loops as a schedule is made or changed (they back off "
                                          "while none is due)")


@dataclass
class _ScheduleState:
    """What the loop remembers about one schedule version (its fingerprint)."""

    fingerprint: tuple[Any, ...]
    first_seen: datetime
    fired: bool = False
    next_due: datetime | None = None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_at(expression: str, timezone: str = "UTC") -> datetime | None:
    """The moment of an ``at(...)`` expression as an aware datetime; None for any other expression."""
    match = _AT.match(expression.strip())
    if not match:
        return None
    return datetime.fromisoformat(match.group(1)).replace(tzinfo=ZoneInfo(timezone or "UTC"))


def parse_rate(expression: str) -> timedelta | None:
    """The period of a ``rate(...)`` expression; None for any other expression."""
    match = _RATE.match(expression.strip())
    if not match or int(match.group(1)) < 1:
        return None
    return int(match.group(1)) * _UNITS[match.group(2).rstrip("s")]


class SchedulerLoop:
    """Polls the moto Scheduler API at ``endpoint_url`` and fires due schedules (see the module docstring)."""

    def __init__(self, endpoint_url: str, region: str = "us-east-1", interval: float = 0.5) -> None:
        install_wakeups()
        self.endpoint_url = endpoint_url.rstrip("/")
        self.region = region
        self._states: dict[str, _ScheduleState] = {}
        self._tick_lock = threading.Lock()
        # While no schedule exists the loop backs off: creating or updating one wakes it.
        self._loop = PollingThread("crewhouse-scheduler", self._tick_in_background, interval=interval,
                                   ceiling=max(interval, IDLE_CEILING_SECONDS), wakeups=SCHEDULES_CHANGED)

    # --- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Tick every ``interval`` seconds on a daemon thread, less often while there are no schedules (no-op when
        already running)."""
        self._loop.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and wait for the tick in progress to finish."""
        self._loop.stop(timeout)

    def __enter__(self) -> SchedulerLoop:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _tick_in_background(self) -> int:
        """A tick; how many schedules are known (none: the loop may back off)."""
        self.tick()
        return len(self._states)

    # --- one pass -----------------------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> list[str]:
        """Fire every schedule due at ``now`` (default: the current time; naive means UTC).

        Returns the names of the schedules delivered, in listing order.
        """
        moment = _aware(now) if now is not None else datetime.now(UTC)
        client = self._client("scheduler", self.region, "")
        fired: list[str] = []
        seen: set[str] = set()
        with self._tick_lock:
            for group in self._paginate(client, "list_schedule_groups", "ScheduleGroups"):
                for summary in self._paginate(client, "list_schedules", "Schedules", GroupName=group["Name"]):
                    seen.add(summary["Arn"])
                    if summary.get("State", "ENABLED") != "ENABLED":
                        continue
                    schedule = client.get_schedule(Name=summary["Name"], GroupName=group["Name"])
                    if schedule.get("State") == "ENABLED" and self._process(client, schedule, moment):
                        fired.append(schedule["Name"])
            for arn in set(self._states) - seen:  # deleted schedules
                del self._states[arn]
        return fired

    def _process(self, client: Any, schedule: dict[str, Any], now: datetime) -> bool:
        """Fire ``schedule`` if due and update what is remembered; True when delivered."""
        expression = str(schedule.get("ScheduleExpression", ""))
        timezone = schedule.get("ScheduleExpressionTimezone") or "UTC"
        fingerprint = (expression, timezone, schedule.get("StartDate"), schedule.get("EndDate"),
                       schedule.get("LastModificationDate"), json.dumps(schedule.get("Target"), sort_keys=True))
        state = self._states.get(schedule["Arn"])
        if state is None or state.fingerprint != fingerprint:
            state = self._states[schedule["Arn"]] = _ScheduleState(fingerprint, first_seen=now)

        try:
            at = parse_at(expression, timezone)
        except (ZoneInfoNotFoundError, ValueError):
            logger.warning("Schedule %s: cannot read %r in time zone %r", schedule["Name"], expression, timezone)
            return False
        if at is not None:
            if state.fired or now < at:
                return False
            state.fired = True
            delivered = self._fire(schedule, at)
            if schedule.get("ActionAfterCompletion") == "DELETE":
                try:
                    client.delete_schedule(Name=schedule["Name"], GroupName=schedule.get("GroupName") or "default")
                except Exception:  # already gone, or the server is going away; it stays marked as fired
                    logger.exception("Schedule %s: delete after completion failed", schedule["Name"])
            return delivered

        period = parse_rate(expression)
        if period is None:
            logger.debug("Schedule %s: %r is not evaluated locally (only at() and rate())",
                         schedule["Name"], expression)
            return False
        start = _aware(schedule["StartDate"]) if schedule.get("StartDate") else state.first_seen
        end = _aware(schedule["EndDate"]) if schedule.get("EndDate") else None
        due = state.next_due or start
        if now < due or now < start or (end is not None and now > end):
            return False
        state.next_due = start + ((now - start) // period + 1) * period
        return self._fire(schedule, due)

    # --- delivery -----------------------------------------------------------------------------------------

    def _fire(self, schedule: dict[str, Any], scheduled_time: datetime) -> bool:
        target = schedule["Target"]
        try:
            self._deliver(target, self._input(schedule, scheduled_time))
        except Exception:
            logger.exception("Schedule %s: delivery to %s failed", schedule["Name"], target.get("Arn"))
            return False
        logger.info("Schedule %s fired into %s", schedule["Name"], target["Arn"])
        return True

    @staticmethod
    def _input(schedule: dict[str, Any], scheduled_time: datetime) -> str:
        """``Target.Input`` with the context attributes AWS substitutes."""
        body = str(schedule["Target"].get("Input") or "{}")
        for key, value in {
            "<aws.scheduler.schedule-arn>": schedule["Arn"],
            "<aws.scheduler.scheduled-time>": _iso(scheduled_time),
            "<aws.scheduler.execution-id>": str(uuid.uuid4()),
            "<aws.scheduler.attempt-number>": "1",
        }.items():
            body = body.replace(key, value)
        return body

    def _deliver(self, target: dict[str, Any], body: str) -> None:
        arn = str(target["Arn"])
        service, region, account = arn_parts(arn)
        if service == "lambda":
            response = self._client("lambda", region, account).invoke(
                FunctionName=arn, InvocationType="Event", Payload=body.encode("utf-8"))
            if response.get("FunctionError"):
                raise RuntimeError(f"Lambda {arn} failed: {response['Payload'].read().decode('utf-8', 'replace')}")
        elif service == "sqs":
            sqs = self._client("sqs", region, account)
            queue_url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1], QueueOwnerAWSAccountId=account)["QueueUrl"]
            group = (target.get("SqsParameters") or {}).get("MessageGroupId")
            sqs.send_message(QueueUrl=queue_url, MessageBody=body, **({"MessageGroupId": group} if group else {}))
        elif service == "states":
            self._client("stepfunctions", region, account).start_execution(
                stateMachineArn=arn, name=str(uuid.uuid4()), input=body)
        elif service == "events" and ":event-bus/" in arn:
            params = target.get("EventBridgeParameters") or {}
            response = self._client("events", region, account).put_events(Entries=[{
                "EventBusName": arn, "Source": params.get("Source", "aws.scheduler"),
                "DetailType": params.get("DetailType", "Scheduled Event"), "Detail": body}])
            if response.get("FailedEntryCount"):
                raise RuntimeError(f"PutEvents to {arn} failed: {response['Entries']}")
        elif service == "sns":
            self._client("sns", region, account).publish(TopicArn=arn, Message=body)
        else:
            raise NotImplementedError(f"Scheduler target {arn} is not supported locally")

    def _client(self, service: str, region: str, account: str) -> Any:
        return endpoint_client(service, self.endpoint_url, region or self.region, account)

    @staticmethod
    def _paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in client.get_paginator(operation).paginate(**kwargs):
            items += page.get(key, [])
        return items
