"""Against a deployed stack (``cdk deploy``) when AWS credentials are present; skipped otherwise.

Set ``CREWHOUSE_E2E_EMAIL`` and ``CREWHOUSE_E2E_PASSWORD`` for a confirmed user to also check ``/me``.

The delivery pipeline's smoke test (``crewhouse_cdk.pipeline_stack``) runs this module against staging with the
stack's outputs in the environment (``CREWHOUSE_API_URL`` …) and ``CREWHOUSE_E2E_REQUIRED=1``: an unreachable
stack then fails the step instead of skipping.
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

import boto3
import httpx
import pytest

STACK = os.environ.get("CREWHOUSE_STACK", "Crewhouse")
REQUIRED = bool(os.environ.get("CREWHOUSE_E2E_REQUIRED"))
# Stack outputs given in the environment (the pipeline's env_from_cfn_outputs), by output name.
OUTPUT_VARIABLES = {"ApiUrl": "CREWHOUSE_API_URL", "MobileClientId": "CREWHOUSE_MOBILE_CLIENT_ID"}


def _unavailable(reason: str) -> NoReturn:
    if REQUIRED:
        pytest.fail(reason)
    pytest.skip(reason)


def _outputs() -> dict[str, str]:
    given = {name: os.environ[variable] for name, variable in OUTPUT_VARIABLES.items() if os.environ.get(variable)}
    if "ApiUrl" in given:
        return given
    if os.environ.get("AWS_ENDPOINT_URL"):
        _unavailable("AWS_ENDPOINT_URL points at an emulator; e2e runs against real AWS only")
    session = boto3.session.Session()
    if session.get_credentials() is None:
        _unavailable("no AWS credentials: the e2e tier needs a deployed stack")
    try:
        stack: dict[str, Any] = session.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    except Exception as exc:  # no stack, no permission, no network
        _unavailable(f"stack {STACK} not reachable: {exc}")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def test_health_answers_without_a_token() -> None:
    outputs = _outputs()
    response = httpx.get(outputs["ApiUrl"].rstrip("/") + "/health", timeout=10)
    assert response.status_code == 200
    health = response.json()
    assert (health["status"], set(health)) == ("ok", {"status", "version", "commit", "time"})


def test_the_openapi_document_is_served() -> None:
    outputs = _outputs()
    response = httpx.get(outputs["ApiUrl"].rstrip("/") + "/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


def test_me_needs_a_token_and_answers_with_one() -> None:
    outputs = _outputs()
    base = outputs["ApiUrl"].rstrip("/")
    assert httpx.get(f"{base}/me", timeout=10).status_code == 401
    email, password = os.environ.get("CREWHOUSE_E2E_EMAIL"), os.environ.get("CREWHOUSE_E2E_PASSWORD")
    if not (email and password):
        pytest.skip("set CREWHOUSE_E2E_EMAIL/CREWHOUSE_E2E_PASSWORD to check /me")
    tokens = boto3.client("cognito-idp").initiate_auth(
        ClientId=outputs["MobileClientId"], AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password})["AuthenticationResult"]
    response = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {tokens['IdToken']}"}, timeout=10)
    assert response.status_code == 200
    assert response.json()["email"] == email
