"""The flows API and node runner in-process against moto (``mock_aws``, Step Functions without its interpreter:
executions stay RUNNING until stopped, which is what saving, starting, cancelling, approvals and events need;
tests/integration/test_flows.py runs them for real on the embedded cloud)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from crewhouse.core.settings import function_environment
from crewhouse.flows import executions_api, flows_api, runner
from crewhouse.flows.logic import tenant_short
from crewhouse.flows.machines import StepFunctions
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.flows import approval_flow, simple_flow
from tests.support.members import seed_membership
from tests.support.mock import mocked_aws

TABLE, PLATFORM = "flows", "platform"
RUNNER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:crewhouse-flow-node-runner"
ROLE_ARN = "arn:aws:iam::123456789012:role/crewhouse-flow-role"
LOG_GROUP_ARN = "arn:aws:logs:us-east-1:123456789012:log-group:crewhouse-flows"
ENV = {"FLOWS_TABLE": TABLE, "PLATFORM_TABLE": PLATFORM, "AWS_REGION": "us-east-1", "CURSOR_SIGNING_KEY": "c" * 32,
       "NODE_RUNNER_ARN": RUNNER_ARN, "FLOW_ROLE_ARN": ROLE_ARN, "CREWHOUSE_LOCAL": "true", "LLM_PROVIDERS": "offline",
       "EVENT_BUS_NAME": "crewhouse", "FLOW_LOG_GROUP_ARN": LOG_GROUP_ARN}


def keyed_table(dynamodb: Any, name: str, indexes: int) -> None:
    keys = ["PK", "SK"] + [f"GSI{n}{part}" for n in range(1, indexes + 1) for part in ("PK", "SK")]
    gsis = [{"IndexName": f"GSI{n}", "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": f"GSI{n}PK", "KeyType": "HASH"},
                           {"AttributeName": f"GSI{n}SK", "KeyType": "RANGE"}]} for n in range(1, indexes + 1)]
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
                          KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                                     {"AttributeName": "SK", "KeyType": "RANGE"}],
                          **({"GlobalSecondaryIndexes": gsis} if gsis else {}))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    runner._grants.clear()  # the runner's warm-container caches: each test is a new cloud
    runner._starters.clear()
    with mocked_aws(monkeypatch):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        keyed_table(dynamodb, TABLE, 1)  # the construct's table: PK/SK and GSI1 (tests/infra/test_flows_stack.py)
        keyed_table(dynamodb, PLATFORM, 0)
        boto3.client("events", region_name="us-east-1").create_event_bus(Name="crewhouse")
        yield {"sfn": boto3.client("stepfunctions", region_name="us-east-1"), "dynamodb": dynamodb}


def call(user: str, method: str, path: str, body: Any = None, *, tenant: str = "t1", query: str = "",
         headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    handler = executions_api.handler if "/executions" in path else flows_api.handler
    with function_environment(ENV):
        response = handler(http_event(method, path, body=body, claims=claims_for(tenant, user), query=query,
                                      headers=headers), lambda_context())
    return response["statusCode"], response_json(response), dict(response.get("headers") or {})


def run_node(event: dict[str, Any]) -> Any:
    with function_environment(ENV):
        return runner.handler(event, lambda_context("runner"))


@pytest.fixture
def people(aws: dict[str, Any]) -> None:
    seed_membership("t1", "alice", "member", table=PLATFORM)
    seed_membership("t1", "olga", "observer", table=PLATFORM)
    seed_membership("t2", "mallory", "admin", table=PLATFORM)


def create(graph: dict[str, Any] | None = None, name: str = "Blog") -> dict[str, Any]:
    status, body, headers = call("alice", "POST", "/flows", {"name": name, "graph": graph or simple_flow()})
    assert status == 201, body
    assert headers["etag"] == '"1"'
    return dict(body)


def test_save_publishes_a_version_behind_the_live_alias(aws: dict[str, Any], people: None) -> None:
    flow = create()
    sfn = aws["sfn"]
    assert flow["state_machine_arn"].split(":")[-1] == f"crewhouse-flow-{tenant_short('t1')}-{flow['id']}"
    assert len(flow["state_machine_arn"].split(":")[-1]) <= 80
    alias = sfn.describe_state_machine_alias(stateMachineAliasArn=flow["alias_arn"])
    first_version = f"{flow['state_machine_arn']}:1"
    assert alias["routingConfiguration"] == [{"stateMachineVersionArn": first_version, "weight": 100}]
    assert flow["console_url"].startswith("https://us-east-1.console.aws.amazon.com/states/home")

    changed = simple_flow("Write a poem about {topic}")
    status, body, headers = call("alice", "PATCH", f"/flows/{flow['id']}", {"graph": changed},
                                 headers={"If-Match": '"1"'})
    assert status == 200, body
    assert body["latest_version"] == 2 and headers["etag"] == '"2"'
    alias = sfn.describe_state_machine_alias(stateMachineAliasArn=flow["alias_arn"])
    assert alias["routingConfiguration"][0]["stateMachineVersionArn"] == f"{flow['state_machine_arn']}:2"
    described = sfn.describe_state_machine(stateMachineArn=flow["state_machine_arn"])
    assert "poem" in described["definition"]
    # Saved and updated alike: failures logged with their data to the flows' log group, traced to X-Ray.
    assert described["loggingConfiguration"] == {
        "level": "ERROR", "includeExecutionData": True,
        "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": f"{LOG_GROUP_ARN}:*"}}]}
    assert described["tracingConfiguration"] == {"enabled": True}

    status, page, _ = call("alice", "GET", f"/flows/{flow['id']}/versions")
    assert [v["number"] for v in page["items"]] == [2, 1] and all(v["definition"] is None for v in page["items"])
    status, first, _ = call("olga", "GET", f"/flows/{flow['id']}/versions/1")
    assert status == 200 and first["graph"]["nodes"][1]["config"]["prompt"] == "Write about {topic}"
    assert first["definition"]["StartAt"] == "flow.run"
    assert "draft" in first["definition"]["States"]["flow.run"]["Branches"][0]["States"]

    status, stale, _ = call("alice", "PATCH", f"/flows/{flow['id']}", {"name": "x"}, headers={"If-Match": '"1"'})
    assert status == 412, stale


def test_an_invalid_graph_is_one_422_naming_every_problem(aws: dict[str, Any], people: None) -> None:
    graph = simple_flow()
    graph["edges"].append({"source": "draft", "source_port": "text", "target": "ghost", "target_port": "x"})
    graph["nodes"].append({"id": "lonely", "kind": "llm", "config": {"prompt": "hi"}})
    status, body, headers = call("alice", "POST", "/flows", {"name": "bad", "graph": graph})
    assert status == 422 and headers["content-type"] == "application/problem+json"
    codes = {(e["type"], e.get("node_id"), e.get("edge_id")) for e in body["errors"]}
    assert ("edge_unknown_node", None, "draft.text->ghost.x") in codes
    assert any(code == "unreachable_node" and node == "lonely" for code, node, _ in codes)
    assert aws["sfn"].list_state_machines()["stateMachines"] == []  # nothing published


def test_roles_and_tenants(aws: dict[str, Any], people: None) -> None:
    flow = create()
    assert call("olga", "POST", "/flows", {"name": "x", "graph": simple_flow()})[0] == 403
    assert call("olga", "GET", f"/flows/{flow['id']}")[0] == 200
    assert call("olga", "POST", f"/flows/{flow['id']}/executions", {"input": {"topic": "x"}})[0] == 403
    for method, path in (("GET", f"/flows/{flow['id']}"), ("GET", f"/flows/{flow['id']}/versions/1"),
                         ("DELETE", f"/flows/{flow['id']}")):
        assert call("mallory", method, path, tenant="t2")[0] == 404
    assert call("mallory", "GET", "/flows", tenant="t2")[1]["items"] == []


def test_start_validates_input_and_runs_the_version(aws: dict[str, Any], people: None) -> None:
    flow = create()
    status, body, _ = call("alice", "POST", f"/flows/{flow['id']}/executions",
                           {"input": {"words": "many", "colour": "red"}})
    assert status == 422
    assert {(e["path"], e["type"]) for e in body["errors"]} == {
        ("input.topic", "missing_required_input"), ("input.words", "type_mismatch"), ("input.colour", "unknown_input")}

    status, execution, _ = call("alice", "POST", f"/flows/{flow['id']}/executions",
                                      {"input": {"topic": "otters"}})
    assert status == 201, execution
    assert execution["status"] == "running" and execution["flow_version"] == 1
    machine_name = flow["state_machine_arn"].split(":")[-1]
    assert execution["execution_arn"].endswith(f":execution:{machine_name}:{execution['id']}")
    assert "#/v2/executions/details/" in execution["console_url"]
    described = aws["sfn"].describe_execution(executionArn=execution["execution_arn"])
    assert json.loads(described["input"]) == {"context": {"tenant_id": "t1", "flow_id": flow["id"], "flow_version": 1,
                                                          "run_id": execution["id"]},
                                              "input": {"topic": "otters", "words": None}}
    status, page, _ = call("olga", "GET", f"/flows/{flow['id']}/executions")
    assert [e["id"] for e in page["items"]] == [execution["id"]]
    assert call("mallory", "GET", f"/executions/{execution['id']}", tenant="t2")[0] == 404

    # Deleting is refused while it runs; cancel stops it (and a second cancel is a conflict).
    status, refused, _ = call("alice", "DELETE", f"/flows/{flow['id']}")
    assert status == 409 and refused["running"] == 1
    status, cancelled, _ = call("alice", "POST", f"/executions/{execution['id']}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled"
    assert aws["sfn"].describe_execution(executionArn=execution["execution_arn"])["status"] == "ABORTED"
    assert call("alice", "POST", f"/executions/{execution['id']}/cancel")[0] == 409
    assert call("alice", "DELETE", f"/flows/{flow['id']}")[0] == 204
    status, refused, _ = call("alice", "POST", f"/executions/{execution['id']}/redrive")
    assert status == 409 and refused["type"].endswith("flow-changed") and refused["live_version"] is None
    assert aws["sfn"].list_state_machines()["stateMachines"] == []
    assert call("alice", "GET", f"/flows/{flow['id']}")[0] == 404
    assert call("alice", "GET", f"/executions/{execution['id']}")[1]["status"] == "cancelled"  # runs outlive flows


def test_runs_record_their_end_and_failed_node(aws: dict[str, Any], people: None) -> None:
    flow = create()
    ok = call("alice", "POST", f"/flows/{flow['id']}/executions", {"input": {"topic": "a"}})[1]
    bad = call("alice", "POST", f"/flows/{flow['id']}/executions", {"input": {"topic": "b"}})[1]
    context = {"tenant_id": "t1", "flow_id": flow["id"], "flow_version": 1}
    output = {"end": "end", "output": {"text": "done"}}
    assert run_node({"finish": {"context": {**context, "run_id": ok["id"]}, "outcome": "succeeded",
                                "output": output}}) == output
    cause = json.dumps({"errorMessage": "node draft failed: no model provider answered",
                        "errorType": "Flow.Retryable"})
    run_node({"finish": {"context": {**context, "run_id": bad["id"]}, "outcome": "failed",
                         "error": {"Error": "Flow.NodeFailed", "Cause": cause}}})
    # The record is the execution's own; moto's uninterpreted executions still say RUNNING, so stop them first.
    for run in (ok, bad):
        aws["sfn"].stop_execution(executionArn=run["execution_arn"])
    assert call("alice", "GET", f"/executions/{ok['id']}")[1]["output"] == output
    failed = call("alice", "GET", f"/executions/{bad['id']}")[1]
    assert (failed["status"], failed["failed_node"], failed["error"], failed["cause"]) == (
        "failed", "draft", "Flow.Retryable", "no model provider answered")
    status, problem, _ = call("alice", "POST", f"/executions/{ok['id']}/redrive")
    assert status == 409 and problem["type"].endswith("execution-not-failed")
    # The flow saved since: a redrive would run the old version, so it is refused (409 with both versions).
    assert call("alice", "PATCH", f"/flows/{flow['id']}", {"graph": simple_flow("Poem on {topic}")})[0] == 200
    status, problem, _ = call("alice", "POST", f"/executions/{bad['id']}/redrive")
    assert status == 409 and (problem["flow_version"], problem["live_version"]) == (1, 2), problem


def test_the_llm_node_runs_for_the_starter_and_records_events(aws: dict[str, Any], people: None) -> None:
    flow = create()
    execution = call("alice", "POST", f"/flows/{flow['id']}/executions", {"input": {"topic": "otters"}})[1]
    context = {"tenant_id": "t1", "flow_id": flow["id"], "flow_version": 1, "run_id": execution["id"]}
    task = {"context": context, "node": {"id": "draft", "kind": "llm", "config": {"prompt": "Write about {topic}"}},
            "inputs": {"prompt": "Write about {topic}", "context": {"topic": "otters"}}}
    outputs = run_node(task)
    assert set(outputs) == {"text", "usage"} and outputs["text"]
    events = call("olga", "GET", f"/executions/{execution['id']}/events")[1]
    runner_types = [e["type"] for e in events["items"] if e["source"] == "runner"]
    assert runner_types == ["node_started", "llm_tokens_used", "node_finished"]
    assert events["next"]
    # Nothing new after the cursor: an immediate answer without wait, an empty one after a short wait.
    again = call("olga", "GET", f"/executions/{execution['id']}/events", query=f"after={events['next']}&wait=1")[1]
    assert [e for e in again["items"] if e["source"] == "runner"] == []
    assert call("olga", "GET", f"/executions/{execution['id']}/events", query="after=forged")[0] == 400
    # A starter who became an observer no longer runs nodes (once the runner's 60 s role cache has expired).
    seed_membership("t1", "alice", "observer", table=PLATFORM)
    assert set(run_node(task)) == {"text", "usage"}
    runner._grants.clear()
    with pytest.raises(Exception) as failed:
        run_node(task)
    assert type(failed.value).__name__ == "Flow.NodeFailed"


def test_human_approval_is_decided_once_by_a_writer(aws: dict[str, Any], people: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    answered: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(StepFunctions, "succeed_task", lambda self, token, output: answered.append((token, output)))
    from tests.support.event_inbox import event_inbox, sent_events

    inbox = event_inbox("crewhouse.flows")
    flow = create(approval_flow())
    execution = call("alice", "POST", f"/flows/{flow['id']}/executions",
                     {"input": {"topic": "otters", "items": ["a"]}})[1]
    context = {"tenant_id": "t1", "flow_id": flow["id"], "flow_version": 1, "run_id": execution["id"]}
    assert run_node({"context": context, "node": {"id": "review", "kind": "human_approval",
                                                  "config": {"prompt": "Publish {text}?", "timeout_seconds": 600}},
                     "inputs": {"details": {"text": "the draft"}}, "task_token": "token-1"}) == {}
    # The notifications consumer learns whom to ask from the event itself (no read of the run).
    (asked,) = [e["detail"] for e in sent_events(inbox) if e["detail-type"] == "flow.approval_requested"]
    assert (asked["started_by"], asked["node_id"], asked["prompt"]) == ("alice", "review", "Publish the draft?")
    status, pending, _ = call("olga", "GET", f"/executions/{execution['id']}/approvals")
    assert status == 200 and pending[0]["status"] == "pending" and pending[0]["prompt"] == "Publish the draft?"
    assert "task_token" not in pending[0]
    assert call("olga", "POST", f"/executions/{execution['id']}/approvals/review/approve", {})[0] == 403
    assert call("mallory", "POST", f"/executions/{execution['id']}/approvals/review/approve", {},
                tenant="t2")[0] == 404
    status, decided, _ = call("alice", "POST", f"/executions/{execution['id']}/approvals/review/reject",
                              {"comment": "not yet"})
    assert status == 200 and decided["status"] == "rejected" and decided["comment"] == "not yet"
    assert answered == [("token-1", {"approved": False, "comment": "not yet"})]
    assert call("alice", "POST", f"/executions/{execution['id']}/approvals/review/approve", {})[0] == 409
    assert call("alice", "POST", f"/executions/{execution['id']}/approvals/nobody/approve", {})[0] == 404
    types = [e["type"] for e in call("alice", "GET", f"/executions/{execution['id']}/events")[1]["items"]]
    assert "approval_requested" in types and "approval_decided" in types


def test_a_refused_callback_reopens_the_approval(aws: dict[str, Any], people: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    def refused(self: StepFunctions, token: str, output: dict[str, Any]) -> None:
        raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "gone"}}, "SendTaskSuccess")

    monkeypatch.setattr(StepFunctions, "succeed_task", refused)
    flow = create(approval_flow())
    execution = call("alice", "POST", f"/flows/{flow['id']}/executions",
                     {"input": {"topic": "otters", "items": []}})[1]
    context = {"tenant_id": "t1", "flow_id": flow["id"], "flow_version": 1, "run_id": execution["id"]}
    run_node({"context": context, "node": {"id": "review", "kind": "human_approval", "config": {"prompt": "ok?"}},
              "inputs": {}, "task_token": "not-a-real-token"})
    status, problem, _ = call("alice", "POST", f"/executions/{execution['id']}/approvals/review/approve", {})
    assert status == 409 and problem["type"].endswith("approval-not-waiting")
    assert call("alice", "GET", f"/executions/{execution['id']}/approvals")[1][0]["status"] == "pending"


def test_the_llm_nodes_temperature_reaches_the_model(aws: dict[str, Any], people: None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from crewhouse.llm.offline import OfflineProvider

    asked: list[float | None] = []

    class Recording(OfflineProvider):
        def converse(self, **kwargs: Any) -> Any:
            asked.append(kwargs.get("temperature"))
            return super().converse(**kwargs)

    monkeypatch.setattr(runner.NodeRunner, "provider", lambda self, tenant_id, config, node_id: Recording())
    flow = create()
    execution = call("alice", "POST", f"/flows/{flow['id']}/executions", {"input": {"topic": "otters"}})[1]
    context = {"tenant_id": "t1", "flow_id": flow["id"], "flow_version": 1, "run_id": execution["id"]}
    for config in ({"prompt": "Write", "temperature": 0.9}, {"prompt": "Write"}):
        run_node({"context": context, "node": {"id": "draft", "kind": "llm", "config": config},
                  "inputs": {"prompt": "Write about otters"}})
    assert asked == [0.9, None]


def test_the_runners_events_and_the_executions_end_are_announced_for_live_updates(aws: dict[str, Any],
                                                                                   people: None) -> None:
    """Each stored runner event is put on the crewhouse bus as flow.execution_event (tenant, flow, execution and
    the event), which the realtime fan-out files under the tenant's execution:<id>. An llm node costs two
    PutEvents: node_started at once, then its tokens and node_finished together."""
    from crewhouse.core.aws import aws_client
    from crewhouse.flows.settings import FlowsSettings
    from crewhouse.realtime.logic import deliveries_for
    from crewhouse.realtime.models import Topic
    from tests.support.event_inbox import event_inbox, sent_events

    inbox = event_inbox("crewhouse.flows")
    flow = create()
    execution = call("alice", "POST", f"/flows/{flow['id']}/executions", {"input": {"topic": "otters"}})[1]
    context = {"tenant_id": "t1", "flow_id": flow["id"], "flow_version": 1, "run_id": execution["id"]}
    with function_environment(ENV):
        events_client = aws_client("events", FlowsSettings())
    puts: list[list[str]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        puts.append([entry["DetailType"] for entry in params["Entries"]])

    events_client.meta.events.register("provide-client-params.events.PutEvents", record)
    try:
        run_node({"context": context, "node": {"id": "draft", "kind": "llm", "config": {"prompt": "Write"}},
                  "inputs": {"prompt": "Write about {topic}", "context": {"topic": "otters"}}})
        run_node({"finish": {"context": context, "outcome": "succeeded", "output": {"end": "end"}}})
    finally:
        events_client.meta.events.unregister("provide-client-params.events.PutEvents", record)
    assert puts == [["flow.execution_event"], ["flow.execution_event"] * 2, ["flow.execution_event"]]
    announced = sent_events(inbox)
    assert {e["detail-type"] for e in announced} == {"flow.execution_event"}
    by_type = {e["detail"]["event"]["type"]: e["detail"] for e in announced}
    assert sorted(by_type) == ["flow_succeeded", "llm_tokens_used", "node_finished", "node_started"]
    assert by_type["node_started"] == {
        "tenant_id": "t1", "flow_id": flow["id"], "execution_id": execution["id"],
        "event": {"at": by_type["node_started"]["event"]["at"], "type": "node_started", "node_id": "draft",
                  "detail": {"kind": "llm"}}}
    assert by_type["llm_tokens_used"]["event"]["detail"]["provider"] == "offline"
    # The same events as the events API shows.
    stored = call("olga", "GET", f"/executions/{execution['id']}/events")[1]["items"]
    assert sorted(e["type"] for e in stored if e["source"] == "runner") == sorted(by_type)
    for event in announced:
        (delivery,) = deliveries_for(event)
        assert (delivery.tenant_id, delivery.user_id, delivery.topic) == ("t1", None, Topic("execution",
                                                                                             execution["id"]))
