"""Flows HTTP API, executions: start and list a flow's executions, read, cancel and redrive one, decide its human
approvals, and follow its progress (long-polling).

No ``from __future__ import annotations`` here: FastAPI reads the signatures at import.
"""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.http import IdempotencyKey, PageParams, Writer, create_app, lambda_handler
from crewhouse.core.idempotency import run_idempotent
from crewhouse.core.pagination import Page
from crewhouse.flows.dependencies import Member, Service, Settings
from crewhouse.flows.models import Approval, ApprovalDecision, Execution, ExecutionEvents, ExecutionStart

router = APIRouter(tags=["flows: executions"])


@router.post("/flows/{flow_id}/executions", status_code=201, response_model=Execution,
             summary="Start an execution of the flow's live version (the input is checked against the start node)")
def start_execution(flow_id: str, body: ExecutionStart, identity: Writer, service: Service, settings: Settings,
                    request: Request, response: Response, idempotency_key: IdempotencyKey = None) -> Execution:
    result = run_idempotent(settings, identity, f"start-flow-{flow_id}", idempotency_key,
                            body.model_dump(mode="json"),
                            lambda: service.start(identity, flow_id, body.input).model_dump(mode="json"),
                            request.scope.get("aws.context"))
    execution = Execution.model_validate(result)
    response.headers["Location"] = f"/executions/{execution.id}"
    return execution


@router.get("/flows/{flow_id}/executions", response_model=Page[Execution],
            summary="The flow's executions, newest first")
def list_executions(flow_id: str, identity: Member, service: Service, settings: Settings,
                    page: PageParams) -> Page[Execution]:
    scope = cursor_scope(identity, "flow-executions", {"flow": flow_id})
    items, resume = service.executions(identity, flow_id, limit=page.limit,
                                       start=page_start(settings, page.cursor, scope))
    return Page[Execution](items=items, next_cursor=page_next(settings, resume, scope))


@router.get("/executions/{execution_id}", response_model=Execution,
            summary="An execution: status, output, the node that failed and why, the console URL")
def get_execution(execution_id: str, identity: Member, service: Service) -> Execution:
    return service.execution(identity, execution_id)


@router.post("/executions/{execution_id}/cancel", response_model=Execution,
             summary="Cancel a running execution (StopExecution)")
def cancel_execution(execution_id: str, identity: Writer, service: Service) -> Execution:
    return service.cancel(identity, execution_id)


@router.post("/executions/{execution_id}/redrive", response_model=Execution,
             summary="Redrive a failed, cancelled or timed-out execution (RedriveExecution): the same execution "
                     "continues from the node that failed; 409 when it has not ended so, or the flow changed since")
def redrive_execution(execution_id: str, identity: Writer, service: Service) -> Execution:
    return service.redrive(identity, execution_id)


@router.get("/executions/{execution_id}/approvals", response_model=list[Approval],
            summary="The execution's human approvals, pending and decided")
def list_approvals(execution_id: str, identity: Member, service: Service) -> list[Approval]:
    return service.approvals(identity, execution_id)


@router.post("/executions/{execution_id}/approvals/{node_id}/approve", response_model=Approval,
             summary="Approve a pending human approval (once; 409 when already decided)")
def approve(execution_id: str, node_id: str, body: ApprovalDecision, identity: Writer,
            service: Service) -> Approval:
    return service.decide(identity, execution_id, node_id, True, body.comment)


@router.post("/executions/{execution_id}/approvals/{node_id}/reject", response_model=Approval,
             summary="Reject a pending human approval with a comment (the flow continues with approved=false)")
def reject(execution_id: str, node_id: str, body: ApprovalDecision, identity: Writer,
           service: Service) -> Approval:
    return service.decide(identity, execution_id, node_id, False, body.comment)


@router.get("/executions/{execution_id}/events", response_model=ExecutionEvents,
            summary="Progress in order (the execution's history and the node runner's events); long-polls up to "
                    "`wait` seconds for something after `after`")
def execution_events(execution_id: str, identity: Member, service: Service, settings: Settings,
                     after: Annotated[str | None, Query(max_length=2048)] = None,
                     wait: Annotated[int, Query(ge=0, le=20)] = 0) -> ExecutionEvents:
    scope = cursor_scope(identity, "execution-events", {"execution": execution_id})
    position = page_start(settings, after, scope)
    items, reached, status = service.events(identity, execution_id, position,
                                            min(wait, settings.events_max_wait_seconds))
    return ExecutionEvents(items=items, next=page_next(settings, reached, scope) or "", status=status)




app = create_app("Crewhouse flow executions", [router],
                 description="Executions of flows: progress, approvals, cancel, redrive")
handler = lambda_handler(app, __name__)
