"""The stack's outputs: what the mobile app, a web console and machine clients need to reach a deployment."""

from __future__ import annotations

from typing import Any

CLIENT_OUTPUTS = {"ApiUrl", "OpenApiUrl", "McpUrl", "Region", "UserPoolId", "MobileClientId", "MobileCallbackUrl",
                  "MachineClientId", "Issuer", "CognitoDomainUrl", "TokenEndpoint", "HostedUiSignInUrl",
                  "FilesBucketName", "EventBusName"}


def test_the_stack_outputs_what_clients_need(template_json: dict[str, Any]) -> None:
    outputs = template_json["Outputs"]

    assert set(outputs) >= CLIENT_OUTPUTS
    assert all(outputs[name].get("Description") for name in CLIENT_OUTPUTS)
    assert outputs["Region"]["Value"] == {"Ref": "AWS::Region"}


def test_hosted_ui_outputs_name_the_user_pool_domain(template_json: dict[str, Any]) -> None:
    domains = [name for name, r in template_json["Resources"].items() if r["Type"] == "AWS::Cognito::UserPoolDomain"]
    outputs = template_json["Outputs"]

    assert len(domains) == 1
    for name in ("CognitoDomainUrl", "TokenEndpoint", "HostedUiSignInUrl"):
        assert {"Ref": domains[0]} in outputs[name]["Value"]["Fn::Join"][1], name
    assert "/oauth2/token" in str(outputs["TokenEndpoint"]["Value"])
