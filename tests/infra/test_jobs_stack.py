"""The jobs context in the synthesized template: the state machine (definition, logging, tracing), the
queue and its DLQ (redrive, alarm), the dispatcher's event source, and least-privilege grants."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import Synthesized
from tests.infra.test_files_stack import rendered_grants
from tests.infra.test_stack import props, render, resources, role_statements

PATHS = {
    "table": "Jobs/JobsTable",
    "queue": "Jobs/JobQueue",
    "dlq": "Jobs/JobDeadLetters",
    "state_machine": "Jobs/AgentJob",
    "state_machine_role": "Jobs/AgentJob/Role",
    "logs": "Jobs/ExecutionLogs",
    "api_fn": "Jobs/JobsApi/Function",
    "dispatcher_fn": "Jobs/JobDispatcher/Function",
    "step_fn": "Jobs/JobStep/Function",
    "runner_fn": "Jobs/JobRunner/Function",
    "schedule_due_fn": "Jobs/JobScheduleDue/Function",
    "scheduler_role": "Jobs/SchedulerRole",
    "mcp_fn": "Mcp/McpServer/Function",
}


@pytest.fixture(scope="module")
def ids(synth_ok: Synthesized) -> dict[str, str]:
    return {name: synth_ok.logical_id(path) for name, path in PATHS.items()}


def definition(template_json: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    state_machine = props(template_json, ids["state_machine"])
    text = render(state_machine["DefinitionString"])
    for key, value in state_machine.get("DefinitionSubstitutions", {}).items():
        text = text.replace(f"${{{key}}}", render(value))
    return dict(json.loads(text))


def test_state_machine_logs_everything_to_cloudwatch_and_traces(template_json: dict[str, Any],
                                                                 ids: dict[str, str]) -> None:
    state_machine = props(template_json, ids["state_machine"])
    assert state_machine["StateMachineType"] == "STANDARD"  # StopExecution, history, the console
    assert state_machine["TracingConfiguration"] == {"Enabled": True}
    logging = state_machine["LoggingConfiguration"]
    assert logging["Level"] == "ALL" and logging["IncludeExecutionData"] is True
    destination = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
    assert destination == {"Fn::GetAtt": [ids["logs"], "Arn"]}
    assert props(template_json, ids["logs"])["RetentionInDays"] == 30


def test_state_machine_is_the_checked_in_definition(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    states = definition(template_json, ids)["States"]
    assert list(states) == ["RunAgent", "StoreResult", "EmitSucceeded", "MarkFailed", "EmitFailed", "JobFailed",
                            "Cancelled"]
    agent = states["RunAgent"]
    assert agent["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert agent["TimeoutSeconds"] > agent["HeartbeatSeconds"] > 0
    retry = agent["Retry"][0]
    assert "Crewhouse.TransientError" in retry["ErrorEquals"] and "States.HeartbeatTimeout" in retry["ErrorEquals"]
    assert retry["BackoffRate"] > 1 and retry["JitterStrategy"] == "FULL"
    assert agent["Parameters"]["FunctionName"] == f"${{{ids['runner_fn']}.Arn}}"
    # The agent step starts the run itself: it is told which execution it runs in.
    assert agent["Parameters"]["Payload"]["execution_arn.$"] == "$$.Execution.Id"
    for name in ("RunAgent", "StoreResult"):  # every failure is caught...
        assert states[name]["Catch"][-1] == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                             "Next": "MarkFailed"}, name
    # ...and the two terminal bookkeeping steps give the admission slot back (job_step "finish" / "fail").
    assert states["StoreResult"]["Parameters"]["Payload"]["action"] == "finish"
    assert states["MarkFailed"]["Parameters"]["Payload"]["action"] == "fail"
    assert states["EmitSucceeded"]["Parameters"]["Entries"][0]["DetailType"] == "job.succeeded"
    assert states["EmitFailed"]["Parameters"]["Entries"][0]["DetailType"] == "job.failed"


def test_queue_dead_letters_after_three_receives_and_the_dlq_alarms(template_json: dict[str, Any],
                                                                   ids: dict[str, str]) -> None:
    queue = props(template_json, ids["queue"])
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [ids["dlq"], "Arn"]},
                                      "maxReceiveCount": 3}
    assert queue["SqsManagedSseEnabled"] is True
    alarms = [a["Properties"] for a in resources(template_json, "AWS::CloudWatch::Alarm").values()
              if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
              and {"Name": "QueueName", "Value": {"Fn::GetAtt": [ids["dlq"], "QueueName"]}}
              in a["Properties"].get("Dimensions", [])]
    assert len(alarms) == 1 and alarms[0]["Threshold"] == 1
    failed = [a["Properties"] for a in resources(template_json, "AWS::CloudWatch::Alarm").values()
              if a["Properties"].get("MetricName") == "ExecutionsFailed"]
    assert len(failed) == 1


def test_dispatcher_reads_the_queue_with_partial_batch_failures(template_json: dict[str, Any],
                                                               ids: dict[str, str]) -> None:
    mappings = [m["Properties"] for m in resources(template_json, "AWS::Lambda::EventSourceMapping").values()
                if m["Properties"]["FunctionName"] == {"Ref": ids["dispatcher_fn"]}]
    assert len(mappings) == 1
    assert mappings[0]["EventSourceArn"] == {"Fn::GetAtt": [ids["queue"], "Arn"]}
    assert mappings[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_dispatcher_may_start_only_this_state_machine(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    granted = rendered_grants(template_json, ids["dispatcher_fn"])
    starts = {resource for action, resource in granted if action.startswith("states:")}
    assert {action for action, _ in granted if action.startswith("states:")} == {"states:StartExecution"}
    assert starts == {f"${{{ids['state_machine']}}}"}
    tables = {resource for action, resource in granted if action.startswith("dynamodb:")}
    assert tables == {f"${{{ids['table']}.Arn}}"}  # items only: no index, and never Scan
    assert not any(action == "dynamodb:Scan" for action, _ in granted)


def test_state_machine_invokes_only_its_two_functions_and_puts_on_the_bus(template_json: dict[str, Any],
                                                                          ids: dict[str, str]) -> None:
    statements = role_statements(template_json, ids["state_machine_role"])
    invoked = {render(r).split(":*")[0] for s in statements if "lambda:InvokeFunction" in s["Action"]
               for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])}
    assert invoked == {f"${{{ids['step_fn']}.Arn}}", f"${{{ids['runner_fn']}.Arn}}"}
    actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert "events:PutEvents" in actions
    assert not any(a.startswith(("dynamodb:", "sqs:", "s3:")) for a in actions)


def test_runner_answers_by_task_token_and_never_retries_asynchronously(template_json: dict[str, Any],
                                                                       ids: dict[str, str]) -> None:
    granted = rendered_grants(template_json, ids["runner_fn"])
    assert {("states:SendTaskSuccess", "*"), ("states:SendTaskFailure", "*"),
            ("states:SendTaskHeartbeat", "*")} <= granted
    assert not any(action == "states:StartExecution" for action, _ in granted)
    configs = [c["Properties"] for c in resources(template_json, "AWS::Lambda::EventInvokeConfig").values()
               if c["Properties"]["FunctionName"] == {"Ref": ids["runner_fn"]}]
    assert configs and configs[0]["MaximumRetryAttempts"] == 0
    assert props(template_json, ids["runner_fn"])["Timeout"] == 900


def test_api_stops_and_reads_only_this_state_machines_executions(template_json: dict[str, Any],
                                                                 ids: dict[str, str]) -> None:
    granted = rendered_grants(template_json, ids["api_fn"])
    states = {(action, resource) for action, resource in granted if action.startswith("states:")}
    assert {action for action, _ in states} == {"states:StopExecution", "states:DescribeExecution",
                                                 "states:GetExecutionHistory"}
    assert all(f"execution:${{{ids['state_machine']}.Name}}:*" in resource for _, resource in states)


def test_mcp_server_may_submit_jobs_but_not_run_them(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    granted = rendered_grants(template_json, ids["mcp_fn"])
    assert ("sqs:SendMessage", f"${{{ids['queue']}.Arn}}") in granted
    assert not any(action.startswith("states:") for action, _ in granted)
