"""Flows HTTP API, the flows themselves (``/flows``): create, read, change, delete, and their saved versions.

No ``from __future__ import annotations`` here: FastAPI reads the signatures at import.
"""

from fastapi import APIRouter, Request, Response

from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.etag import etag_for, parse_if_match
from crewhouse.core.http import IdempotencyKey, IfMatch, PageParams, Writer, create_app, lambda_handler
from crewhouse.core.idempotency import run_idempotent
from crewhouse.core.pagination import Page
from crewhouse.flows.dependencies import Member, Service, Settings
from crewhouse.flows.models import Flow, FlowCreate, FlowUpdate, FlowVersion

router = APIRouter(tags=["flows"])


def _flow_response(flow: Flow, response: Response) -> Flow:
    response.headers["ETag"] = etag_for(flow.version)
    return flow


@router.post("/flows", status_code=201, response_model=Flow,
             summary="Create a flow: the graph is validated (every problem at once), compiled and published as "
                     "version 1 of its state machine behind the `live` alias")
def create_flow(body: FlowCreate, identity: Writer, service: Service, settings: Settings, request: Request,
                response: Response, idempotency_key: IdempotencyKey = None) -> Flow:
    result = run_idempotent(settings, identity, "create-flow", idempotency_key, body.model_dump(mode="json"),
                            lambda: service.create(identity, body).model_dump(mode="json"),
                            request.scope.get("aws.context"))
    flow = Flow.model_validate(result)
    response.headers["Location"] = f"/flows/{flow.id}"
    return _flow_response(flow, response)


@router.get("/flows", response_model=Page[Flow], summary="The workspace's flows")
def list_flows(identity: Member, service: Service, settings: Settings, page: PageParams) -> Page[Flow]:
    scope = cursor_scope(identity, "flows")
    items, resume = service.list_flows(identity, limit=page.limit, start=page_start(settings, page.cursor, scope))
    return Page[Flow](items=items, next_cursor=page_next(settings, resume, scope))


@router.get("/flows/{flow_id}", response_model=Flow, summary="A flow, its graph and its live version")
def get_flow(flow_id: str, identity: Member, service: Service, response: Response) -> Flow:
    return _flow_response(service.get(identity, flow_id), response)


@router.patch("/flows/{flow_id}", response_model=Flow,
              summary="Change a flow; a new graph is validated, compiled and published as the next version")
def update_flow(flow_id: str, body: FlowUpdate, identity: Writer, service: Service, response: Response,
                if_match: IfMatch = None) -> Flow:
    return _flow_response(service.update(identity, flow_id, body, parse_if_match(if_match)), response)


@router.delete("/flows/{flow_id}", status_code=204,
               summary="Delete a flow, its state machine and alias (409 while an execution runs: cancel it first)")
def delete_flow(flow_id: str, identity: Writer, service: Service, if_match: IfMatch = None) -> Response:
    service.delete(identity, flow_id, parse_if_match(if_match))
    return Response(status_code=204)


@router.get("/flows/{flow_id}/versions", response_model=Page[FlowVersion],
            summary="The flow's saved versions, newest first (immutable)")
def list_versions(flow_id: str, identity: Member, service: Service, settings: Settings,
                  page: PageParams) -> Page[FlowVersion]:
    scope = cursor_scope(identity, "flow-versions", {"flow": flow_id})
    items, resume = service.versions(identity, flow_id, limit=page.limit,
                                     start=page_start(settings, page.cursor, scope))
    return Page[FlowVersion](items=items, next_cursor=page_next(settings, resume, scope))


@router.get("/flows/{flow_id}/versions/{number}", response_model=FlowVersion,
            summary="One saved version with its compiled Amazon States Language definition")
def get_version(flow_id: str, number: int, identity: Member, service: Service) -> FlowVersion:
    return service.version(identity, flow_id, number)



app = create_app("Crewhouse flows", [router], description="Flows compiled to Step Functions, and their versions")
handler = lambda_handler(app, __name__)
