"""Crews HTTP API (``/crews``): CRUD with If-Match, and runs: a test run with sample inputs (a Step Functions
execution of the crew-run state machine, with its console URL), the runs, and cancelling one (StopExecution).

No ``from __future__ import annotations`` here: FastAPI reads every route's signature at import.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.http import (
    IdempotencyKey,
    IfMatch,
    PageParams,
    Reader,
    Writer,
    create_app,
    lambda_handler,
    with_etag,
)
from crewhouse.core.idempotency import run_idempotent
from crewhouse.core.pagination import Page
from crewhouse.core.settings import load_settings
from crewhouse.crews.logic import CrewService, crew_view
from crewhouse.crews.models import Crew, CrewCreate, CrewRun, CrewRunRequest, CrewUpdate
from crewhouse.crews.settings import CrewsSettings
from crewhouse.crews.wiring import crew_service

router = APIRouter(tags=["crews"])


def crews_settings() -> CrewsSettings:
    return load_settings(CrewsSettings)


def service(settings: Annotated[CrewsSettings, Depends(crews_settings)]) -> CrewService:
    return crew_service(settings)


Settings = Annotated[CrewsSettings, Depends(crews_settings)]
Service = Annotated[CrewService, Depends(service)]


@router.post("/crews", status_code=201, response_model=Crew,
             summary="Define a crew: members, process, manager and ordered tasks (every problem listed at once)")
def create_crew(body: CrewCreate, identity: Writer, crews: Service, settings: Settings, request: Request,
                response: Response, idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    view = run_idempotent(settings, identity, "crews.create", idempotency_key, body.model_dump(mode="json"),
                          lambda: crews.create(identity, body), request.scope.get("aws.context"))
    response.headers["Location"] = f"/crews/{view['id']}"
    return with_etag(response, view)


@router.get("/crews", response_model=Page[Crew], summary="The tenant's crews")
def list_crews(identity: Reader, crews: Service, settings: Settings, page: PageParams) -> dict[str, Any]:
    scope = cursor_scope(identity, "crews")
    items, resume = crews.store.crews_page(identity.tenant_id, limit=page.limit,
                                           start=page_start(settings, page.cursor, scope))
    return {"items": [crew_view(item) for item in items], "next_cursor": page_next(settings, resume, scope)}


@router.get("/crews/{crew_id}", response_model=Crew, summary="A crew")
def get_crew(crew_id: str, identity: Reader, crews: Service, response: Response) -> dict[str, Any]:
    return with_etag(response, crew_view(crews.find(identity, crew_id)))


@router.put("/crews/{crew_id}", response_model=Crew,
            summary="Change a crew (If-Match: its version; 412 when stale); runs under way keep their definition")
def update_crew(crew_id: str, body: CrewUpdate, identity: Writer, crews: Service, response: Response,
                if_match: IfMatch = None) -> dict[str, Any]:
    return with_etag(response, crews.update(identity, crew_id, body, if_match))


@router.delete("/crews/{crew_id}", status_code=204, summary="Delete a crew (If-Match honoured)")
def delete_crew(crew_id: str, identity: Writer, crews: Service, if_match: IfMatch = None) -> Response:
    crews.delete(identity, crew_id, if_match)
    return Response(status_code=204)


@router.post("/crews/{crew_id}/test", status_code=202, response_model=CrewRun,
             summary="Run the crew with sample inputs: a Step Functions execution (its ARN and console URL)")
def test_crew(crew_id: str, identity: Writer, crews: Service, settings: Settings, request: Request,
              response: Response, body: CrewRunRequest | None = None,
              idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    inputs = body.inputs if body is not None else {}
    view = run_idempotent(settings, identity, f"crews.test.{crew_id}", idempotency_key, {"inputs": inputs},
                          lambda: crews.start_run(identity, crew_id, inputs), request.scope.get("aws.context"))
    response.headers["Location"] = f"/crews/{crew_id}/runs/{view['id']}"
    return view


@router.get("/crews/{crew_id}/runs", response_model=Page[CrewRun], summary="The crew's runs, newest first")
def list_runs(crew_id: str, identity: Reader, crews: Service, settings: Settings, page: PageParams) -> dict[str, Any]:
    scope = cursor_scope(identity, "crew-runs", {"crew": crew_id})
    items, resume = crews.runs(identity, crew_id, limit=page.limit, start=page_start(settings, page.cursor, scope))
    return {"items": items, "next_cursor": page_next(settings, resume, scope)}


@router.get("/crews/{crew_id}/runs/{run_id}", response_model=CrewRun,
            summary="A run: status, each task's output, agents and tools used, tokens, and why it failed")
def get_run(crew_id: str, run_id: str, identity: Reader, crews: Service) -> dict[str, Any]:
    return crews.run(identity, crew_id, run_id)


@router.post("/crews/{crew_id}/runs/{run_id}/cancel", response_model=CrewRun,
             summary="Cancel a running run (StopExecution); 409 when it already ended")
def cancel_run(crew_id: str, run_id: str, identity: Writer, crews: Service) -> dict[str, Any]:
    return crews.cancel(identity, crew_id, run_id)


@router.delete("/crews/{crew_id}/runs/{run_id}", response_model=CrewRun,
               summary="Cancel a running run (StopExecution), as POST …/cancel does")
def stop_run(crew_id: str, run_id: str, identity: Writer, crews: Service) -> dict[str, Any]:
    return crews.cancel(identity, crew_id, run_id)


app = create_app("Crewhouse crews", [router])
handler = lambda_handler(app, __name__)
