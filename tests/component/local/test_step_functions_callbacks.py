"""Callback tasks in moto's Step Functions interpreter (crewhouse.local.stepfunctions, and the asynchronous
``Event`` invocations of crewhouse.local.lambda_runtime)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.component.local.gap_filler_support import create_function, executing_moto_server, unique, wait_for
from tests.support.moto_server import client
from tests.support.sample_handlers import recorded_events

HEARTBEAT_SECONDS = 60  # far longer than the tests wait: a lost callback would show as a hang


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with executing_moto_server() as url:
        yield url


def callback_machine(endpoint: str, function_arn: str, wait: bool) -> str:
    definition = {"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "End": True,
        "TimeoutSeconds": 120, "HeartbeatSeconds": HEARTBEAT_SECONDS,
        "Parameters": {"FunctionName": function_arn, "InvocationType": "Event",
                       "Payload": {"token.$": "$$.Task.Token", "wait": wait}}}}}
    return str(client("stepfunctions", endpoint).create_state_machine(
        name=unique("callback"), definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/states")["stateMachineArn"])


def status(endpoint: str, execution_arn: str) -> str:
    return str(client("stepfunctions", endpoint).describe_execution(executionArn=execution_arn)["status"])


def test_an_answer_before_the_heartbeat_timer_starts_still_completes_the_task(endpoint: str) -> None:
    name, arn = create_function(endpoint, "answer_task_token")
    execution = client("stepfunctions", endpoint).start_execution(
        stateMachineArn=callback_machine(endpoint, arn, wait=False), name=unique("run"))["executionArn"]
    began = time.monotonic()
    assert wait_for(lambda: status(endpoint, execution) != "RUNNING", timeout=20)
    assert status(endpoint, execution) == "SUCCEEDED"
    assert time.monotonic() - began < HEARTBEAT_SECONDS / 2
    assert len(recorded_events(name)) == 1


def test_a_stopped_execution_is_aborted_not_failed(endpoint: str) -> None:
    name, arn = create_function(endpoint, "answer_task_token")
    sfn = client("stepfunctions", endpoint)
    execution = sfn.start_execution(stateMachineArn=callback_machine(endpoint, arn, wait=True),
                                    name=unique("run"))["executionArn"]
    assert wait_for(lambda: recorded_events(name), timeout=10)  # the task is waiting for its token
    sfn.stop_execution(executionArn=execution, error="Cancelled", cause="by the test")
    assert wait_for(lambda: status(endpoint, execution) != "RUNNING", timeout=20)
    time.sleep(0.5)  # the interrupted task's error would land now
    assert status(endpoint, execution) == "ABORTED"


def test_definitions_keep_context_paths_through_substitution() -> None:
    from crewhouse.local.deploy import substituted

    joined: Any = substituted('{"a.$": "$$.Task.Token", "f": "${Fn}", "g": "${Fn}"}', {"Fn": {"Ref": "F"}})
    assert joined == {"Fn::Join": ["", ['{"a.$": "$$.Task.Token", "f": "', {"Ref": "F"}, '", "g": "',
                                        {"Ref": "F"}, '"}']]}
