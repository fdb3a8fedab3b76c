"""Jobs HTTP API (``/jobs``): parse, call the service, shape the response."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from crewhouse.core.cursors import cursor_scope, page_next, page_start
from crewhouse.core.http import IdempotencyKey, create_app, current_identity, lambda_handler
from crewhouse.core.idempotency import run_idempotent
from crewhouse.core.identity import Identity, require_admin
from crewhouse.core.pagination import Page, PageRequest, page_request
from crewhouse.core.settings import load_settings
from crewhouse.jobs.adapters import job_service
from crewhouse.jobs.logic import JobService
from crewhouse.jobs.models import (
    Job,
    JobSubmit,
    JobTimeline,
    JobTypeInfo,
    Status,
    WebSearchKey,
    WebSearchSetting,
)
from crewhouse.jobs.registry import get_type, type_names
from crewhouse.jobs.search_keys import TenantSearchKeys
from crewhouse.jobs.settings import JobsSettings

router = APIRouter(tags=["jobs"])
CurrentIdentity = Annotated[Identity, Depends(current_identity)]


def jobs_settings() -> JobsSettings:
    return load_settings(JobsSettings)


Settings = Annotated[JobsSettings, Depends(jobs_settings)]


def service_dependency(settings: Settings) -> JobService:
    return job_service(settings)


Service = Annotated[JobService, Depends(service_dependency)]


@router.post("/jobs", status_code=202, response_model=Job, summary="Submit an agent job")
def submit_job(body: JobSubmit, identity: CurrentIdentity, service: Service, settings: Settings, request: Request,
               response: Response, idempotency_key: IdempotencyKey = None) -> Job:
    result = run_idempotent(settings, identity, "submit-job", idempotency_key, body.model_dump(mode="json"),
                            lambda: service.submit(identity, body).model_dump(mode="json"),
                            request.scope.get("aws.context"))
    job = Job.model_validate(result)
    response.headers["Location"] = f"/jobs/{job.id}"
    return job


@router.get("/jobs", response_model=Page[Job], summary="List my jobs, newest first")
def list_jobs(identity: CurrentIdentity, service: Service, settings: Settings,
              page: Annotated[PageRequest, Depends(page_request)], status: Status | None = None,
              type: Annotated[str | None, Query(max_length=64)] = None) -> Page[Job]:
    scope = cursor_scope(identity, "jobs", {"status": status, "type": type})
    items, last = service.list_jobs(identity, limit=page.limit, start=page_start(settings, page.cursor, scope),
                                    status=status, job_type=type)
    return Page[Job](items=items, next_cursor=page_next(settings, last, scope))


@router.get("/jobs/types", response_model=list[JobTypeInfo], summary="Job types and their params schemas")
def job_types(identity: CurrentIdentity) -> list[JobTypeInfo]:
    found = [get_type(name) for name in type_names()]
    return [JobTypeInfo(name=t.name, description=t.description, params_schema=t.params_model.model_json_schema())
            for t in found if t is not None]


def search_keys(settings: Settings) -> TenantSearchKeys:
    from crewhouse.core.aws import aws_client

    return TenantSearchKeys(aws_client("secretsmanager", settings), settings.web_search_keys_prefix)


SearchKeys = Annotated[TenantSearchKeys, Depends(search_keys)]


def _web_search_setting(identity: Identity, keys: TenantSearchKeys, settings: JobsSettings) -> WebSearchSetting:
    changed = keys.changed_at(identity.tenant_id)
    return WebSearchSetting(configured=changed is not None, updated_at=changed, endpoint=settings.web_search_endpoint)


@router.get("/research/web-search", response_model=WebSearchSetting,
            summary="Whether research jobs read the web (the workspace's search key is never shown)")
def web_search_setting(identity: CurrentIdentity, keys: SearchKeys, settings: Settings) -> WebSearchSetting:
    return _web_search_setting(identity, keys, settings)


@router.put("/research/web-search", response_model=WebSearchSetting,
            summary="Set the workspace's web search API key (admins; write-only)")
def set_web_search_key(body: WebSearchKey, identity: CurrentIdentity, keys: SearchKeys,
                       settings: Settings) -> WebSearchSetting:
    require_admin(identity, "set the workspace's web search key")
    keys.put(identity.tenant_id, body.api_key.get_secret_value())
    return _web_search_setting(identity, keys, settings)


@router.delete("/research/web-search", status_code=204,
               summary="Remove the workspace's web search key: research keeps to your notes and files (admins)")
def remove_web_search_key(identity: CurrentIdentity, keys: SearchKeys) -> Response:
    require_admin(identity, "remove the workspace's web search key")
    keys.delete(identity.tenant_id)
    return Response(status_code=204)


@router.get("/jobs/dead-letters", response_model=Page[Job], summary="Dead-lettered jobs of the tenant (admins)")
def dead_letters(identity: CurrentIdentity, service: Service,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Page[Job]:
    return Page[Job](items=service.dead_letters(identity, limit))


@router.get("/jobs/{job_id}", response_model=Job, summary="A job: status, progress, ETA, result, execution")
def get_job(job_id: str, identity: CurrentIdentity, service: Service) -> Job:
    return service.get(identity, job_id)


@router.post("/jobs/{job_id}/cancel", response_model=Job, summary="Cancel a scheduled, queued or running job")
def cancel_job(job_id: str, identity: CurrentIdentity, service: Service) -> Job:
    return service.cancel(identity, job_id)


@router.get("/jobs/{job_id}/events", response_model=JobTimeline, summary="The execution's history as a timeline")
def job_events(job_id: str, identity: CurrentIdentity, service: Service) -> JobTimeline:
    return service.timeline(identity, job_id)


@router.post("/jobs/{job_id}/redrive", status_code=202, response_model=Job, summary="Run a failed job again (admins)")
def redrive_job(job_id: str, identity: CurrentIdentity, service: Service) -> Job:
    return service.redrive(identity, job_id)


app = create_app("Crewhouse jobs", [router], description="Agent jobs on SQS and Step Functions")
handler = lambda_handler(app, __name__)
