"""The per-user and per-tenant limits in the template: the buckets' table (idle buckets expire), and every
function behind the HTTP API knows it, may only UpdateItem it, and carries the stage's limits."""

from __future__ import annotations

from typing import Any

from crewhouse_cdk.constructs.http_api import RATE_LIMITS
from tests.infra.conftest import Synthesized
from tests.infra.test_stack import arn, grants, props, ref, render, resources, role_of, role_statements


def test_every_api_function_charges_the_rate_limit_table_and_may_do_nothing_else_with_it(
        synth_ok: Synthesized, template_json: dict[str, Any]) -> None:
    table, api = synth_ok.logical_id("Http/RateLimitTable"), synth_ok.logical_id("Http/Api")
    assert props(template_json, table)["TimeToLiveSpecification"] == {"AttributeName": "expires_epoch",
                                                                      "Enabled": True}
    integrated = {render(i["Properties"]["IntegrationUri"]).removeprefix("${").split(".")[0]
                  for i in resources(template_json, "AWS::ApiGatewayV2::Integration").values()
                  if i["Properties"]["ApiId"] == ref(api)}
    assert len(integrated) > 5, integrated
    for function_id in integrated:
        variables = props(template_json, function_id)["Environment"]["Variables"]
        assert variables["RATE_LIMIT_TABLE"] == ref(table), function_id
        assert {name: variables[name] for name in RATE_LIMITS} == RATE_LIMITS, function_id
        on_table = {action for action, resource in grants(role_statements(template_json,
                                                                          role_of(template_json, function_id)))
                    if table in render(resource)}
        assert on_table == {"dynamodb:UpdateItem"}, (function_id, on_table)
    for function_id in resources(template_json, "AWS::Lambda::Function"):
        if function_id not in integrated and "Role" in props(template_json, function_id) \
                and "Fn::GetAtt" in props(template_json, function_id)["Role"]:
            granted = grants(role_statements(template_json, role_of(template_json, function_id)))
            assert all(resource != arn(table) for _, resource in granted), f"{function_id} needs no buckets"
