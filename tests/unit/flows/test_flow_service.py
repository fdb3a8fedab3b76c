"""The flows service's rules over fakes of its two ports (the table and Step Functions): what is published and
when, what a failed save or start leaves behind, how a run's end and its failed node are recorded, approvals
decided once, events merged from the history and the runner, and long-polling."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crewhouse.core.errors import Conflict, NotFound, PreconditionFailed, Problem, ValidationProblem
from crewhouse.core.identity import Identity
from crewhouse.flows.contract import RunContext
from crewhouse.flows.graph import FlowGraph
from crewhouse.flows.logic import (
    RECORD_SUCCESS,
    RUN_STATE,
    FlowsConfig,
    FlowService,
    failure_of,
    history_events,
    runnable_definition,
    runner_event,
    state_machine_name,
)
from crewhouse.flows.machines import Published
from crewhouse.flows.models import FlowCreate, FlowUpdate
from tests.support.flows import simple_flow

ALICE = Identity(tenant_id="t1", user_id="alice", role="member", scopes=frozenset())
EVE = Identity(tenant_id="t2", user_id="eve", role="admin", scopes=frozenset())
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


class FakeStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, ...], dict[str, Any]] = {}
        self.fail_next_write = False

    def _write(self) -> None:
        if self.fail_next_write:
            self.fail_next_write = False
            raise RuntimeError("DynamoDB is down")

    def flow(self, tenant_id: str, flow_id: str) -> dict[str, Any] | None:
        return self.items.get(("flow", tenant_id, flow_id))

    def flows(self, tenant_id: str, *, limit: int, start: Any) -> tuple[list[dict[str, Any]], Any]:
        return [v for k, v in self.items.items() if k[:2] == ("flow", tenant_id)], None

    def create_flow(self, flow: dict[str, Any], version: dict[str, Any]) -> None:
        self._write()
        self.items[("flow", flow["tenant_id"], flow["id"])] = dict(flow)
        self.items[("version", version["tenant_id"], version["flow_id"], str(version["number"]))] = dict(version)

    def save_flow(self, flow: dict[str, Any], expected_version: int, version: dict[str, Any] | None = None) -> None:
        self._write()
        current = self.items[("flow", flow["tenant_id"], flow["id"])]
        if current["version"] != expected_version:
            raise PreconditionFailed("changed")
        self.items[("flow", flow["tenant_id"], flow["id"])] = dict(flow)
        if version:
            self.items[("version", version["tenant_id"], version["flow_id"], str(version["number"]))] = dict(version)

    def delete_flow(self, tenant_id: str, flow_id: str, expected_version: int) -> None:
        self.items = {k: v for k, v in self.items.items()
                      if not (k[0] in ("flow", "version") and k[1] == tenant_id and k[2] == flow_id)}

    def version(self, tenant_id: str, flow_id: str, number: int) -> dict[str, Any] | None:
        return self.items.get(("version", tenant_id, flow_id, str(number)))

    def versions(self, tenant_id: str, flow_id: str, *, limit: int, start: Any) -> tuple[list[dict[str, Any]], Any]:
        return [v for k, v in self.items.items() if k[:3] == ("version", tenant_id, flow_id)], None

    def add_run(self, run: dict[str, Any]) -> None:
        self._write()
        self.items[("run", run["tenant_id"], run["id"])] = dict(run)

    def run(self, tenant_id: str, run_id: str) -> dict[str, Any] | None:
        return self.items.get(("run", tenant_id, run_id))

    def runs_of(self, tenant_id: str, flow_id: str, *, limit: int, start: Any) -> tuple[list[dict[str, Any]], Any]:
        runs = [v for k, v in self.items.items() if k[:2] == ("run", tenant_id) and v["flow_id"] == flow_id]
        return sorted(runs, key=lambda r: r["id"], reverse=True), None

    def finish_run(self, tenant_id: str, run_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        run = self.items.get(("run", tenant_id, run_id))
        if run is None or run["status"] != "running":
            return None
        run.update(fields)
        return dict(run)

    def restart_run(self, tenant_id: str, run_id: str, fields: dict[str, Any], *,
                    previous_count: int) -> dict[str, Any] | None:
        run = self.items.get(("run", tenant_id, run_id))
        if run is None or run["status"] == "running" or int(run.get("redrive_count", 0)) != previous_count:
            return None
        for ended in ("stopped_at", "output", "failed_node", "error", "cause", "cancelled_by"):
            run.pop(ended, None)
        run.update(fields)
        return dict(run)

    def remove_run(self, tenant_id: str, run_id: str) -> None:
        self.items.pop(("run", tenant_id, run_id), None)

    def add_approval(self, tenant_id: str, run_id: str, approval: dict[str, Any]) -> None:
        self.items[("approval", tenant_id, run_id, approval["node_id"])] = dict(approval)

    def approvals(self, tenant_id: str, run_id: str) -> list[dict[str, Any]]:
        return [v for k, v in self.items.items() if k[:3] == ("approval", tenant_id, run_id)]

    def approval(self, tenant_id: str, run_id: str, node_id: str) -> dict[str, Any] | None:
        return self.items.get(("approval", tenant_id, run_id, node_id))

    def decide(self, tenant_id: str, run_id: str, node_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        found = self.items[("approval", tenant_id, run_id, node_id)]
        if found["status"] != "pending":
            return None
        found.update(fields)
        return dict(found)

    def reopen(self, tenant_id: str, run_id: str, node_id: str) -> None:
        self.items[("approval", tenant_id, run_id, node_id)]["status"] = "pending"

    def add_event(self, tenant_id: str, run_id: str, event: dict[str, Any]) -> None:
        self.items[("event", tenant_id, run_id, f"EVENT#{event['at']}#{event['sequence']}")] = dict(event)

    def events_after(self, tenant_id: str, run_id: str, after: str | None, *, limit: int = 500) -> list[dict[str, Any]]:
        keys = sorted(k for k in self.items
                      if k[:3] == ("event", tenant_id, run_id) and (after is None or k[3] > after))
        return [{**self.items[k], "key": k[3]} for k in keys]


class FakeMachines:
    def __init__(self) -> None:
        self.definitions: dict[str, list[dict[str, Any]]] = {}
        self.alias: dict[str, str] = {}
        self.started: list[tuple[str, str, dict[str, Any]]] = []
        self.status: dict[str, str] = {}
        self.history_events: dict[str, list[dict[str, Any]]] = {}
        self.answers: list[tuple[str, dict[str, Any]]] = []
        self.fail_start = False
        self.failure: dict[str, str | None] = {"error": "Flow.Cancelled", "cause": "stopped"}
        self.entered: list[str] = []
        self.redrives: list[tuple[str, str]] = []
        self.refuse_redrive = False

    def publish(self, name: str, definition: dict[str, Any], *, description: str,
                existing: Published | None) -> Published:
        arn = f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
        self.definitions.setdefault(arn, []).append(definition)
        version = f"{arn}:{len(self.definitions[arn])}"
        self.alias[f"{arn}:live"] = version
        return Published(arn, version, f"{arn}:live")

    def point_alias(self, alias_arn: str, version_arn: str) -> None:
        self.alias[alias_arn] = version_arn

    def delete(self, published: Published) -> None:
        self.definitions.pop(published.state_machine_arn, None)

    def running(self, state_machine_arn: str) -> int:
        return sum(1 for arn, s in self.status.items() if s == "RUNNING" and arn.startswith(
            state_machine_arn.replace(":stateMachine:", ":execution:") + ":"))

    def start(self, target_arn: str, name: str, payload: dict[str, Any]) -> str:
        if self.fail_start:
            raise RuntimeError("ExecutionLimitExceeded")
        self.started.append((target_arn, name, payload))
        base = target_arn.rsplit(":", 1)[0] if target_arn.rsplit(":", 1)[-1].isdigit() else target_arn
        arn = base.replace(":stateMachine:", ":execution:") + f":{name}"
        self.status[arn] = "RUNNING"
        return arn

    def stop(self, execution_arn: str, cause: str) -> None:
        self.status[execution_arn] = "ABORTED"

    def describe(self, execution_arn: str) -> dict[str, Any]:
        return {"status": self.status[execution_arn], "output": None, **self.failure, "stopped_at": NOW}

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return self.history_events.get(execution_arn, [])

    def entered_states(self, execution_arn: str) -> list[str]:
        return self.entered

    def redrive(self, execution_arn: str, client_token: str) -> None:
        if self.refuse_redrive:
            error = RuntimeError("not redrivable")
            error.response = {"Error": {"Code": "ExecutionNotRedrivable",  # type: ignore[attr-defined]
                                        "Message": "more than 14 days ago"}}
            raise error
        self.redrives.append((execution_arn, client_token))
        self.status[execution_arn] = "RUNNING"

    def succeed_task(self, token: str, output: dict[str, Any]) -> None:
        self.answers.append((token, output))

    def fail_task(self, token: str, error: str, cause: str) -> None:
        raise AssertionError("approvals succeed the task either way")


@pytest.fixture
def service() -> FlowService:
    ids = iter(f"{n:026d}" for n in range(1, 1000))
    return FlowService(FakeStore(), FakeMachines(), FlowsConfig(region="us-east-1", name_prefix="crewhouse-flow",
                                                                node_runner_arn="arn:aws:lambda:us-east-1:1:function:r"),
                       clock=lambda: NOW, sleep=lambda s: None, ids=lambda: next(ids))


def machines(service: FlowService) -> FakeMachines:
    assert isinstance(service.machines, FakeMachines)
    return service.machines


def store(service: FlowService) -> FakeStore:
    assert isinstance(service.store, FakeStore)
    return service.store


def test_names_are_tenant_scoped_and_short() -> None:
    one = state_machine_name("crewhouse-flow", "t1", "f" * 26)
    two = state_machine_name("crewhouse-flow", "t2", "f" * 26)
    assert one != two and one.startswith("crewhouse-flow-") and len(one) <= 80
    with pytest.raises(ValueError):
        state_machine_name("crewhouse-flow", "t1", "f" * 60)


def test_the_wrapper_records_a_success_catches_nothing_and_keeps_node_state_names() -> None:
    compiled = {"StartAt": "start", "States": {"start": {"Type": "Pass", "End": True}}}
    wrapped = runnable_definition(compiled, "arn:runner")
    assert wrapped["StartAt"] == RUN_STATE
    assert wrapped["States"][RUN_STATE]["Branches"] == [compiled]
    assert set(wrapped["States"]) == {RUN_STATE, RECORD_SUCCESS}
    assert not [name for name, state in wrapped["States"].items() if "Catch" in state]  # a redrive restarts the node
    assert all("." in name for name in wrapped["States"])  # never a node id


def test_a_save_that_cannot_be_stored_removes_its_state_machine(service: FlowService) -> None:
    store(service).fail_next_write = True
    with pytest.raises(RuntimeError):
        service.create(ALICE, FlowCreate(name="x", graph=FlowGraph.model_validate(simple_flow())))
    assert machines(service).definitions == {}


def test_versions_and_a_lost_race_points_the_alias_back(service: FlowService) -> None:
    flow = service.create(ALICE, FlowCreate.model_validate({"name": "x", "graph": simple_flow()}))
    second = service.update(ALICE, flow.id, FlowUpdate.model_validate({"graph": simple_flow("Poem on {topic}")}), 1)
    assert second.latest_version == 2 and machines(service).alias[flow.alias_arn].endswith(":2")
    assert service.version(ALICE, flow.id, 1).graph.nodes[1].config["prompt"] == "Write about {topic}"
    with pytest.raises(PreconditionFailed):
        service.update(ALICE, flow.id, FlowUpdate(name="y"), 1)
    store(service).fail_next_write = True  # another save won meanwhile: this one's version is not the live one
    with pytest.raises(PreconditionFailed):
        service.update(ALICE, flow.id, FlowUpdate.model_validate({"graph": simple_flow("Song on {topic}")}), None)
    assert machines(service).alias[flow.alias_arn].endswith(":2")
    with pytest.raises(NotFound):
        service.get(EVE, flow.id)


def test_invalid_graph_lists_every_problem(service: FlowService) -> None:
    graph = simple_flow()
    graph["nodes"].append({"id": "x", "kind": "llm", "config": {"prompt": "p", "bogus": 1}})
    with pytest.raises(ValidationProblem) as problem:
        service.create(ALICE, FlowCreate.model_validate({"name": "x", "graph": graph}))
    codes = {e["type"] for e in problem.value.extra["errors"]}
    assert {"invalid_config", "unreachable_node"} <= codes
    assert all(e.get("node_id") == "x" for e in problem.value.extra["errors"])


def test_a_failed_start_leaves_no_run(service: FlowService) -> None:
    flow = service.create(ALICE, FlowCreate.model_validate({"name": "x", "graph": simple_flow()}))
    machines(service).fail_start = True
    with pytest.raises(RuntimeError):
        service.start(ALICE, flow.id, {"topic": "a"})
    assert service.executions(ALICE, flow.id, limit=10, start=None)[0] == []


def test_start_targets_the_version_in_aws_and_the_machine_locally(service: FlowService) -> None:
    flow = service.create(ALICE, FlowCreate.model_validate({"name": "x", "graph": simple_flow()}))
    run = service.start(ALICE, flow.id, {"topic": "a"})
    assert machines(service).started[-1][0] == f"{flow.state_machine_arn}:1"
    assert run.execution_arn.endswith(f":{run.id}") and ":execution:" in run.execution_arn
    local = FlowService(service.store, service.machines, FlowsConfig(
        region="us-east-1", name_prefix="crewhouse-flow", node_runner_arn="r", start_on_state_machine=True),
        clock=lambda: NOW)
    local.start(ALICE, flow.id, {"topic": "b"})
    assert machines(service).started[-1][0] == flow.state_machine_arn


def test_the_end_is_recorded_once_with_the_failed_node(service: FlowService) -> None:
    flow = service.create(ALICE, FlowCreate.model_validate({"name": "x", "graph": simple_flow()}))
    run = service.start(ALICE, flow.id, {"topic": "a"})
    context = RunContext(tenant_id="t1", flow_id=flow.id, flow_version=1, run_id=run.id)
    cause = json.dumps({"errorType": "Flow.NodeFailed", "errorMessage": "node draft failed: tool exploded"})
    service.record_end(context, "failed", error={"Error": "Flow.NodeFailed", "Cause": cause})
    service.record_end(context, "succeeded", output={"end": "end", "output": {}})  # too late: the first end wins
    found = service.execution(ALICE, run.id)
    assert (found.status, found.failed_node, found.error, found.cause, found.output) == (
        "failed", "draft", "Flow.NodeFailed", "tool exploded", None)


def test_a_failure_is_read_from_the_execution_with_its_node(service: FlowService) -> None:
    flow = service.create(ALICE, FlowCreate.model_validate({"name": "x", "graph": simple_flow()}))
    run = service.start(ALICE, flow.id, {"topic": "a"})
    machines(service).status[run.execution_arn] = "FAILED"
    machines(service).failure = {"error": "Flow.NodeFailed", "cause": json.dumps(
        {"errorType": "Flow.NodeFailed", "errorMessage": "node draft failed: tool exploded"})}
    found = service.execution(ALICE, run.id)
    assert (found.status, found.failed_node, found.error, found.cause) == (
        "failed", "draft", "Flow.NodeFailed", "tool exploded")
    recorded = store(service).events_after("t1", run.id, None)
    assert [(e["type"], e["node_id"]) for e in recorded] == [("flow_failed", "draft")]
    service.execution(ALICE, run.id)
    assert len(store(service).events_after("t1", run.id, None)) == 1  # recorded once


def test_a_failure_the_runner_did_not_name_is_the_last_node_entered(service: FlowService) -> None:
    flow = service.create(ALICE, FlowCreate.model_validate({"name": "x", "graph": simple_flow()}))
    run = service.start(ALICE, flow.id, {"topic": "a"})
    machines(service).status[run.execution_arn] = "TIMED_OUT"
    machines(service).failure = {"error": "States.Timeout", "cause": "Task timed out."}
    machines(service).entered = ["each@summarise", "each", "draft", RUN_STATE]
    found = service.execution(ALICE, run.id)
    assert (found.status, found.failed_node, found.error) == ("timed_out", "summarise", "States.Timeout")


def test_a_failed_run_is_redriven_once_per_request(service: FlowService) -> None:
    flow = service.create(ALICE, FlowCreate.model_validate({"name": "x", "graph": simple_flow()}))
    run = service.start(ALICE, flow.id, {"topic": "a"})
    with pytest.raises(Conflict) as running:
        service.redrive(ALICE, run.id)
    assert running.value.slug == "execution-not-failed"
    machines(service).status[run.execution_arn] = "FAILED"
    machines(service).failure = {"error": "Flow.NodeFailed", "cause": "node draft failed: boom"}
    with pytest.raises(NotFound):
        service.redrive(EVE, run.id)
    redriven = service.redrive(ALICE, run.id)
    assert (redriven.status, redriven.redrive_count, redriven.redriven_at, redriven.failed_node) == (
        "running", 1, NOW, None)
    assert machines(service).redrives == [(run.execution_arn, f"{run.id}-redrive-1")]
    recorded = store(service).events_after("t1", run.id, None)  # the same clock: in either order
    assert sorted(e["type"] for e in recorded) == ["flow_failed", "flow_redriven"]
    machines(service).status[run.execution_arn] = "ABORTED"  # a cancelled run can be redriven as well
    assert service.redrive(ALICE, run.id).redrive_count == 2
    assert machines(service).redrives[-1] == (run.execution_arn, f"{run.id}-redrive-2")
    machines(service).status[run.execution_arn] = "SUCCEEDED"
    with pytest.raises(Conflict):
        service.redrive(ALICE, run.id)


def test_a_redrive_is_refused_when_the_flow_changed_or_step_functions_refuses(service: FlowService) -> None:
    flow = service.create(ALICE, FlowCreate.model_validate({"name": "x", "graph": simple_flow()}))
    run = service.start(ALICE, flow.id, {"topic": "a"})
    other = service.start(ALICE, flow.id, {"topic": "b"})
    for execution in (run, other):
        machines(service).status[execution.execution_arn] = "FAILED"
    machines(service).refuse_redrive = True
    with pytest.raises(Conflict) as refused:
        service.redrive(ALICE, run.id)
    assert refused.value.slug == "execution-not-redrivable" and "14 days" in str(refused.value)
    service.update(ALICE, flow.id, FlowUpdate.model_validate({"graph": simple_flow("Poem on {topic}")}), None)
    with pytest.raises(Conflict) as changed:
        service.redrive(ALICE, other.id)
    assert changed.value.slug == "flow-changed"
    assert service.execution(ALICE, other.id).status == "failed"


def test_a_run_stopped_elsewhere_is_reconciled_on_read(service: FlowService) -> None:
    flow = service.create(ALICE, FlowCreate.model_validate({"name": "x", "graph": simple_flow()}))
    run = service.start(ALICE, flow.id, {"topic": "a"})
    machines(service).status[run.execution_arn] = "ABORTED"
    assert service.execution(ALICE, run.id).status == "cancelled"
    with pytest.raises(Conflict):
        service.cancel(ALICE, run.id)


def test_failure_of_reads_states_causes() -> None:
    assert failure_of("Flow.Retryable", "node review failed: timed out") == ("review", "Flow.Retryable", "timed out")
    assert failure_of("States.Runtime", "bad path") == (None, "States.Runtime", "bad path")
    document = json.dumps({"errorType": "Flow.NodeFailed", "errorMessage": "tool exploded"})
    assert failure_of("Flow.NodeFailed", f"node lookup failed: {document}") == (  # a version from before redrive
        "lookup", "Flow.NodeFailed", "tool exploded")


def test_approvals_are_decided_once_and_expire(service: FlowService) -> None:
    flow = service.create(ALICE, FlowCreate.model_validate({"name": "x", "graph": simple_flow()}))
    run = service.start(ALICE, flow.id, {"topic": "a"})
    store(service).add_approval("t1", run.id, {"node_id": "ok", "prompt": "p", "task_token": "tk", "status": "pending",
                                               "requested_at": NOW.isoformat(),
                                               "expires_at": (NOW + timedelta(hours=1)).isoformat()})
    store(service).add_approval("t1", run.id, {"node_id": "old", "prompt": "p", "task_token": "tk2",
                                               "status": "pending", "requested_at": NOW.isoformat(),
                                               "expires_at": (NOW - timedelta(seconds=1)).isoformat()})
    assert service.decide(ALICE, run.id, "ok", True, "fine").status == "approved"
    assert machines(service).answers == [("tk", {"approved": True, "comment": "fine"})]
    with pytest.raises(Conflict):
        service.decide(ALICE, run.id, "ok", False, "")
    with pytest.raises(Problem) as expired:
        service.decide(ALICE, run.id, "old", True, "")
    assert expired.value.status == 410
    with pytest.raises(NotFound):
        service.decide(EVE, run.id, "ok", True, "")


def _history(execution_arn: str) -> list[dict[str, Any]]:
    at = NOW
    return [
        {"id": 1, "type": "ExecutionStarted", "timestamp": at},
        {"id": 2, "previousEventId": 1, "type": "ParallelStateEntered", "timestamp": at,
         "stateEnteredEventDetails": {"name": RUN_STATE}},
        {"id": 3, "previousEventId": 2, "type": "TaskStateEntered", "timestamp": at + timedelta(seconds=1),
         "stateEnteredEventDetails": {"name": "draft"}},
        {"id": 4, "previousEventId": 3, "type": "LambdaFunctionFailed", "timestamp": at + timedelta(seconds=3),
         "lambdaFunctionFailedEventDetails": {"error": "Flow.NodeFailed", "cause": "boom"}},
        {"id": 5, "previousEventId": 4, "type": "ParallelStateFailed", "timestamp": at + timedelta(seconds=4)},
    ]


def test_history_becomes_node_events(service: FlowService) -> None:
    history = _history("x")
    events = history_events(history, history, FlowGraph.model_validate(simple_flow()))
    assert [(e.type, e.node_id) for e in events] == [
        ("execution_started", None), ("node_entered", "draft"), ("node_failed", "draft")]
    assert events[-1].detail == {"error": "Flow.NodeFailed", "cause": "boom"}


def test_events_merge_in_order_and_long_poll_until_something_happens(service: FlowService) -> None:
    flow = service.create(ALICE, FlowCreate.model_validate({"name": "x", "graph": simple_flow()}))
    run = service.start(ALICE, flow.id, {"topic": "a"})
    machines(service).history_events[run.execution_arn] = _history("x")[:3]
    later_event = runner_event(NOW + timedelta(milliseconds=1500), "node_started", "draft", {})
    store(service).add_event("t1", run.id, later_event)
    items, position, status = service.events(ALICE, run.id, None, 0)
    assert [(e.source, e.type) for e in items] == [("execution", "execution_started"), ("execution", "node_entered"),
                                                   ("runner", "node_started")]
    assert status == "running" and position["h"] == 3

    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the execution moves on while the poll waits
        slept.append(seconds)
        machines(service).history_events[run.execution_arn] = _history("x")

    service.sleep = sleep
    later, _, _ = service.events(ALICE, run.id, position, 5)
    assert slept and [(e.type, e.node_id) for e in later] == [("node_failed", "draft")]
    with pytest.raises(NotFound):
        service.events(EVE, run.id, None, 0)


def test_a_redriven_execution_is_followed_again(service: FlowService) -> None:
    flow = service.create(ALICE, FlowCreate.model_validate({"name": "x", "graph": simple_flow()}))
    run = service.start(ALICE, flow.id, {"topic": "a"})
    at_end = NOW + timedelta(seconds=5)
    history = [*_history("x"), {"id": 6, "previousEventId": 5, "type": "ExecutionFailed", "timestamp": at_end},
               {"id": 7, "previousEventId": 6, "type": "ExecutionRedriven", "timestamp": at_end}]
    machines(service).history_events[run.execution_arn] = history
    items, position, status = service.events(ALICE, run.id, None, 0)
    assert [e.type for e in items][-2:] == ["execution_failed", "execution_redriven"] and status == "running"
    slept: list[float] = []
    service.sleep = slept.append
    later, _, status = service.events(ALICE, run.id, position, 0.2)
    assert later == [] and slept and status == "running"  # it waited: the execution runs again
