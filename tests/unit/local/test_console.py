"""The console's local routes (crewhouse.local.console): its runtime configuration, its files with the CSP, and a
Cognito pass-through that takes nothing but Cognito user pool calls."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from crewhouse.local.console import console_routes

OUTPUTS = {"UserPoolId": "us-east-1_abc", "MobileClientId": "client123"}


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Crewhouse</title>")
    (tmp_path / "assets" / "app.js").write_text("console.log('app')")
    (tmp_path.parent / "secret.txt").write_text("not for the browser")
    return tmp_path


@pytest.fixture
def browser(dist: Path) -> TestClient:
    routes = console_routes(outputs=OUTPUTS, region="us-east-1", api_url="http://127.0.0.1:8000",
                            aws_endpoint="http://127.0.0.1:4566", websocket_url="ws://127.0.0.1:8001/live", dist=dist)
    return TestClient(Starlette(routes=routes), base_url="http://127.0.0.1:8000")


def test_the_runtime_configuration_names_the_pool_the_client_and_the_local_cognito_way(browser: TestClient) -> None:
    config = browser.get("/console/config.json").json()

    assert config == {"apiUrl": "http://127.0.0.1:8000", "region": "us-east-1", "userPoolId": "us-east-1_abc",
                      "clientId": "client123", "cognitoEndpoint": "http://127.0.0.1:8000/_local/cognito",
                      "websocketUrl": "ws://127.0.0.1:8001/live", "stepFunctionsConsole": None}


def test_files_are_served_with_the_csp_and_unknown_paths_get_the_app(browser: TestClient) -> None:
    script = browser.get("/console/assets/app.js")
    page = browser.get("/console/some/route")
    escape = browser.get("/console/..%2Fsecret.txt")

    assert script.status_code == 200 and script.text == "console.log('app')"
    assert "javascript" in script.headers["content-type"]
    assert "script-src 'self';" in script.headers["content-security-policy"]
    assert "unsafe-inline" not in script.headers["content-security-policy"]
    assert page.status_code == 200 and "<title>Crewhouse</title>" in page.text
    assert "not for the browser" not in escape.text
    assert browser.get("/console", follow_redirects=False).headers["location"] == "/console/"


def test_the_cognito_pass_through_refuses_other_services(browser: TestClient) -> None:
    refused = browser.post("/_local/cognito", content=b"{}",
                           headers={"x-amz-target": "DynamoDB_20120810.Scan",
                                    "content-type": "application/x-amz-json-1.0"})

    assert refused.status_code == 403
    assert refused.json()["__type"] == "AccessDeniedException"


def test_only_the_schema_worker_is_served_with_eval_allowed(dist: Path, browser: TestClient) -> None:
    (dist / "assets" / "schemaWorker-abc123.js").write_text("self.onmessage = () => {}")

    worker = browser.get("/console/assets/schemaWorker-abc123.js")
    app = browser.get("/console/assets/app.js")
    page = browser.get("/console/")

    assert worker.headers["content-security-policy"] == "default-src 'none'; script-src 'self' 'unsafe-eval'"
    assert "unsafe-eval" not in app.headers["content-security-policy"]
    assert "unsafe-eval" not in page.headers["content-security-policy"]
