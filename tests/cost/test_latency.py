"""The latency model's arithmetic, and the agent-job pipeline's expected overhead in AWS before and after the cut."""

from __future__ import annotations

import pytest

from tests.cost.latency import (
    JOB_AFTER,
    JOB_BEFORE,
    LATENCY_MS,
    SOURCES,
    expected_overhead_ms,
    request_names,
)

MODEL_STEP_MS = 10_000.0


def test_sequential_steps_add_up_and_a_parallel_group_costs_its_slowest() -> None:
    assert expected_overhead_ms(["dynamodb:GetItem", "sqs:SendMessage"]) == 15.0
    assert expected_overhead_ms([("dynamodb:GetItem", "events:PutEvents"), "dynamodb:Query"]) == 25.0
    assert expected_overhead_ms([]) == 0.0


def test_an_unknown_request_is_named_rather_than_guessed() -> None:
    with pytest.raises(KeyError, match="s3:PutObject"):
        expected_overhead_ms(["s3:PutObject"])


def test_a_meter_readings_calls_read_as_request_names() -> None:
    calls = [("dynamodb:GetItem jobs <- JobDispatcher", 1.0, 0.0), ("sqs:ReceiveMessage (poller)", 0.0, 0.0)]
    assert request_names(calls) == ["dynamodb:GetItem", "sqs:ReceiveMessage"]


def test_every_latency_has_a_stated_source() -> None:
    assert {name.split(":", 1)[0] for name in LATENCY_MS} <= set(SOURCES)


def test_the_job_pipelines_overhead_for_a_ten_second_model_step() -> None:
    before, after = expected_overhead_ms(JOB_BEFORE), expected_overhead_ms(JOB_AFTER)
    print(f"\njob pipeline overhead in AWS: before {before:.0f} ms ({before / MODEL_STEP_MS:.1%} of a 10 s model "
          f"step), after {after:.0f} ms ({after / MODEL_STEP_MS:.1%})")
    assert (before, after) == (370.0, 270.0)  # the figures docs/cost.md states
    assert after < before * 0.75
