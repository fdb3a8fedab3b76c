"""A nested stack of contexts: what every context in it receives from the parent, and alarms on its functions.

CloudFormation allows 500 resources a stack and the parent holds about 460, so later contexts live in nested
stacks, deployed with the parent by ``cdk deploy``. The parent's tables, the API, the layers and the event bus
come in as CDK cross-stack references (nested stack parameters); the embedded cloud folds each nested template
into the parent's (:mod:`crewhouse.local.nested_stacks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from crewhouse_cdk.constructs.bus import BusContext
from crewhouse_cdk.constructs.function import DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.monitoring import dead_letter_alarms, function_alarms
from crewhouse_cdk.constructs.storage import Storage
from crewhouse_cdk.stage import staged_name

if TYPE_CHECKING:
    from crewhouse_cdk.constructs.mcp import BuiltinTools


@dataclass
class Shared:
    """What the parent stack hands to every construct in a nested stack."""

    storage: Storage
    api: HttpApi
    layers: DependencyLayers
    bus: BusContext
    # Crewhouse's own tools' environment and grants, for the functions that run builtin:<name> tools.
    builtin_tools: BuiltinTools | None = None
    # Functions of the parent that run hosted agents in-process besides the bus's hosted inbox (the chat).
    agent_hosts: dict[str, lambda_.Function] = field(default_factory=dict)
    # Parent contexts' tables a nested context reads by key (realtime checks subscriptions against them).
    tables: dict[str, dynamodb.ITable] = field(default_factory=dict)
    functions: dict[str, lambda_.IFunction] = field(default_factory=dict)  # alarms: construct id -> function
    dead_letter_queues: dict[str, sqs.IQueue] = field(default_factory=dict)


class ContextStack(cdk.NestedStack):
    """Subclasses add their contexts' constructs in :meth:`_contexts`; each construct puts its functions and
    dead-letter queues into ``self.shared`` so that they get alarms here."""

    description_text = "Crewhouse contexts"

    def __init__(self, scope: Construct, construct_id: str, *, shared: Shared, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description=self.description_text, **kwargs)
        # Its own functions and queues (alarms here); the parent's resources as given.
        self.shared = replace(shared, tables=dict(shared.tables), functions={}, dead_letter_queues={})
        self._contexts()
        # Named after the stack: the embedded cloud folds every nested template into the parent's, where logical
        # ids (derived from construct paths) must not repeat across nested stacks.
        alarms = Construct(self, f"{construct_id}Alarms")
        _, function_widgets = function_alarms(alarms, self.shared.functions)
        _, queue_widgets = dead_letter_alarms(alarms, self.shared.dead_letter_queues)
        if function_widgets or queue_widgets:  # a dashboard per nested stack, beside the parent's "Crewhouse"
            cloudwatch.Dashboard(alarms, "Dashboard", dashboard_name=staged_name(self, f"Crewhouse-{construct_id}"),
                                 widgets=[[*function_widgets, *queue_widgets]])

    def _contexts(self) -> None:
        raise NotImplementedError
