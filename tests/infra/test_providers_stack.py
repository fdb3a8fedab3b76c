"""Tenants' model providers in the synthesized template (nested stack folded in): the table with its TTL, the
customer-managed key with rotation, and each role allowing what its function calls: the API reads and writes the
table and makes and opens data keys only with the tenant and provider in the encryption context; the chat and the
job runner (parent stack) read the table, add usage and may only Decrypt under that context."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.test_files_stack import rendered_grants
from tests.infra.test_stack import as_list, props, render, resources, role_of, role_statements
from tests.infra.test_tool_registry_stack import function_id

API = "crewhouse.providers.api.handler"
USERS = ("crewhouse.chat.api.handler", "crewhouse.jobs.workers.run_agent")
CONTEXT = {"Null": {"kms:EncryptionContext:tenant_id": "false", "kms:EncryptionContext:provider_id": "false"}}


def providers_key(template_json: dict[str, Any]) -> str:
    keys = [k for k in resources(template_json, "AWS::KMS::Key") if k.startswith("ProvidersProviderKeysKey")]
    assert len(keys) == 1, keys
    return keys[0]


def providers_table(template_json: dict[str, Any]) -> str:
    (table,) = [k for k in resources(template_json, "AWS::DynamoDB::Table") if k.startswith("ProvidersProvidersTable")]
    return table


def kms_statements(template_json: dict[str, Any], handler: str) -> list[dict[str, Any]]:
    role = role_of(template_json, function_id(template_json, handler))
    return [s for s in role_statements(template_json, role) if "kms:" in json.dumps(s.get("Action"))]


def test_the_key_rotates_and_is_kept_and_the_table_expires_usage(template_json: dict[str, Any]) -> None:
    key = providers_key(template_json)
    assert props(template_json, key)["EnableKeyRotation"] is True
    assert template_json["Resources"][key]["DeletionPolicy"] == "Retain"
    table = props(template_json, providers_table(template_json))
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_epoch", "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}


def test_the_api_makes_and_opens_data_keys_only_under_a_tenant_and_provider_context(
        template_json: dict[str, Any]) -> None:
    key = render({"Fn::GetAtt": [providers_key(template_json), "Arn"]})
    (statement,) = kms_statements(template_json, API)
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert render(statement["Resource"]) == key and statement["Condition"] == CONTEXT
    variables = props(template_json, function_id(template_json, API))["Environment"]["Variables"]
    assert variables["PROVIDERS_KEY_ID"] == {"Fn::GetAtt": [providers_key(template_json), "Arn"]}
    table = render({"Fn::GetAtt": [providers_table(template_json), "Arn"]})
    actions = {a for a, r in rendered_grants(template_json, function_id(template_json, API)) if r == table}
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"} <= actions


def test_model_running_functions_read_providers_add_usage_and_only_decrypt(template_json: dict[str, Any]) -> None:
    key = render({"Fn::GetAtt": [providers_key(template_json), "Arn"]})
    table = render({"Fn::GetAtt": [providers_table(template_json), "Arn"]})
    for handler in USERS:
        (statement,) = kms_statements(template_json, handler)
        assert statement["Action"] == "kms:Decrypt" and render(statement["Resource"]) == key, handler
        assert statement["Condition"] == CONTEXT
        grants = rendered_grants(template_json, function_id(template_json, handler))
        assert {a for a, r in grants if r.startswith(table)} == {"dynamodb:GetItem", "dynamodb:Query",
                                                                  "dynamodb:UpdateItem"}, handler
        variables = props(template_json, function_id(template_json, handler))["Environment"]["Variables"]
        assert variables["PROVIDERS_TABLE"] == {"Ref": providers_table(template_json)}


def test_every_other_function_on_the_key_may_only_decrypt_under_the_context(template_json: dict[str, Any]) -> None:
    """Other contexts add functions with grant_tenant_providers (the flows' node runner …): each gets Decrypt under
    the tenant and provider context and nothing else of the key, and the variables that name the key and table."""
    key = render({"Fn::GetAtt": [providers_key(template_json), "Arn"]})
    api = function_id(template_json, API)
    users = 0
    for logical_id, function in resources(template_json, "AWS::Lambda::Function").items():
        if logical_id == api or "Fn::GetAtt" not in function["Properties"].get("Role", {}):
            continue
        role = role_of(template_json, logical_id)
        on_key = [s for s in role_statements(template_json, role)
                  if any(not isinstance(r, list) and render(r) == key for r in as_list(s.get("Resource", [])))]
        if not on_key:
            continue
        users += 1
        assert [(s["Action"], s.get("Condition")) for s in on_key] == [("kms:Decrypt", CONTEXT)], logical_id
        assert "PROVIDERS_TABLE" in function["Properties"]["Environment"]["Variables"], logical_id
    assert users >= len(USERS)
