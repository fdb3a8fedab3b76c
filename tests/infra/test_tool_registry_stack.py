"""The tool registry in the synthesized template (nested stack folded in): the code sandbox has no permissions but
its logs (and the network interfaces Lambda needs in a VPC), sits in isolated subnets of a VPC with no route out,
no endpoints and no egress rule, with 256 MB and 10 s; the registry's grants name its own table, secrets and
sandbox only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.test_files_stack import rendered_grants
from tests.infra.test_stack import props, render, resources, role_of

SANDBOX = "crewhouse.tool_registry.sandbox.handler"
API = "crewhouse.tool_registry.api.handler"


def function_id(template_json: dict[str, Any], handler: str) -> str:
    found = [k for k, r in template_json["Resources"].items()
             if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == handler]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def sandbox(template_json: dict[str, Any]) -> str:
    return function_id(template_json, SANDBOX)


@pytest.fixture(scope="module")
def registry(template_json: dict[str, Any]) -> str:
    return function_id(template_json, API)


def test_the_sandbox_has_256_mb_10_s_and_no_tracing(template_json: dict[str, Any], sandbox: str) -> None:
    function = props(template_json, sandbox)
    assert function["MemorySize"] == 256 and function["Timeout"] == 10
    assert "TracingConfig" not in function or function["TracingConfig"] == {"Mode": "PassThrough"}
    assert function["Runtime"] == "python3.13"


def test_the_sandbox_role_may_only_write_logs_and_manage_its_network_interfaces(template_json: dict[str, Any],
                                                                                 sandbox: str) -> None:
    role = role_of(template_json, sandbox)
    managed = [render(p) for p in props(template_json, role)["ManagedPolicyArns"]]
    assert sorted(m.rsplit("/", 1)[-1] for m in managed) == ["AWSLambdaBasicExecutionRole",
                                                           "AWSLambdaVPCAccessExecutionRole"], managed
    attached = [key for key, r in template_json["Resources"].items()
                if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
                and {"Ref": role} in (r["Properties"].get("Roles") or [])]
    assert attached == [], attached  # no inline or customer-managed policy on top
    assert "Policies" not in props(template_json, role)


def test_the_sandbox_sits_in_isolated_subnets_without_any_way_out(template_json: dict[str, Any],
                                                                    sandbox: str) -> None:
    config = props(template_json, sandbox)["VpcConfig"]
    subnets = [s["Ref"] for s in config["SubnetIds"]]
    assert len(subnets) == 2
    vpc = {props(template_json, s)["VpcId"]["Ref"] for s in subnets}
    assert len(vpc) == 1
    (vpc_id,) = vpc
    for subnet in subnets:
        assert props(template_json, subnet)["MapPublicIpOnLaunch"] is False
    tables = {props(template_json, k)["RouteTableId"]["Ref"] for k, r in template_json["Resources"].items()
              if r["Type"] == "AWS::EC2::SubnetRouteTableAssociation"
              and props(template_json, k)["SubnetId"]["Ref"] in subnets}
    routes = [k for k, r in template_json["Resources"].items() if r["Type"] == "AWS::EC2::Route"
              and r["Properties"]["RouteTableId"].get("Ref") in tables]
    assert tables and routes == []  # only the VPC's local route: no internet or NAT gateway
    in_vpc = json.dumps({"Ref": vpc_id})
    for kind in ("AWS::EC2::VPCEndpoint", "AWS::EC2::NatGateway", "AWS::EC2::InternetGateway",
                 "AWS::EC2::VPCGatewayAttachment", "AWS::EC2::VPCPeeringConnection",
                 "AWS::EC2::TransitGatewayAttachment"):
        found = [k for k in resources(template_json, kind) if in_vpc in json.dumps(template_json["Resources"][k])]
        assert not found, kind
    (group,) = [g["Fn::GetAtt"][0] for g in config["SecurityGroupIds"]]
    rules = props(template_json, group)
    assert "SecurityGroupIngress" not in rules
    # CDK's placeholder for "no egress": ICMP type 252 to 255.255.255.255/32, which matches no traffic.
    assert rules["SecurityGroupEgress"] == [{"CidrIp": "255.255.255.255/32", "Description": "Disallow all traffic",
                                              "FromPort": 252, "IpProtocol": "icmp", "ToPort": 86}]
    flow_logs = [props(template_json, k) for k in resources(template_json, "AWS::EC2::FlowLog")
                 if props(template_json, k).get("ResourceId") == {"Ref": vpc_id}]
    assert flow_logs and flow_logs[0]["TrafficType"] == "ALL"


def test_the_registry_grants_name_its_table_secrets_and_sandbox_only(template_json: dict[str, Any], registry: str,
                                                                     sandbox: str) -> None:
    grants = rendered_grants(template_json, registry)
    secrets = {(a, r) for a, r in grants if a.startswith("secretsmanager:") and "CursorSigningKey" not in r}
    assert {r for _, r in secrets} == {
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:crewhouse/tools/*"}
    assert {a for a, _ in secrets} == {"secretsmanager:CreateSecret", "secretsmanager:PutSecretValue",
                                       "secretsmanager:TagResource", "secretsmanager:DeleteSecret",
                                       "secretsmanager:GetSecretValue"}
    invokes = {r for a, r in grants if a == "lambda:InvokeFunction"}
    assert invokes == {f"${{{sandbox}.Arn}}"}, invokes
    tables = {r.split("}")[0] + "}" for a, r in grants if a.startswith("dynamodb:")}
    assert all(any(name in t for name in ("ToolRegistryToolsTable", "IdempotencyTable", "PlatformTable",
                                               "RateLimitTable"))
               for t in tables), tables
    environment = props(template_json, registry)["Environment"]["Variables"]
    assert environment["SANDBOX_FUNCTION"] == {"Ref": sandbox}
    assert "TOOL_SECRET_PREFIX" not in environment  # a constant of crewhouse.tool_registry.settings


def test_the_tools_table_lists_by_kind_on_gsi1(template_json: dict[str, Any], registry: str) -> None:
    variables = props(template_json, registry)["Environment"]["Variables"]
    table = props(template_json, variables["TOOL_REGISTRY_TABLE"]["Ref"])
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["PK", "SK"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["GSI1"]
    assert [k["AttributeName"] for k in table["GlobalSecondaryIndexes"][0]["KeySchema"]] == ["GSI1PK", "GSI1SK"]
