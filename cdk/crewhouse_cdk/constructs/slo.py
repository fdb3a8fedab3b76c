"""Service level objectives as multi-window, multi-burn-rate alarms (Google SRE workbook, "Alerting on SLOs").

The SLIs are Crewhouse's own EMF metrics (crewhouse.core.business_metrics): every API request of a context
(``ApiRequests``, ``ApiServerErrors``, ``ApiLatency`` under the ``context`` dimension, from the shared HTTP handler)
and the jobs' terminal statuses (``JobsSucceeded``, ``JobsFailed``). Per SLO, two pages:

- fast: the error budget burning at 14.4x over the last hour (2 % of a 30-day budget gone) and still over the last
  5 minutes;
- slow: 6x over the last 6 hours (5 % of the budget) and still over the last 30 minutes.

(The workbook's third pair, 1x over 3 days, is a ticket, not a page; CloudWatch alarms look back at most a day.)

CloudWatch evaluates one period per alarm, so each window is its own metric-math alarm (the burn rate: the error
ratio over the window divided by the budget) and a composite alarm pages when both windows of a pair burn. The
window alarms keep their actions disabled (the topic is on them through :class:`NotifyOnAlarm`, but only the
composite notifies); the composite carries the topic and the runbook.

Latency is an SLO on the share of slow requests rather than an alarm on p95: "95 % of a context's requests answer
within its threshold" has a budget of 5 % slow requests, read with the percentile rank ``PR(:threshold)`` of
``ApiLatency``, and burns like the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from crewhouse.core.business_metrics import API_CONTEXTS, API_LATENCY, API_REQUESTS, API_SERVER_ERRORS, BusinessMetric
from crewhouse_cdk.constructs.business import business_metric, metric
from crewhouse_cdk.constructs.monitoring import runbook

AVAILABILITY_OBJECTIVE = 0.999  # per context: answers that are not 5xx
LATENCY_OBJECTIVE = 0.95  # per context: answers within the context's latency threshold
JOB_SUCCESS_OBJECTIVE = 0.99  # jobs that end succeeded (of succeeded + failed; cancelled ones are neither)
LATENCY_THRESHOLD_MS = 1000
# Contexts whose requests wait on a model by design: a chat turn runs the model and its tools (its own timeout
# is 25 s), an MCP tool call may run a search or an agent.
LATENCY_THRESHOLD_MS_OF = {"chat": 20_000, "mcp": 5_000}


@dataclass(frozen=True)
class BurnWindow:
    """One page of the workbook: ``burn`` times the budget over ``long`` and, still, over ``short``."""

    name: str
    long: cdk.Duration
    short: cdk.Duration
    burn: float


FAST = BurnWindow("Fast", cdk.Duration.hours(1), cdk.Duration.minutes(5), 14.4)
SLOW = BurnWindow("Slow", cdk.Duration.hours(6), cdk.Duration.minutes(30), 6.0)
WINDOWS = (FAST, SLOW)


class ServiceLevelObjectives(Construct):
    """A fast and a slow burn-rate page for API availability and latency per context and for job success."""

    def __init__(self, scope: Construct, construct_id: str, *, topic: sns.ITopic,
                 contexts: tuple[str, ...] = API_CONTEXTS) -> None:
        super().__init__(scope, construct_id)
        self.action = cloudwatch_actions.SnsAction(topic)
        self.pages: list[cloudwatch.CompositeAlarm] = []
        for context in contexts:
            budget = 1 - AVAILABILITY_OBJECTIVE
            self._slo(f"Availability{_pascal(context)}", f"API availability of {context} "
                      f"({AVAILABILITY_OBJECTIVE:.1%} of requests not 5xx)", "slo-api-availability",
                      "errors / requests / {budget}", budget,
                      {"errors": metric(API_SERVER_ERRORS, context, "Sum"),
                       "requests": metric(API_REQUESTS, context, "Sum")})
            threshold = LATENCY_THRESHOLD_MS_OF.get(context, LATENCY_THRESHOLD_MS)
            self._slo(f"Latency{_pascal(context)}", f"API latency of {context} "
                      f"({LATENCY_OBJECTIVE:.0%} of requests within {threshold} ms)", "slo-api-latency",
                      "(100 - within) / 100 / {budget}", 1 - LATENCY_OBJECTIVE,
                      {"within": metric(API_LATENCY, context, f"PR(:{threshold})")})
        self._slo("JobSuccess", f"Job success ({JOB_SUCCESS_OBJECTIVE:.0%} of finished jobs succeed)",
                  "slo-job-success", "FILL(failed, 0) / (FILL(failed, 0) + FILL(succeeded, 0)) / {budget}",
                  1 - JOB_SUCCESS_OBJECTIVE,
                  {"failed": business_metric(BusinessMetric.JOBS_FAILED),
                   "succeeded": business_metric(BusinessMetric.JOBS_SUCCEEDED)})

    def _slo(self, name: str, what: str, anchor: str, burn_expression: str, budget: float,
             metrics: Mapping[str, cloudwatch.IMetric]) -> None:
        expression = burn_expression.format(budget=f"{budget:.4g}")
        for window in WINDOWS:
            alarms = []
            for span, period in (("Long", window.long), ("Short", window.short)):
                burn_rate = cloudwatch.MathExpression(expression=expression, using_metrics=dict(metrics),
                                                      label=f"{name} burn rate over {period.to_human_string()}",
                                                      period=period)
                alarms.append(burn_rate.create_alarm(
                    self, f"{name}{window.name}{span}", threshold=window.burn, evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    alarm_description=runbook(f"{what}: error budget burning over {window.burn}x over "
                                              f"{period.to_human_string()} (one window of the {window.name.lower()}"
                                              " page; the composite alarm notifies)", anchor),
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING, actions_enabled=False,
                ))
            page = cloudwatch.CompositeAlarm(
                self, f"{name}{window.name}Burn", alarm_rule=cloudwatch.AlarmRule.all_of(*alarms),
                alarm_description=runbook(f"{what}: error budget burning over {window.burn}x over "
                                          f"{window.long.to_human_string()} and still over "
                                          f"{window.short.to_human_string()}", anchor))
            page.add_alarm_action(self.action)
            page.add_ok_action(self.action)
            self.pages.append(page)


def _pascal(context: str) -> str:
    return "".join(part.capitalize() for part in context.split("_"))
