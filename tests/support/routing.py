"""The deployed HTTP routes: which function API Gateway invokes for a request, and that function's handler.

Read from the synthesized template (``AWS::ApiGatewayV2::Route`` -> integration -> function -> ``Handler``) and
matched by the local gateway's route table, which selects routes the way API Gateway does. Component tests
send each request to the handler that would receive it, so a route served by the wrong function fails there.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from functools import cache
from typing import Any

from crewhouse.local.gateway import Route, RouteTable
from tests.support.tables import template

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def route_functions(resources: dict[str, Any]) -> dict[str, str]:
    """Route key -> logical id of the function its integration invokes (routes to functions only)."""
    integrations = {}
    for key, resource in resources.items():
        if resource["Type"] == "AWS::ApiGatewayV2::Integration":
            uri = resource["Properties"].get("IntegrationUri")
            if isinstance(uri, dict) and "Fn::GetAtt" in uri:
                integrations[key] = str(uri["Fn::GetAtt"][0])
    routes = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::ApiGatewayV2::Route":
            continue
        target = json.dumps(resource["Properties"].get("Target"))
        found = [function for integration, function in integrations.items() if f'"{integration}"' in target]
        if found:
            routes[resource["Properties"]["RouteKey"]] = found[0]
    return routes


def deployed_route_table(resources: dict[str, Any]) -> RouteTable:
    """The HTTP API's routes; each route's ``function_name`` is the logical id of its function."""
    return RouteTable(Route(route_key=key, function_name=function, authorizer=None)
                      for key, function in route_functions(resources).items())


@cache
def _table() -> RouteTable:
    return deployed_route_table(template()["Resources"])


def handler_name_for(method: str, path: str) -> str:
    """The ``Handler`` of the function API Gateway invokes for ``method path``."""
    found = _table().match(method, path)
    assert found is not None, f"no deployed route takes {method} {path}"
    return str(template()["Resources"][found[0].function_name]["Properties"]["Handler"])


def handler_for(method: str, path: str) -> Handler:
    """The handler (imported) of the function API Gateway invokes for ``method path``."""
    module, _, attribute = handler_name_for(method, path).rpartition(".")
    handler: Handler = getattr(importlib.import_module(module), attribute)
    return handler
