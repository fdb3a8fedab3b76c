"""EventBridge rules deliver to Lambda and Step Functions targets (crewhouse.local.eventbridge)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from crewhouse.local import eventbridge
from tests.component.local.gap_filler_support import create_function, receive_all, unique, wait_for
from tests.support.moto_server import client, running_moto_server
from tests.support.sample_handlers import recorded_events

SOURCE = "crewhouse.workspaces"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from moto.core.models import default_user_config

    previous: dict[str, Any] = dict(default_user_config.get("stepfunctions", {"execute_state_machine": False}))
    with running_moto_server() as url:
        eventbridge.install(url)
        requests.post(f"{url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}},
                      timeout=5).raise_for_status()
        try:
            yield url
        finally:
            assert eventbridge.drain(10)
            requests.post(f"{url}/moto-api/config", json={"stepfunctions": previous}, timeout=5)


@pytest.fixture
def events(endpoint: str) -> Any:
    return client("events", endpoint)


def _bus_with_rule(events: Any, targets: list[dict[str, Any]], pattern: dict[str, Any] | None = None) -> str:
    bus = unique("bus")
    events.create_event_bus(Name=bus)
    rule = unique("rule")
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern or {"source": [SOURCE]}))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=targets)
    return bus


def _put(events: Any, bus: str, detail: dict[str, Any], source: str = SOURCE,
         detail_type: str = "WorkspaceCreated") -> None:
    response = events.put_events(Entries=[{"EventBusName": bus, "Source": source, "DetailType": detail_type,
                                           "Detail": json.dumps(detail)}])
    assert response["FailedEntryCount"] == 0, response


def test_lambda_target_receives_the_full_event(endpoint: str, events: Any) -> None:
    name, arn = create_function(endpoint, "record_event")
    bus = _bus_with_rule(events, [{"Id": "fn", "Arn": arn}])

    _put(events, bus, {"workspaceId": "w-1", "nested": {"n": 1}})
    _put(events, bus, {"workspaceId": "w-2"}, source="someone.else")  # does not match the pattern
    assert eventbridge.drain(10)

    [event] = recorded_events(name)
    assert event["source"] == SOURCE
    assert event["detail-type"] == "WorkspaceCreated"
    assert event["detail"] == {"workspaceId": "w-1", "nested": {"n": 1}}
    assert event["account"] == "123456789012"
    assert event["region"] == "us-east-1"
    assert event["version"] == "0"
    assert event["id"]
    assert isinstance(event["time"], str) and event["time"].endswith("Z")
    assert "ingestion-time" not in event


def test_input_transformer_constant_input_and_input_path(endpoint: str, events: Any) -> None:
    transformed, transformed_arn = create_function(endpoint, "record_event")
    constant, constant_arn = create_function(endpoint, "record_event")
    path, path_arn = create_function(endpoint, "record_event")
    bus = _bus_with_rule(events, [
        {"Id": "transformed", "Arn": transformed_arn, "InputTransformer": {
            "InputPathsMap": {"kind": "$.detail-type", "workspace": "$.detail.workspaceId"},
            "InputTemplate": '{"kind": "<kind>", "workspace": "<workspace>", "fixed": 1}'}},
        {"Id": "constant", "Arn": constant_arn, "Input": '{"constant": true}'},
        {"Id": "path", "Arn": path_arn, "InputPath": "$.detail"},
    ])

    _put(events, bus, {"workspaceId": "w-9"})
    assert eventbridge.drain(10)

    assert recorded_events(transformed) == [{"kind": "WorkspaceCreated", "workspace": "w-9", "fixed": 1}]
    assert recorded_events(constant) == [{"constant": True}]
    assert recorded_events(path) == [{"workspaceId": "w-9"}]


def test_state_machine_target_starts_an_execution(endpoint: str, events: Any) -> None:
    sfn = client("stepfunctions", endpoint)
    machine_arn = sfn.create_state_machine(
        name=unique("sm"), roleArn="arn:aws:iam::123456789012:role/gap-filler-lambda",
        definition=json.dumps({"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    bus = _bus_with_rule(events, [{"Id": "sm", "Arn": machine_arn, "InputPath": "$.detail"}])

    _put(events, bus, {"workspaceId": "w-3"})
    assert eventbridge.drain(10)

    [execution] = wait_for(lambda: sfn.list_executions(stateMachineArn=machine_arn)["executions"])

    def finished() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution["executionArn"])
        return described if described["status"] != "RUNNING" else None

    described = wait_for(finished)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["input"]) == {"workspaceId": "w-3"}
    assert json.loads(described["output"]) == {"workspaceId": "w-3"}


def test_sqs_target_still_goes_through_moto_next_to_a_lambda(endpoint: str, events: Any) -> None:
    sqs = client("sqs", endpoint)
    queue_url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name, arn = create_function(endpoint, "record_event")
    bus = _bus_with_rule(events, [{"Id": "q", "Arn": queue_arn}, {"Id": "fn", "Arn": arn}])

    _put(events, bus, {"workspaceId": "w-4"})
    assert eventbridge.drain(10)

    [message] = receive_all(sqs, queue_url, expected=1)
    body = json.loads(message["Body"])
    assert body["source"] == SOURCE
    assert body["detail"] == {"workspaceId": "w-4"}
    assert [event["detail"] for event in recorded_events(name)] == [{"workspaceId": "w-4"}]


def test_failing_target_and_disabled_rule(endpoint: str, events: Any) -> None:
    _, failing_arn = create_function(endpoint, "fail")
    quiet, quiet_arn = create_function(endpoint, "record_event")
    bus = _bus_with_rule(events, [{"Id": "fails", "Arn": failing_arn}])
    disabled = unique("rule")
    events.put_rule(Name=disabled, EventBusName=bus, EventPattern=json.dumps({"source": [SOURCE]}),
                    State="DISABLED")
    events.put_targets(Rule=disabled, EventBusName=bus, Targets=[{"Id": "fn", "Arn": quiet_arn}])

    _put(events, bus, {"workspaceId": "w-5"})  # an async failure is not the caller's problem
    assert eventbridge.drain(10)

    assert recorded_events(quiet) == []
