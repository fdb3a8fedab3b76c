"""RedriveExecution and the paged history on moto's Step Functions (crewhouse.local.stepfunctions_redrive)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.component.local.gap_filler_support import create_function, executing_moto_server, unique, wait_for
from tests.support.moto_server import client
from tests.support.sample_handlers import recorded_events


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with executing_moto_server() as url:
        yield url


def invoke(name: str, function_arn: str, then: str | None) -> dict[str, object]:
    state: dict[str, object] = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                                "Parameters": {"FunctionName": function_arn, "Payload": {"step": name, "n.$": "$.n"}},
                                "ResultSelector": {"recorded.$": "$.Payload.recorded"}, "ResultPath": f"$.{name}"}
    return {**state, "Next": then} if then else {**state, "End": True}


def three_steps(endpoint: str, first: str, middle: str, last: str, *, wrapped: bool = False) -> str:
    definition: dict[str, object] = {"StartAt": "First", "States": {"First": invoke("first", first, "Middle"),
                                                                    "Middle": invoke("middle", middle, "Last"),
                                                                    "Last": invoke("last", last, None)}}
    if wrapped:  # as the flows API runs a flow: inside a Parallel of one branch, then a state after it
        definition = {"StartAt": "run", "States": {
            "run": {"Type": "Parallel", "Branches": [definition], "ResultSelector": {"steps.$": "$[0]"},
                    "Next": "after"},
            "after": {"Type": "Pass", "Parameters": {"done.$": "$.steps"}, "End": True}}}
    return str(client("stepfunctions", endpoint).create_state_machine(
        name=unique("redrive"), definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/states")["stateMachineArn"])


def ended(endpoint: str, execution_arn: str) -> dict[str, object]:
    sfn = client("stepfunctions", endpoint)
    return wait_for(lambda: (found := sfn.describe_execution(executionArn=execution_arn))["status"] != "RUNNING"
                    and found, timeout=30)


@pytest.mark.parametrize("wrapped", [False, True], ids=["top-level", "in-a-one-branch-parallel"])
def test_a_redrive_continues_from_the_failed_state_without_running_the_earlier_one(endpoint: str,
                                                                                   wrapped: bool) -> None:
    first, first_arn = create_function(endpoint, "record_event")
    middle, middle_arn = create_function(endpoint, "record_and_fail_first_call")
    last, last_arn = create_function(endpoint, "record_event")
    sfn = client("stepfunctions", endpoint)
    machine = three_steps(endpoint, first_arn, middle_arn, last_arn, wrapped=wrapped)
    execution = sfn.start_execution(stateMachineArn=machine, name=unique("run"),
                                    input=json.dumps({"n": 7}))["executionArn"]
    failed = ended(endpoint, execution)
    assert failed["status"] == "FAILED" and failed["redriveCount"] == 0, failed
    assert len(recorded_events(last)) == 0

    redriven = sfn.redrive_execution(executionArn=execution, clientToken="once")
    again = sfn.redrive_execution(executionArn=execution, clientToken="once")  # the same request: one redrive
    assert again["redriveDate"] == redriven["redriveDate"]
    done = ended(endpoint, execution)
    assert done["status"] == "SUCCEEDED", done
    assert done["redriveCount"] == 1 and "redriveDate" in done
    steps = {"n": 7, "first": {"recorded": True}, "middle": {"recorded": True}, "last": {"recorded": True}}
    assert json.loads(str(done["output"])) == ({"done": steps} if wrapped else steps)
    assert len(recorded_events(first)) == 1, "the state that had succeeded ran again"
    assert [event["step"] for event in recorded_events(middle)] == ["middle", "middle"]
    assert recorded_events(middle)[1]["n"] == 7  # the failed state's own input again
    assert len(recorded_events(last)) == 1

    history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    types = [event["type"] for event in history]
    assert types.count("ExecutionRedriven") == 1 and types[0] == "ExecutionStarted"
    assert types.index("ExecutionFailed") < types.index("ExecutionRedriven") < types.index("ExecutionSucceeded")
    assert [event["id"] for event in history] == list(range(1, len(history) + 1))
    with pytest.raises(sfn.exceptions.ClientError) as refused:
        sfn.redrive_execution(executionArn=execution)
    assert refused.value.response["Error"]["Code"] == "ExecutionNotRedrivable"


def test_the_history_pages_newest_first(endpoint: str) -> None:
    _, arn = create_function(endpoint, "record_event")
    sfn = client("stepfunctions", endpoint)
    execution = sfn.start_execution(stateMachineArn=three_steps(endpoint, arn, arn, arn), name=unique("run"),
                                    input=json.dumps({"n": 1}))["executionArn"]
    assert ended(endpoint, execution)["status"] == "SUCCEEDED"
    everything = sfn.get_execution_history(executionArn=execution)["events"]
    newest = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=3)
    assert [e["id"] for e in newest["events"]] == [e["id"] for e in everything[::-1][:3]]
    rest = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=1000,
                                     nextToken=newest["nextToken"])
    assert [e["id"] for e in rest["events"]] == [e["id"] for e in everything[::-1][3:]]
    assert "nextToken" not in rest
