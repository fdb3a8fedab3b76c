"""Every HTTP sample event in ``events/`` runs through its handler, in-process, against ``moto.mock_aws``.

This proves the samples are requests the functions really serve (not merely well-formed JSON): each one is
handed to the handler the template deploys for it, with that function's environment taken from the template.
The resources the environment names are created in the mock under the names the environment then carries:
DynamoDB tables exactly as the template defines them (:func:`tests.support.tables.create_table`), the files
bucket, the cursor signing secret. ``CREWHOUSE_LOCAL`` is set as the local runtime sets it for every function
(``crewhouse local`` and ``crewhouse invoke``): the MCP sample is what the local gateway delivers (Host
``127.0.0.1:8000``), which the MCP server accepts only locally.

The cloud is empty, so list and quota reads answer empty pages and zeros; what is asserted is that no sample
makes its function fail (5xx) or refuse it as unauthenticated, forbidden or malformed (401, 403, 422).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from crewhouse.core.settings import function_environment
from crewhouse.local.lambda_runtime import resolve_handler
from tests.component.test_invoke_cli import EVENTS, SAMPLE_EVENTS
from tests.support.events import lambda_context
from tests.support.members import seed_membership
from tests.support.mock import mocked_aws
from tests.support.tables import create_table, template

REGION = "us-east-1"
API_ID = "a1b2c3d4e5"  # the samples' API (events/README.md: placeholders)
USER_POOL_ID = "us-east-1_AbCdEf123"
REFUSED = (401, 403, 422)  # the sample's identity or shape would be wrong


def http_samples() -> list[tuple[str, str]]:
    """``(handler, event file)`` of every HTTP API sample (payload 2.0 events carry a ``routeKey``; an
    authorizer's request does too, and tests/component/platform/test_authorizer.py runs it)."""
    events = {name: json.loads((EVENTS / name).read_text()) for names in SAMPLE_EVENTS.values() for name in names}
    return [(handler, name) for handler, names in SAMPLE_EVENTS.items() for name in names
            if "routeKey" in events[name] and events[name].get("type") != "REQUEST"]


def function_of(handler: str) -> dict[str, Any]:
    found = [r["Properties"] for r in template()["Resources"].values()
             if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == handler]
    assert len(found) == 1, f"{len(found)} functions run {handler}"
    return found[0]


class MockedResources:
    """Creates, in the mock, each resource a function's environment refers to; resolves the references."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}  # logical id -> the value its Ref resolves to
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)

    def ref(self, logical_id: str) -> str:
        pseudo = {"AWS::Region": REGION, "AWS::URLSuffix": "amazonaws.com", "AWS::AccountId": "123456789012",
                  "AWS::Partition": "aws"}
        if logical_id in pseudo:
            return pseudo[logical_id]
        if logical_id not in self.names:
            self.names[logical_id] = self._create(logical_id)
        return self.names[logical_id]

    def _create(self, logical_id: str) -> str:
        kind = template()["Resources"][logical_id]["Type"]
        if kind == "AWS::DynamoDB::Table":
            create_table(self.dynamodb, logical_id, logical_id)
            return logical_id
        if kind == "AWS::S3::Bucket":
            name = logical_id.lower()
            boto3.client("s3", region_name=REGION).create_bucket(Bucket=name)
            return name
        if kind == "AWS::SecretsManager::Secret":
            created = boto3.client("secretsmanager", region_name=REGION).create_secret(
                Name=logical_id, SecretString="sample-events-signing-key")
            return str(created["ARN"])
        if kind == "AWS::SQS::Queue":
            return str(boto3.client("sqs", region_name=REGION).create_queue(QueueName=logical_id)["QueueUrl"])
        if kind == "AWS::StepFunctions::StateMachine":  # named only: the samples' routes start no execution
            return f"arn:aws:states:{REGION}:123456789012:stateMachine:{logical_id}"
        if kind == "AWS::Cognito::UserPool":
            return USER_POOL_ID  # only named (the MCP metadata's issuer), never called by these routes
        if kind == "AWS::ApiGatewayV2::Api":
            return API_ID
        if kind == "AWS::Lambda::Function":  # named only (the code tools' sandbox): the samples run no code tool
            return logical_id
        if kind == "AWS::Cognito::UserPoolClient":
            return "sample-mobile-client"  # only named (refreshes on a tenant switch), never called by these routes
        raise AssertionError(f"the environment refers to {logical_id} ({kind}); teach this test to create it")

    def resolve(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Ref" in value:
            return self.ref(str(value["Ref"]))
        if isinstance(value, dict) and "Fn::GetAtt" in value:  # the ARN of a function or role named only
            logical_id, attribute = value["Fn::GetAtt"]
            assert attribute == "Arn", f"cannot resolve {value!r}; teach this test"
            return f"arn:aws:lambda:{REGION}:123456789012:function:{logical_id}"
        if isinstance(value, dict) and "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return str(separator).join(self.resolve(part) for part in parts)
        raise AssertionError(f"cannot resolve {value!r} in a function's environment; teach this test")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockedResources]:
    with mocked_aws(monkeypatch):
        yield MockedResources()


@pytest.mark.parametrize(("handler", "name"), http_samples())
def test_http_sample_event_is_served_by_its_function(aws: MockedResources, handler: str, name: str) -> None:
    function = function_of(handler)
    variables = (function.get("Environment") or {}).get("Variables") or {}
    environment = {key: aws.resolve(value) for key, value in variables.items()}
    environment.update(AWS_REGION=REGION, CREWHOUSE_LOCAL="true")
    event = json.loads((EVENTS / name).read_text())
    caller = (event["requestContext"].get("authorizer") or {}).get("lambda")
    if caller:  # the caller is a member (an admin) of the tenant its credential names
        seed_membership(caller["tenant_id"], caller["sub"], "admin",
                        table=environment["PLATFORM_TABLE"], dynamodb=aws.dynamodb)
    with function_environment(environment):
        response = resolve_handler(handler)(event, lambda_context(name.removesuffix(".json")))
    status = response["statusCode"]
    assert status < 500 and status not in REFUSED, \
        f"{name} -> {handler}: {status}\n{response.get('body', '')[:2000]}"
