"""The tool registry on the embedded cloud: routes from the template, IAM enforced per function, code tools run by
the sandbox Lambda (invoked with lambda:InvokeFunction), http tools' secrets in Secrets Manager and dry runs against
a local endpoint (loopback is allowed in local mode only), private addresses refused, other tenants' tools 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer
from tests.support.tool_registry import json_answer, local_endpoint

CODE = "def run(input):\n    import os\n    return {'greeting': 'hello ' + input['name'], 'env': sorted(os.environ)}\n"


@pytest.fixture(scope="module")
def owner(new_user: Callable[[], SignedInUser]) -> SignedInUser:
    return new_user()


@pytest.fixture(scope="module")
def stranger(new_user: Callable[[], SignedInUser]) -> SignedInUser:
    return new_user()


def create(api: httpx.Client, user: SignedInUser, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/tools", json=body, headers=bearer(user.id_token))
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_code_tool_runs_in_the_sandbox_function(api: httpx.Client, owner: SignedInUser) -> None:
    tool = create(api, owner, {
        "name": "greet", "kind": "code", "config": {"source": CODE},
        "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        "output_schema": {"type": "object", "required": ["greeting"],
                          "properties": {"greeting": {"type": "string"}}}})
    response = api.post(f"/tools/{tool['id']}/validate", json={"input": {"name": "Ada"}},
                        headers=bearer(owner.id_token))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["ok"] and result["executed"] and result["output"]["greeting"] == "hello Ada", result
    assert set(result["output"]["env"]) <= {"LC_CTYPE"}  # not the sandbox function's role credentials
    listed = api.get("/tools", params={"kind": "code"}, headers=bearer(owner.id_token)).json()
    assert [t["id"] for t in listed["items"]] == [tool["id"]]


def test_an_http_tool_keeps_its_secret_and_dry_runs_against_a_local_endpoint(api: httpx.Client,
                                                                            owner: SignedInUser) -> None:
    with local_endpoint(json_answer({"temperature": 19})) as (base, recorded):
        tool = create(api, owner, {"name": "weather", "kind": "http", "secret": "s3cret-token",
                                   "config": {"url": f"{base}/now", "auth": {"scheme": "bearer"}},
                                   "output_schema": {"type": "object",
                                                     "properties": {"temperature": {"type": "number"}}}})
        assert tool["has_secret"] and "s3cret-token" not in str(tool)
        result = api.post(f"/tools/{tool['id']}/validate", headers=bearer(owner.id_token)).json()
    assert result["ok"] and result["output"] == {"temperature": 19}, result
    assert recorded.requests[0]["headers"]["authorization"] == "Bearer s3cret-token"
    read = api.get(f"/tools/{tool['id']}", headers=bearer(owner.id_token))
    assert read.status_code == 200 and "s3cret-token" not in read.text


def test_private_addresses_are_refused(api: httpx.Client, owner: SignedInUser) -> None:
    refused = api.post("/tools", json={"name": "meta", "kind": "http",
                                       "config": {"url": "http://169.254.169.254/latest/meta-data/"}},
                       headers=bearer(owner.id_token))
    assert refused.status_code == 422 and refused.json()["errors"][0]["path"] == "body.config.url"
    tool = create(api, owner, {"name": "anyhost", "kind": "http", "config": {"url": "https://{host}/"},
                               "input_schema": {"type": "object", "properties": {"host": {"type": "string"}}}})
    result = api.post(f"/tools/{tool['id']}/validate", json={"input": {"host": "10.0.0.1"}},
                      headers=bearer(owner.id_token)).json()
    assert not result["ok"] and result["error"]["error"] == "url-refused", result


def test_another_tenants_tool_is_not_found(api: httpx.Client, owner: SignedInUser, stranger: SignedInUser) -> None:
    tool = create(api, owner, {"name": "mine", "kind": "builtin", "config": {"tool": "get_tasks"}})
    for method, path, body in (("GET", f"/tools/{tool['id']}", None), ("PUT", f"/tools/{tool['id']}", {}),
                               ("DELETE", f"/tools/{tool['id']}", None),
                               ("POST", f"/tools/{tool['id']}/validate", {})):
        response = api.request(method, path, json=body, headers=bearer(stranger.id_token))
        assert response.status_code == 404, (method, response.text)
    catalog = api.get("/tools/builtin", headers=bearer(stranger.id_token)).json()
    assert "builtin:get_tasks" in {t["id"] for t in catalog["items"]}
    assert api.delete(f"/tools/{tool['id']}", headers=bearer(owner.id_token)).status_code == 204
