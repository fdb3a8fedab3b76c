"""Alarms (API 5xx, Lambda errors per function and throttles per group of functions) and one dashboard; every
alarm names its runbook (docs/runbooks.md) and notifies the alarms topic (:class:`NotifyOnAlarm`)."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
import jsii
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from crewhouse_cdk.constructs.business import business_widgets
from crewhouse_cdk.stage import staged_name

FIVE_MINUTES = cdk.Duration.minutes(5)
RUNBOOKS = "docs/runbooks.md"


def runbook(description: str, anchor: str) -> str:
    """An alarm's description: what fired, then the runbook section to read (an anchor of docs/runbooks.md)."""
    return f"{description}. Runbook: {RUNBOOKS}#{anchor}"


@jsii.implements(cdk.IAspect)
class NotifyOnAlarm:
    """Every alarm in the scope it is added to (nested stacks included) notifies ``topic`` when it fires and when
    it recovers: an alarm made anywhere later reaches a person without each construct remembering to."""

    def __init__(self, topic: sns.ITopic) -> None:
        self.action = cloudwatch_actions.SnsAction(topic)

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, cloudwatch.Alarm):
            node.add_alarm_action(self.action)
            node.add_ok_action(self.action)
# Throttles alarm by groups of functions (one metric-math sum each, at most 10 metrics an alarm allows): an alarm
# per function cost one CloudFormation resource each, and the stack is near CloudFormation's 500. Errors keep an
# alarm per function (a fault names its function); a throttle is an account concurrency matter, named in the
# alarm's description with the group's functions.
THROTTLE_GROUP_SIZE = 10


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, api: apigwv2.HttpApi,
                 functions: Mapping[str, lambda_.IFunction],
                 dead_letter_queues: Mapping[str, sqs.IQueue] | None = None,
                 expected_errors: Mapping[str, cloudwatch.IMetric] | None = None) -> None:
        """``expected_errors``: per function, errors that are answers, not faults (the authorizer's refusals,
        which must raise to give a 401); its errors alarm counts only the rest."""
        super().__init__(scope, construct_id)
        server_errors = api.metric_server_error(period=FIVE_MINUTES, statistic="Sum")
        client_errors = api.metric_client_error(period=FIVE_MINUTES, statistic="Sum")
        latency = api.metric_latency(period=FIVE_MINUTES, statistic="p95")
        self.alarms: list[cloudwatch.Alarm] = [
            server_errors.create_alarm(
                self, "Api5xx", threshold=5, evaluation_periods=1,
                alarm_description=runbook("API answered 5xx", "api-5xx"),
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        ]
        widgets: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(title="API requests and errors", left=[api.metric_count(period=FIVE_MINUTES),
                                                                          client_errors, server_errors]),
            cloudwatch.GraphWidget(title="API latency p95", left=[latency]),
        ]
        widgets.extend(business_widgets())  # what the users did, next to how the API did
        alarms, function_widgets = function_alarms(self, functions, expected_errors)
        self.alarms.extend(alarms)
        widgets.extend(function_widgets)
        alarms, queue_widgets = dead_letter_alarms(self, dead_letter_queues or {})
        self.alarms.extend(alarms)
        widgets.extend(queue_widgets)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=staged_name(self, "Crewhouse"),
                                              widgets=[widgets])


def function_alarms(scope: Construct, functions: Mapping[str, lambda_.IFunction],
                    expected_errors: Mapping[str, cloudwatch.IMetric] | None = None,
                    ) -> tuple[list[cloudwatch.Alarm], list[cloudwatch.IWidget]]:
    """An errors alarm per function and a throttles alarm per group of functions, in ``scope`` (a nested
    stack alarms on its own functions), with a graph per function for the dashboard."""
    alarms: list[cloudwatch.Alarm] = []
    widgets: list[cloudwatch.IWidget] = []
    for name, function in functions.items():
        errors: cloudwatch.Metric | cloudwatch.MathExpression = function.metric_errors(period=FIVE_MINUTES,
                                                                                        statistic="Sum")
        throttles = function.metric_throttles(period=FIVE_MINUTES, statistic="Sum")
        if expected_errors and name in expected_errors:
            errors = cloudwatch.MathExpression(expression="errors - FILL(expected, 0)", label=f"{name} faults",
                                               using_metrics={"errors": errors, "expected": expected_errors[name]},
                                               period=FIVE_MINUTES)
        alarms.append(errors.create_alarm(
            scope, f"{name}Errors", threshold=1, evaluation_periods=1,
            alarm_description=runbook(f"{name} Lambda errors", "lambda-errors"),
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        ))
        widgets.append(cloudwatch.GraphWidget(
            title=f"{name} Lambda", left=[function.metric_invocations(period=FIVE_MINUTES), errors, throttles],
            right=[function.metric_duration(period=FIVE_MINUTES, statistic="p95")],
        ))
    names = sorted(functions)
    for group, begin in enumerate(range(0, len(names), THROTTLE_GROUP_SIZE), start=1):
        members = names[begin:begin + THROTTLE_GROUP_SIZE]
        metrics = {f"t{i}": functions[name].metric_throttles(period=FIVE_MINUTES, statistic="Sum")
                   for i, name in enumerate(members)}
        total = cloudwatch.MathExpression(expression=" + ".join(f"FILL({m}, 0)" for m in metrics),
                                          using_metrics=metrics, label=f"throttles, group {group}",
                                          period=FIVE_MINUTES)
        alarms.append(total.create_alarm(
            scope, f"LambdaThrottles{group}", threshold=1, evaluation_periods=1,
            alarm_description=runbook(f"Lambda throttles in {', '.join(members)}", "lambda-throttles"),
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        ))
    return alarms, widgets


def dead_letter_alarms(scope: Construct, queues: Mapping[str, sqs.IQueue],
                       ) -> tuple[list[cloudwatch.Alarm], list[cloudwatch.IWidget]]:
    """An alarm on each dead-letter queue's depth, with its graph."""
    alarms: list[cloudwatch.Alarm] = []
    widgets: list[cloudwatch.IWidget] = []
    for name, queue in queues.items():
        depth = queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, statistic="Maximum")
        alarms.append(depth.create_alarm(
            scope, f"{name}Depth", threshold=1, evaluation_periods=1,
            alarm_description=runbook(f"Messages in the {name} dead-letter queue", "dead-letters"),
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        ))
        widgets.append(cloudwatch.GraphWidget(title=f"{name} dead letters", left=[depth]))
    return alarms, widgets
