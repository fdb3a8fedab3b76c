"""EventBridge Scheduler schedules fire against the local cloud (crewhouse.local.scheduler)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crewhouse.local.scheduler import SchedulerLoop
from tests.component.local.gap_filler_support import create_function, receive_all, unique, wait_for
from tests.support.moto_server import client, running_moto_server
from tests.support.sample_handlers import recorded_events

ROLE = "arn:aws:iam::123456789012:role/gap-filler-scheduler"
CreateSchedule = Callable[..., str]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with running_moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def loop(endpoint: str) -> SchedulerLoop:
    return SchedulerLoop(endpoint)


@pytest.fixture
def scheduler(endpoint: str) -> Any:
    return client("scheduler", endpoint)


@pytest.fixture
def create_schedule(scheduler: Any) -> Iterator[CreateSchedule]:
    """Creates schedules (unique names) and deletes the survivors afterwards: backends are process-wide."""
    created: list[tuple[str, str]] = []

    def create(expression: str, target_arn: str, body: str = '{"job": "nightly"}', group: str = "default",
               **extra: Any) -> str:
        name = unique("schedule")
        scheduler.create_schedule(Name=name, GroupName=group, ScheduleExpression=expression,
                                  FlexibleTimeWindow={"Mode": "OFF"},
                                  Target={"Arn": target_arn, "RoleArn": ROLE, "Input": body}, **extra)
        created.append((name, group))
        return name

    yield create
    for name, group in created:
        with contextlib.suppress(scheduler.exceptions.ResourceNotFoundException):
            scheduler.delete_schedule(Name=name, GroupName=group)


def _at(moment: datetime, zone: str = "UTC") -> str:
    return f"at({moment.astimezone(ZoneInfo(zone)).strftime('%Y-%m-%dT%H:%M:%S')})"


def _queue(endpoint: str) -> tuple[Any, str, str]:
    sqs = client("sqs", endpoint)
    name = unique("queue")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return sqs, url, f"arn:aws:sqs:us-east-1:123456789012:{name}"


def test_past_at_schedule_fires_exactly_once_into_lambda_and_sqs(
        endpoint: str, loop: SchedulerLoop, create_schedule: CreateSchedule) -> None:
    function, function_arn = create_function(endpoint, "record_event")
    sqs, queue_url, queue_arn = _queue(endpoint)
    now = datetime.now(UTC).replace(microsecond=0)
    to_lambda = create_schedule(_at(now - timedelta(minutes=1)), function_arn)
    to_queue = create_schedule(_at(now), queue_arn, body='{"schedule": "<aws.scheduler.schedule-arn>"}')

    fired = loop.tick()
    again = loop.tick(now + timedelta(days=1))

    assert {to_lambda, to_queue} <= set(fired)
    assert to_lambda not in again and to_queue not in again
    assert recorded_events(function) == [{"job": "nightly"}]
    messages = receive_all(sqs, queue_url, expected=2, timeout=0.5)
    assert [json.loads(m["Body"]) for m in messages] == [
        {"schedule": f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/{to_queue}"}]


def test_future_at_schedule_waits_for_its_time_zone_and_deletes_itself(
        endpoint: str, loop: SchedulerLoop, scheduler: Any, create_schedule: CreateSchedule) -> None:
    function, function_arn = create_function(endpoint, "record_event")
    now = datetime.now(UTC).replace(microsecond=0)
    due = now + timedelta(hours=1)
    zone = "Europe/Berlin"  # never UTC: read as UTC this would be due one or two hours later
    name = create_schedule(_at(due, zone), function_arn, ScheduleExpressionTimezone=zone,
                           ActionAfterCompletion="DELETE")

    assert name not in loop.tick(now)
    assert name not in loop.tick(due - timedelta(seconds=1))
    assert recorded_events(function) == []
    assert name in loop.tick(due)

    assert recorded_events(function) == [{"job": "nightly"}]
    with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
        scheduler.get_schedule(Name=name)


def test_at_schedule_without_delete_is_kept_but_not_fired_again(
        endpoint: str, loop: SchedulerLoop, scheduler: Any, create_schedule: CreateSchedule) -> None:
    function, function_arn = create_function(endpoint, "record_event")
    scheduler.create_schedule_group(Name=(group := unique("group")))
    now = datetime.now(UTC).replace(microsecond=0)
    name = create_schedule(_at(now), function_arn, group=group)

    assert name in loop.tick(now)
    assert name not in loop.tick(now + timedelta(hours=1))
    assert scheduler.get_schedule(Name=name, GroupName=group)["Name"] == name
    assert len(recorded_events(function)) == 1


def test_rate_schedule_fires_once_per_period(
        endpoint: str, loop: SchedulerLoop, create_schedule: CreateSchedule) -> None:
    function, function_arn = create_function(endpoint, "record_event")
    name = create_schedule("rate(1 minute)", function_arn)
    t0 = datetime.now(UTC)

    fired = [name in loop.tick(t0 + timedelta(seconds=offset)) for offset in (0, 30, 59, 60, 90, 200)]

    assert fired == [True, False, False, True, False, True]
    assert len(recorded_events(function)) == 3


def test_rate_schedule_respects_start_and_end_dates(
        endpoint: str, loop: SchedulerLoop, create_schedule: CreateSchedule) -> None:
    _, function_arn = create_function(endpoint, "record_event")
    t0 = datetime.now(UTC).replace(microsecond=0)
    name = create_schedule("rate(5 minutes)", function_arn, StartDate=t0 + timedelta(minutes=10),
                           EndDate=t0 + timedelta(minutes=20))

    fired = [name in loop.tick(t0 + timedelta(minutes=offset)) for offset in (0, 9, 10, 12, 15, 21, 30)]

    assert fired == [False, False, True, False, True, False, False]


def test_disabled_schedules_never_fire(
        endpoint: str, loop: SchedulerLoop, create_schedule: CreateSchedule) -> None:
    function, function_arn = create_function(endpoint, "record_event")
    now = datetime.now(UTC).replace(microsecond=0)
    once = create_schedule(_at(now - timedelta(minutes=5)), function_arn, State="DISABLED")
    every = create_schedule("rate(1 minute)", function_arn, State="DISABLED")

    fired = loop.tick(now) + loop.tick(now + timedelta(days=1))

    assert once not in fired and every not in fired
    assert recorded_events(function) == []


def test_cron_is_skipped_and_the_thread_fires_by_itself(
        endpoint: str, create_schedule: CreateSchedule) -> None:
    function, function_arn = create_function(endpoint, "record_event")
    cron = create_schedule("cron(* * * * ? *)", function_arn, body='{"job": "cron"}')
    create_schedule(_at(datetime.now(UTC)), function_arn, body='{"job": "threaded"}')
    background = SchedulerLoop(endpoint, interval=0.05)

    background.start()
    try:
        wait_for(lambda: recorded_events(function), timeout=5)
    finally:
        background.stop()

    assert not background._loop.alive
    assert recorded_events(function) == [{"job": "threaded"}]
    assert cron not in background.tick()
