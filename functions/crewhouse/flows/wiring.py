"""The flows context's public surface for other contexts and its own handlers: ``service_for(settings=None)``
builds the service from the flows settings (read from the calling function's environment)."""

from __future__ import annotations

from crewhouse.core.aws import aws_client
from crewhouse.core.events import Announcer
from crewhouse.core.settings import load_settings
from crewhouse.core.table import Table
from crewhouse.flows.logic import EVENT_SOURCE, FlowsConfig, FlowService
from crewhouse.flows.machines import StepFunctions
from crewhouse.flows.settings import FlowsSettings
from crewhouse.flows.store import FlowStore

__all__ = ["service_for"]


def flows_settings() -> FlowsSettings:
    return load_settings(FlowsSettings)


def service_for(settings: FlowsSettings | None = None) -> FlowService:
    settings = settings or flows_settings()
    return FlowService(
        store=FlowStore(Table(aws_client("dynamodb", settings), settings.flows_table)),
        machines=StepFunctions(aws_client("stepfunctions", settings), role_arn=settings.flow_role_arn,
                               log_group_arn=settings.flow_log_group_arn),
        config=FlowsConfig(region=settings.aws_region, name_prefix=settings.flow_name_prefix,
                           node_runner_arn=settings.node_runner_arn,
                           crew_state_machine_arn=settings.crew_state_machine_arn,
                           # moto 5.2.5 starts no execution on a version or alias ARN (see logic's docstring).
                           start_on_state_machine=settings.crewhouse_local),
        announcer=Announcer(lambda: aws_client("events", settings), settings.event_bus_name, EVENT_SOURCE))
