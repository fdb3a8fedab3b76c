"""Flows: defined (validated, compiled, published as a state machine version), changed, run end to end in Step
Functions, and their executions read, approved, cancelled and redriven."""

from __future__ import annotations

from typing import Any

from tests.cost.catalog import Context, Effect, Metered
from tests.cost.operations.agents_support import kept, ok, unique, wait_until
from tests.support.flows import approval_flow, failing_flow, simple_flow

APPROVAL_INPUT = {"topic": "solar batteries", "items": ["cells"]}


def _execution_ended(ctx: Context, arn: str) -> Effect:
    sfn = ctx.meter.client("stepfunctions")
    return lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING"


def _new_flow(ctx: Context, graph: dict[str, Any] | None = None) -> dict[str, Any]:
    return dict(ok(ctx.api.post("/flows", json={"name": unique("flow"), "graph": graph or simple_flow()},
                                headers=ctx.headers), 201))


def flow(ctx: Context, kind: str = "simple") -> dict[str, Any]:
    """The tenant's flow of each kind, made once: simple (start, llm, end), approval, failing."""
    flows: dict[str, dict[str, Any]] = ctx.state.setdefault("flows", {})
    if kind not in flows:
        graph = {"simple": simple_flow, "approval": approval_flow, "failing": failing_flow}[kind]()
        flows[kind] = _new_flow(ctx, graph)
    return flows[kind]


def _start(ctx: Context, kind: str, values: dict[str, Any]) -> dict[str, Any]:
    return dict(ok(ctx.api.post(f"/flows/{flow(ctx, kind)['id']}/executions", json={"input": values},
                                headers=ctx.headers), 201))


def _execution(ctx: Context, run_id: str) -> dict[str, Any]:
    return dict(ok(ctx.api.get(f"/executions/{run_id}", headers=ctx.headers)))


def _ended(ctx: Context, run: dict[str, Any]) -> dict[str, Any]:
    return dict(wait_until(lambda: (e := _execution(ctx, run["id"]))["status"] != "running" and e,
                           what="the execution's end"))


def _finished_execution(ctx: Context) -> dict[str, Any]:
    return dict(kept(ctx, "flow_run", lambda: _ended(ctx, _start(ctx, "simple", {"topic": "wind"}))))


def _awaiting_approval(ctx: Context) -> dict[str, Any]:
    run = _start(ctx, "approval", APPROVAL_INPUT)

    def pending() -> bool:
        found = ok(ctx.api.get(f"/executions/{run['id']}/approvals", headers=ctx.headers))
        return bool(found) and found[0]["status"] == "pending"

    wait_until(pending, what="the flow's approval request")
    return run


def _failed_execution(ctx: Context) -> dict[str, Any]:
    failed = _ended(ctx, _start(ctx, "failing", {"topic": "anything"}))
    assert failed["status"] == "failed", failed
    return failed


# --- flows -------------------------------------------------------------------------------------------------


def create_flow(ctx: Context, _: Any) -> Effect:
    _new_flow(ctx)
    return None


def list_flows(ctx: Context, _: Any) -> Effect:
    flow(ctx)
    assert ok(ctx.api.get("/flows", headers=ctx.headers))["items"]
    return None


def get_flow(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.get(f"/flows/{flow(ctx)['id']}", headers=ctx.headers))
    return None


def change_flow(ctx: Context, found: dict[str, Any]) -> Effect:
    ok(ctx.api.patch(f"/flows/{found['id']}", json={"graph": simple_flow("Write briefly about {topic}")},
                     headers=ctx.headers))
    return None


def delete_flow(ctx: Context, found: dict[str, Any]) -> Effect:
    ok(ctx.api.delete(f"/flows/{found['id']}", headers=ctx.headers), 204)
    return None


def list_versions(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.get(f"/flows/{flow(ctx)['id']}/versions", headers=ctx.headers))
    return None


def get_version(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.get(f"/flows/{flow(ctx)['id']}/versions/1", headers=ctx.headers))
    return None


def run_flow(ctx: Context, _: Any) -> Effect:
    started = _start(ctx, "simple", {"topic": "solar batteries"})
    return _execution_ended(ctx, started["execution_arn"])


def list_executions(ctx: Context, _: Any) -> Effect:
    _finished_execution(ctx)
    ok(ctx.api.get(f"/flows/{flow(ctx)['id']}/executions", headers=ctx.headers))
    return None


# --- executions --------------------------------------------------------------------------------------------


def get_execution(ctx: Context, run: dict[str, Any]) -> Effect:
    _execution(ctx, run["id"])
    return None


def execution_events(ctx: Context, run: dict[str, Any]) -> Effect:
    assert ok(ctx.api.get(f"/executions/{run['id']}/events", headers=ctx.headers))["items"]
    return None


def list_approvals(ctx: Context, run: dict[str, Any]) -> Effect:
    assert ok(ctx.api.get(f"/executions/{run['id']}/approvals", headers=ctx.headers))
    return None


def approve(ctx: Context, run: dict[str, Any]) -> Effect:
    ok(ctx.api.post(f"/executions/{run['id']}/approvals/review/approve", json={}, headers=ctx.headers))
    return _execution_ended(ctx, run["execution_arn"])


def reject(ctx: Context, run: dict[str, Any]) -> Effect:
    ok(ctx.api.post(f"/executions/{run['id']}/approvals/review/reject", json={"comment": "too early"},
                    headers=ctx.headers))
    return _execution_ended(ctx, run["execution_arn"])


def cancel_execution(ctx: Context, run: dict[str, Any]) -> Effect:
    assert ok(ctx.api.post(f"/executions/{run['id']}/cancel", headers=ctx.headers))["status"] == "cancelled"
    return _execution_ended(ctx, run["execution_arn"])


def redrive_execution(ctx: Context, run: dict[str, Any]) -> Effect:
    ok(ctx.api.post(f"/executions/{run['id']}/redrive", headers=ctx.headers))
    return _execution_ended(ctx, run["execution_arn"])  # it fails again at the same node: nobody registered it


METERED: list[Metered] = [
    Metered("create a flow (compiled, published)", ("POST /flows",), create_flow),
    Metered("list flows", ("GET /flows",), list_flows),
    Metered("get a flow", ("GET /flows/{flow_id}",), get_flow),
    Metered("change a flow's graph (next version)", ("PATCH /flows/{flow_id}",), change_flow, _new_flow),
    Metered("delete a flow", ("DELETE /flows/{flow_id}",), delete_flow, _new_flow),
    Metered("a flow's versions", ("GET /flows/{flow_id}/versions",), list_versions),
    Metered("one version of a flow", ("GET /flows/{flow_id}/versions/{number}",), get_version),
    Metered("3-node flow execution, end to end", ("POST /flows/{flow_id}/executions",), run_flow),
    Metered("a flow's executions", ("GET /flows/{flow_id}/executions",), list_executions),
    Metered("get an execution", ("GET /executions/{execution_id}",), get_execution, _finished_execution),
    Metered("an execution's events", ("GET /executions/{execution_id}/events",), execution_events,
            _finished_execution),
    Metered("an execution's approvals", ("GET /executions/{execution_id}/approvals",), list_approvals,
            _awaiting_approval),
    Metered("approve, the flow runs to its end", ("POST /executions/{execution_id}/approvals/{node_id}/approve",),
            approve, _awaiting_approval),
    Metered("reject, the flow runs to its end", ("POST /executions/{execution_id}/approvals/{node_id}/reject",),
            reject, _awaiting_approval),
    Metered("cancel a waiting execution", ("POST /executions/{execution_id}/cancel",), cancel_execution,
            _awaiting_approval),
    Metered("redrive a failed execution, to its next failure", ("POST /executions/{execution_id}/redrive",),
            redrive_execution, _failed_execution),
]
