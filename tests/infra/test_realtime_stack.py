"""The realtime context in the synthesized template (nested stack ``Notifications``, construct ``Realtime``): the
WebSocket API and its stage (access logs, throttling), its three routes to their functions, the connections table
with its TTL, each function's exact grants (``execute-api:ManageConnections`` on this API's stage only, for the
two functions that post), and the EventBridge rule to the fan-out with its dead-letter queue."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crewhouse_cdk.constructs.realtime import STAGE_NAME, THROTTLE_BURST, THROTTLE_RATE
from tests.infra.conftest import Synthesized
from tests.infra.test_files_stack import rendered_grants
from tests.infra.test_stack import props, resources

ROOT = "Notifications/Realtime"
PATHS = {"table": f"{ROOT}/RealtimeTable", "api": f"{ROOT}/Api", "stage": f"{ROOT}/Stage",
         "logs": f"{ROOT}/AccessLogs", "rule": f"{ROOT}/FanOutRule", "dlq": f"{ROOT}/FanOutDlq",
         "connect": f"{ROOT}/Connect/Function", "disconnect": f"{ROOT}/Disconnect/Function",
         "messages": f"{ROOT}/Messages/Function", "fan_out": f"{ROOT}/FanOut/Function",
         "platform": "Storage/PlatformTable", "jobs": "Jobs/JobsTable", "chat": "Chat/ChatTable",
         "bus": "Bus/BusTable", "flows": "Crews/Flows/FlowsTable", "event_bus": "Storage/EventBus",
         # the producers of the events the fan-out takes
         "chat_fn": "Chat/Chat/Function", "bus_messages_fn": "Bus/BusMessages/Function",
         "flow_runner_fn": "Crews/Flows/FlowNodeRunner/Function",
         "flow_executions_fn": "Crews/Flows/FlowExecutionsApi/Function",
         "job_runner_fn": "Jobs/JobRunner/Function",
         "notifications_api_fn": "Notifications/Notifications/NotificationsApi/Function",
         "notifications_schedule_fn": "Notifications/Notifications/ScheduleDue/Function",
         "notifications_consumer_fn": "Notifications/Notifications/EventConsumer/Function"}


@pytest.fixture(scope="module")
def ids(synth_ok: Synthesized) -> dict[str, str]:
    return {name: synth_ok.logical_id(path) for name, path in PATHS.items()}


def test_the_websocket_api_routes_to_its_three_functions(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    api = props(template_json, ids["api"])
    assert (api["ProtocolType"], api["RouteSelectionExpression"]) == ("WEBSOCKET", "$request.body.action")
    routes = {r["Properties"]["RouteKey"]: r["Properties"] for r in
              resources(template_json, "AWS::ApiGatewayV2::Route").values()
              if r["Properties"]["ApiId"] == {"Ref": ids["api"]}}
    assert set(routes) == {"$connect", "$disconnect", "$default"}
    for key, function in (("$connect", "connect"), ("$disconnect", "disconnect"), ("$default", "messages")):
        integration_id = routes[key]["Target"]["Fn::Join"][1][1]["Ref"]
        uri = json.dumps(props(template_json, integration_id)["IntegrationUri"])
        assert f'"{ids[function]}"' in uri, (key, uri)
        # $connect authorizes in its integration (the HTTP API's authorizer is asked there): no route authorizer.
        assert routes[key]["AuthorizationType"] == "NONE"


def test_the_stage_logs_access_and_is_throttled(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    stage = props(template_json, ids["stage"])
    assert (stage["StageName"], stage["AutoDeploy"], stage["ApiId"]) == (STAGE_NAME, True, {"Ref": ids["api"]})
    assert stage["DefaultRouteSettings"] == {"ThrottlingBurstLimit": THROTTLE_BURST,
                                             "ThrottlingRateLimit": THROTTLE_RATE}
    logs = stage["AccessLogSettings"]
    assert logs["DestinationArn"] == {"Fn::GetAtt": [ids["logs"], "Arn"]}
    fields = json.loads(logs["Format"])
    assert {"requestId", "eventType", "routeKey", "status", "connectionId", "integrationError"} <= set(fields)
    assert props(template_json, ids["logs"])["RetentionInDays"] == 30


def test_the_table_expires_connections_events_and_subscriptions(template_json: dict[str, Any],
                                                                ids: dict[str, str]) -> None:
    table = props(template_json, ids["table"])
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_epoch", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def test_each_function_has_exactly_its_grants(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    table = f"${{{ids['table']}.Arn}}"
    connections = (f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{ids['api']}}}/"
                   f"{STAGE_NAME}/*/@connections/*")
    (authorizer,) = [k for k, r in resources(template_json, "AWS::Lambda::Function").items()
                     if r["Properties"].get("Handler") == "crewhouse.platform.authorizer.handler"]
    removes = {("dynamodb:Query", table), ("dynamodb:BatchWriteItem", table)}
    memberships = ("dynamodb:GetItem", f"${{{ids['platform']}.Arn}}")  # at connect, and re-checked later
    expected = {
        "connect": {("lambda:InvokeFunction", f"${{{authorizer}.Arn}}"), memberships, ("dynamodb:PutItem", table)},
        "disconnect": removes,
        "messages": removes | {("dynamodb:GetItem", table), ("execute-api:ManageConnections", connections),
                               memberships} |
        {("dynamodb:GetItem", f"${{{ids[t]}.Arn}}") for t in ("jobs", "chat", "bus", "flows")},
        "fan_out": removes | {("dynamodb:GetItem", table), ("dynamodb:UpdateItem", table),
                              ("dynamodb:PutItem", table), ("execute-api:ManageConnections", connections),
                              memberships},
    }
    for function, grants in expected.items():
        assert rendered_grants(template_json, ids[function]) == grants, function


def test_only_the_posting_functions_may_manage_connections(template_json: dict[str, Any],
                                                           ids: dict[str, str]) -> None:
    managing = {logical_id for logical_id, r in resources(template_json, "AWS::Lambda::Function").items()
                if any(a.startswith("execute-api:") for a, _ in rendered_grants(template_json, logical_id))}
    assert managing == {ids["messages"], ids["fan_out"]}


def test_the_rule_sends_job_and_agent_events_to_the_fan_out_with_a_dead_letter_queue(
        template_json: dict[str, Any], ids: dict[str, str]) -> None:
    rule = props(template_json, ids["rule"])
    assert rule["EventPattern"] == {
        "source": ["crewhouse.jobs", "crewhouse.bus", "crewhouse.chat", "crewhouse.flows", "crewhouse.notifications"],
        "detail-type": ["job.progress", "job.succeeded", "job.failed", "agent.offline", "bus.message",
                        "chat.tool_call", "chat.reply", "flow.execution_event", "notification.created"]}
    assert rule["EventBusName"] == {"Ref": ids["event_bus"]}
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [ids["fan_out"], "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [ids["dlq"], "Arn"]}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 60, "MaximumRetryAttempts": 2}
    # EventBridge may deliver to the dead-letter queue only for this rule.
    (policy,) = [r["Properties"] for r in resources(template_json, "AWS::SQS::QueuePolicy").values()
                 if {"Ref": ids["dlq"]} in r["Properties"]["Queues"]]
    statements = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert [s["Principal"] for s in statements] == [{"Service": "events.amazonaws.com"}]
    assert statements[0]["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": [ids["rule"], "Arn"]}


def test_every_producer_of_the_fan_outs_events_may_put_them_on_the_bus(template_json: dict[str, Any],
                                                                      ids: dict[str, str]) -> None:
    """The chat (chat.tool_call, chat.reply), the bus's messaging API (bus.message), the flows node runner and the
    executions API (flow.execution_event), the job runner (job.progress) and the functions that deliver notifications
    (notification.created): events:PutEvents on the crewhouse bus only, whichever stack the function is in."""
    bus = f"${{{ids['event_bus']}.Arn}}"
    for producer in ("chat_fn", "bus_messages_fn", "flow_runner_fn", "flow_executions_fn", "job_runner_fn",
                     "notifications_api_fn", "notifications_schedule_fn", "notifications_consumer_fn"):
        puts = {(a, r) for a, r in rendered_grants(template_json, ids[producer]) if a.startswith("events:")}
        assert puts == {("events:PutEvents", bus)}, producer


def test_the_fan_out_and_the_messages_function_know_the_tables_they_read(template_json: dict[str, Any],
                                                                         ids: dict[str, str]) -> None:
    env = {name: props(template_json, ids[name])["Environment"]["Variables"] for name in ("messages", "fan_out")}
    for name in ("messages", "fan_out"):
        assert env[name]["PLATFORM_TABLE"] == {"Ref": ids["platform"]}, name
    assert env["messages"]["FLOWS_TABLE"] == {"Ref": ids["flows"]}
