"""Crews, flows, the tool registry and tenants' model providers (issue 15): a nested stack of their own
(:mod:`crewhouse_cdk.nested`)."""

from __future__ import annotations

from crewhouse_cdk.constructs.crews import CrewsContext
from crewhouse_cdk.constructs.flows import FlowsContext
from crewhouse_cdk.constructs.providers import Providers
from crewhouse_cdk.constructs.tool_registry import ToolRegistry
from crewhouse_cdk.nested import ContextStack


class CrewsStack(ContextStack):
    description_text = "Crewhouse: crews, flows, tools and model providers"

    def _contexts(self) -> None:
        """The contexts of this stack, in dependency order."""
        # First: the others' model-running functions get grant_tenant_providers from it.
        self.providers = Providers(self, "Providers", storage=self.shared.storage, api=self.shared.api,
                                   layers=self.shared.layers)
        self.shared.functions.update(self.providers.functions)
        self.tool_registry = ToolRegistry(self, "ToolRegistry", storage=self.shared.storage, api=self.shared.api,
                                          layers=self.shared.layers)
        self.shared.functions.update(self.tool_registry.functions)
        self.crews = CrewsContext(self, "Crews", storage=self.shared.storage, api=self.shared.api,
                                  layers=self.shared.layers, bus=self.shared.bus, tool_registry=self.tool_registry,
                                  agent_hosts=self.shared.agent_hosts)
        self.shared.functions.update(self.crews.functions)
        for function in (self.crews.api_functions["HostedAgentsApi"], self.crews.step_function):
            self.providers.grant_tenant_providers(function)  # an agent's model: the tenant's provider first
        self.shared.dead_letter_queues.update(self.crews.dead_letter_queues)
        self.flows = FlowsContext(self, "Flows", storage=self.shared.storage, api=self.shared.api,
                                  layers=self.shared.layers, tool_registry=self.tool_registry,
                                  providers=self.providers, crews=self.crews)
        self.shared.functions.update(self.flows.functions)
        # Every function that runs tools through the registry's runtime may run builtin:<name> tools (the registry's
        # own dry run of a builtin tool checks the input only: it needs none of their grants).
        assert self.shared.builtin_tools is not None
        tool_runners = (self.crews.api_functions["HostedAgentsApi"], self.crews.step_function,
                        self.flows.runner_function, self.shared.bus.hosted_function,
                        *self.shared.agent_hosts.values())
        for function in tool_runners:
            self.shared.builtin_tools.grant(function)
