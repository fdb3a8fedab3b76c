"""The flows context in the synthesized template (inside the crews nested stack, folded as the embedded cloud
deploys it): its table, the node runner, the one role of every flow state machine, and the API's Step Functions
grants on the crewhouse-flow- prefix with iam:PassRole on that role only."""

from __future__ import annotations

from typing import Any

import pytest

from crewhouse_cdk.constructs.flows import (
    EXECUTIONS_API_EXECUTION_ACTIONS,
    EXECUTIONS_API_MACHINE_ACTIONS,
    FLOW_LOG_DELIVERY_ACTIONS,
    FLOW_TRACING_ACTIONS,
    FLOWS_API_ACTIONS,
)
from tests.infra.conftest import Synthesized
from tests.infra.test_files_stack import rendered_grants
from tests.infra.test_stack import grants, props, render, role_statements

PATHS = {"table": "Crews/Flows/FlowsTable", "api_fn": "Crews/Flows/FlowsApi/Function",
         "executions_fn": "Crews/Flows/FlowExecutionsApi/Function",
         "runner_fn": "Crews/Flows/FlowNodeRunner/Function", "role": "Crews/Flows/FlowStateMachineRole",
         "logs": "Crews/Flows/FlowExecutionLogs"}
PREFIX = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"


@pytest.fixture(scope="module")
def ids(synth_ok: Synthesized) -> dict[str, str]:
    return {name: synth_ok.logical_id(path) for name, path in PATHS.items()}


def test_the_table_lists_a_flows_runs_by_gsi1(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    table = props(template_json, ids["table"])
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["PK", "SK"]
    assert [(i["IndexName"], [k["AttributeName"] for k in i["KeySchema"]]) for i in table["GlobalSecondaryIndexes"]] \
        == [("GSI1", ["GSI1PK", "GSI1SK"])]
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_the_apis_manage_only_flow_state_machines_and_pass_only_the_flow_role(
        template_json: dict[str, Any], ids: dict[str, str]) -> None:
    machines = {f"{PREFIX}:stateMachine:crewhouse-flow-*", f"{PREFIX}:stateMachine:crewhouse-flow-*:*"}
    flows = {(a, r) for a, r in rendered_grants(template_json, ids["api_fn"]) if a.startswith("states:")}
    assert flows == {(a, r) for a in FLOWS_API_ACTIONS for r in machines}
    executions = {(a, r) for a, r in rendered_grants(template_json, ids["executions_fn"]) if a.startswith("states:")}
    assert executions == {(a, r) for a in EXECUTIONS_API_MACHINE_ACTIONS for r in machines} | {
        (a, f"{PREFIX}:execution:crewhouse-flow-*") for a in EXECUTIONS_API_EXECUTION_ACTIONS} | {
        ("states:SendTaskSuccess", "*"), ("states:SendTaskFailure", "*")}
    for function in ("api_fn", "executions_fn"):
        assert not any(a == "states:*" for a, _ in rendered_grants(template_json, ids[function]))
    # Only the executions API redrives, and only the flows' executions.
    redrives = {function: {r for a, r in rendered_grants(template_json, ids[function])
                           if a == "states:RedriveExecution"} for function in ("api_fn", "executions_fn", "runner_fn")}
    assert redrives == {"api_fn": set(), "executions_fn": {f"{PREFIX}:execution:crewhouse-flow-*"}, "runner_fn": set()}
    passes = {function: [s for s in role_statements(template_json, _role(template_json, ids[function]))
                         if "iam:PassRole" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
              for function in ("api_fn", "executions_fn", "runner_fn")}
    assert passes["executions_fn"] == [] and passes["runner_fn"] == [] and len(passes["api_fn"]) == 1
    assert render(passes["api_fn"][0]["Resource"]) == f"${{{ids['role']}.Arn}}"
    assert passes["api_fn"][0]["Condition"] == {"StringEquals": {"iam:PassedToService": "states.amazonaws.com"}}
    env = props(template_json, ids["api_fn"])["Environment"]["Variables"]
    assert render(env["FLOW_ROLE_ARN"]) == f"${{{ids['role']}.Arn}}"
    assert render(env["NODE_RUNNER_ARN"]) == f"${{{ids['runner_fn']}.Arn}}"
    assert env["FLOW_NAME_PREFIX"] == "crewhouse-flow"
    assert render(env["FLOW_LOG_GROUP_ARN"]) == f"${{{ids['logs']}.Arn}}"


def _role(template_json: dict[str, Any], function_id: str) -> str:
    return str(props(template_json, function_id)["Role"]["Fn::GetAtt"][0])


def test_the_flow_role_is_for_step_functions_and_invokes_the_runner(template_json: dict[str, Any],
                                                                    ids: dict[str, str]) -> None:
    role = props(template_json, ids["role"])
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
    found = {(a, render(r)) for a, r in grants(role_statements(template_json, ids["role"]))}
    invokes = {r for a, r in found if a == "lambda:InvokeFunction"}
    assert invokes == {f"${{{ids['runner_fn']}.Arn}}", f"${{{ids['runner_fn']}.Arn}}:*"}
    starts = {r for a, r in found if a == "states:StartExecution"}
    assert starts == {f"{PREFIX}:stateMachine:crewhouse-flow-*"}  # a Distributed Map's children
    # Each flow state machine logs and traces (crewhouse.flows.machines): vended delivery has no resource ARNs.
    assert {a for a, r in found if r == "*"} == {*FLOW_LOG_DELIVERY_ACTIONS, *FLOW_TRACING_ACTIONS}
    assert props(template_json, ids["logs"])["RetentionInDays"] == 30
    assert not any(a.startswith(("dynamodb:", "s3:", "iam:")) for a, _ in found)


def test_the_runner_writes_runs_and_reads_memberships_only(template_json: dict[str, Any],
                                                          ids: dict[str, str]) -> None:
    found = rendered_grants(template_json, ids["runner_fn"])
    table = f"${{{ids['table']}.Arn}}"
    assert {a for a, r in found if r == table} == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    # It never answers its own task tokens; it starts crew runs only (the crews context's state machine).
    assert {a for a, _ in found if a.startswith("states:")} == {"states:StartExecution"}
    assert props(template_json, ids["runner_fn"])["Timeout"] == 300
