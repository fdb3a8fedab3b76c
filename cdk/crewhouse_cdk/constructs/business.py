"""Crewhouse's own metrics (crewhouse.core.business_metrics) as CloudWatch metrics, and the dashboard's business row."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch

from crewhouse.core.business_metrics import CONTEXT_OF, NAMESPACE, BusinessMetric, dimensions

FIVE_MINUTES = cdk.Duration.minutes(5)


def metric(name: str, context: str, statistic: str, period: cdk.Duration = FIVE_MINUTES) -> cloudwatch.Metric:
    """One of Crewhouse's EMF metrics, by the dimensions every record carries (service and context)."""
    return cloudwatch.Metric(namespace=NAMESPACE, metric_name=name, dimensions_map=dimensions(context),
                             statistic=statistic, period=period)


def business_metric(fact: BusinessMetric, statistic: str = "Sum") -> cloudwatch.Metric:
    return metric(fact.value, CONTEXT_OF[fact], statistic).with_(label=fact.value)


def business_widgets() -> list[cloudwatch.IWidget]:
    """The dashboard's business row: what the users did, and how the jobs went."""
    def sums(*facts: BusinessMetric) -> list[cloudwatch.IMetric]:
        return [business_metric(fact) for fact in facts]

    return [
        cloudwatch.GraphWidget(title="Tasks and notes", left=sums(
            BusinessMetric.TASKS_CREATED, BusinessMetric.TASKS_COMPLETED, BusinessMetric.NOTES_WRITTEN)),
        cloudwatch.GraphWidget(title="Files uploaded", left=sums(BusinessMetric.FILES_UPLOADED)),
        cloudwatch.GraphWidget(title="Jobs", left=sums(
            BusinessMetric.JOBS_SUBMITTED, BusinessMetric.JOBS_SUCCEEDED, BusinessMetric.JOBS_FAILED),
            right=[business_metric(BusinessMetric.JOB_DURATION, "p50").with_(label="JobDuration p50"),
                   business_metric(BusinessMetric.JOB_DURATION, "p95").with_(label="JobDuration p95")]),
        cloudwatch.GraphWidget(title="Chat", left=sums(BusinessMetric.CHAT_TURNS, BusinessMetric.CHAT_TOOL_CALLS)),
    ]
