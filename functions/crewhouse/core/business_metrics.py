"""Business and API-request metrics: their names, units and dimensions, in one place (read by the CDK SLOs too).

Each fact is one CloudWatch embedded-metric-format (EMF) log line, written when it becomes true: no AWS request.
Dimensions are ``service`` and ``context`` only. Every distinct dimension set is a separate custom metric (about
$0.30 a month each), so a tenant dimension would make the bill grow with the tenants; the tenant id goes into the
record as an EMF property instead (not a dimension), findable with Logs Insights.

A business fact is written at once (``single_metric``) rather than gathered into the invocation's shared
metric set: each record then carries its own tenant, a batch of records from several tenants cannot mix them,
and nothing waits on a flush.
"""

from __future__ import annotations

from enum import StrEnum

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from crewhouse.core.observability import metrics

NAMESPACE = "Crewhouse"
SERVICE = "crewhouse"
TENANT_PROPERTY = "tenant_id"


class BusinessMetric(StrEnum):
    TASKS_CREATED = "TasksCreated"
    TASKS_COMPLETED = "TasksCompleted"
    NOTES_WRITTEN = "NotesWritten"
    FILES_UPLOADED = "FilesUploaded"
    JOBS_SUBMITTED = "JobsSubmitted"
    JOBS_SUCCEEDED = "JobsSucceeded"
    JOBS_FAILED = "JobsFailed"
    JOB_DURATION = "JobDuration"  # submit to the terminal status, in ms (succeeded and failed alike)
    CHAT_TURNS = "ChatTurns"
    CHAT_TOOL_CALLS = "ChatToolCalls"


# The context (dimension) each business metric belongs to.
CONTEXT_OF: dict[BusinessMetric, str] = {
    BusinessMetric.TASKS_CREATED: "tasks", BusinessMetric.TASKS_COMPLETED: "tasks",
    BusinessMetric.NOTES_WRITTEN: "notes", BusinessMetric.FILES_UPLOADED: "files",
    BusinessMetric.JOBS_SUBMITTED: "jobs", BusinessMetric.JOBS_SUCCEEDED: "jobs", BusinessMetric.JOBS_FAILED: "jobs",
    BusinessMetric.JOB_DURATION: "jobs", BusinessMetric.CHAT_TURNS: "chat", BusinessMetric.CHAT_TOOL_CALLS: "chat",
}
UNIT_OF: dict[BusinessMetric, MetricUnit] = {
    metric: MetricUnit.Milliseconds if metric is BusinessMetric.JOB_DURATION else MetricUnit.Count
    for metric in BusinessMetric
}

# Every API request, from the shared HTTP handler (crewhouse.core.http): the SLIs of the API SLOs (cdk slo.py).
API_REQUESTS = "ApiRequests"
API_SERVER_ERRORS = "ApiServerErrors"  # 1 for a 5xx answer (or an escaping exception), else 0
API_LATENCY = "ApiLatency"  # ms, in the handler
# The contexts whose HTTP handlers emit them: the package after ``crewhouse.`` of the handler's routes.
API_CONTEXTS = ("platform", "tasks", "notes", "files", "jobs", "chat", "mcp", "bus", "crews", "flows",
                "notifications", "providers", "tool_registry")


def dimensions(context: str) -> dict[str, str]:
    return {"service": SERVICE, "context": context}


def record(metric: BusinessMetric, tenant_id: str, value: float = 1) -> None:
    """Write one business fact as its own EMF record (the tenant as a property, not a dimension)."""
    if is_metrics_disabled():  # single_metric itself would print regardless
        return
    with single_metric(name=metric.value, unit=UNIT_OF[metric], value=value, namespace=NAMESPACE,
                       default_dimensions=dimensions(CONTEXT_OF[metric])) as fact:
        fact.add_metadata(TENANT_PROPERTY, tenant_id)


def record_request(context: str, status: int, latency_ms: float) -> None:
    """An API request into the invocation's metric set, flushed by the handler's ``log_metrics``."""
    if is_metrics_disabled():  # a disabled flush never clears the set: it would only grow (the local cloud)
        return
    metrics.add_dimension(name="context", value=context)
    metrics.add_metric(name=API_REQUESTS, unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=API_SERVER_ERRORS, unit=MetricUnit.Count, value=1 if status >= 500 else 0)
    metrics.add_metric(name=API_LATENCY, unit=MetricUnit.Milliseconds, value=latency_ms)
