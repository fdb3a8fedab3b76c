"""The model providers API in-process against moto (DynamoDB, KMS): CRUD, the write-only API key, a ciphertext
moved to another tenant's provider refused by KMS, the failover order, usage rows, and /test ok and failing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from crewhouse.core.identity import Identity
from crewhouse.core.settings import function_environment
from crewhouse.llm.provider import FailoverProvider
from crewhouse.providers import wiring
from crewhouse.providers.api import handler
from crewhouse.providers.envelope import KeyUnavailable
from crewhouse.providers.models import ProviderCreate
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.members import seed_membership
from tests.support.mock import mocked_aws
from tests.support.tool_registry import json_answer, keyed_table, local_endpoint

PROVIDERS, PLATFORM, IDEMPOTENCY = "providers", "platform", "idempotency"
BASE_ENV = {"PROVIDERS_TABLE": PROVIDERS, "PLATFORM_TABLE": PLATFORM, "IDEMPOTENCY_TABLE": IDEMPOTENCY,
            "AWS_REGION": "us-east-1", "CURSOR_SIGNING_KEY": "c" * 32, "CREWHOUSE_LOCAL": "true"}
COMPLETION = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 11, "completion_tokens": 1, "total_tokens": 12}}


class Api:
    def __init__(self, env: dict[str, str], tenant: str, user: str, role: str = "member") -> None:
        seed_membership(tenant, user, role, table=PLATFORM)
        self.env, self.tenant, self.user = env, tenant, user

    def __call__(self, method: str, path: str, body: Any = None, *, query: str = "",
                 headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        event = http_event(method, path, body=body, claims=claims_for(self.tenant, self.user), query=query,
                           headers=headers)
        with function_environment(self.env):
            response = handler(event, lambda_context("providers"))
        return response["statusCode"], response_json(response), dict(response.get("headers") or {})


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with mocked_aws(monkeypatch):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        keyed_table(dynamodb, PROVIDERS, 0)
        keyed_table(dynamodb, PLATFORM, 0)
        dynamodb.create_table(TableName=IDEMPOTENCY, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
        wiring._cache.clear()
        yield {**BASE_ENV, "PROVIDERS_KEY_ID": key}
        wiring._cache.clear()


def openai_body(url: str, **extra: Any) -> dict[str, Any]:
    return {"name": "gateway", "kind": "openai_compatible", "model": "gpt-test", "base_url": url,
            "api_key": "sk-very-secret", **extra}


def raw_item(tenant: str, provider_id: str) -> dict[str, Any]:
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=PROVIDERS, Key={"PK": {"S": f"T#{tenant}#PROVIDERS"}, "SK": {"S": f"P#{provider_id}"}})["Item"]
    return dict(item)


def test_crud_with_etags_and_the_api_key_never_answered(env: dict[str, str]) -> None:
    api = Api(env, "t1", "alice")
    status, created, headers = api("POST", "/llm-providers", openai_body("https://1.1.1.1/v1"))
    assert status == 201, created
    pid = created["id"]
    assert headers["location"] == f"/llm-providers/{pid}" and headers["etag"] == '"1"'
    assert created["has_api_key"] and created["api_key_set_at"] and created["position"] == 1
    stored = raw_item("t1", pid)
    assert b"sk-very-secret" not in stored["key_ciphertext"]["B"] and stored["key_wrapped"]["B"]
    for answer in (created, api("GET", f"/llm-providers/{pid}")[1], api("GET", "/llm-providers")[1]):
        assert "sk-very-secret" not in json.dumps(answer) and "key_ciphertext" not in json.dumps(answer)

    assert api("PATCH", f"/llm-providers/{pid}", {"enabled": False}, headers={"If-Match": '"7"'})[0] == 412
    status, updated, headers = api("PATCH", f"/llm-providers/{pid}", {"enabled": False, "model": "gpt-2"},
                                   headers={"If-Match": '"1"'})
    assert status == 200 and not updated["enabled"] and updated["model"] == "gpt-2" and headers["etag"] == '"2"'
    assert updated["has_api_key"]  # untouched by an update that does not name it
    assert api("DELETE", f"/llm-providers/{pid}", headers={"If-Match": '"1"'})[0] == 412
    assert api("DELETE", f"/llm-providers/{pid}", headers={"If-Match": '"2"'})[0] == 204
    assert api("GET", f"/llm-providers/{pid}")[0] == 404


def test_bad_configurations_are_422_naming_every_field(env: dict[str, str]) -> None:
    api = Api(env, "t1", "alice")
    for url in ("https://169.254.169.254/v1", "https://10.1.2.3/v1", "ftp://203.0.113.10/"):
        status, problem, _ = api("POST", "/llm-providers", openai_body(url))
        assert status == 422 and [e["path"] for e in problem["errors"]] == ["body.base_url"], problem
    status, problem, _ = api("POST", "/llm-providers", {"name": "b", "kind": "bedrock", "api_key": "x",
                                                       "base_url": "https://1.1.1.1/"})
    assert status == 422
    assert [e["path"] for e in problem["errors"]] == ["body.model", "body.base_url", "body.api_key"]
    status, problem, _ = api("POST", "/llm-providers", {"name": "b", "kind": "nope", "region": "x"})
    assert status == 422 and {e["path"] for e in problem["errors"]} == {"body.kind", "body.region"}


def test_tenancy_foreign_ids_are_404_and_observers_only_read(env: dict[str, str]) -> None:
    alice, bob = Api(env, "t1", "alice"), Api(env, "t2", "bob", "admin")
    pid = alice("POST", "/llm-providers", {"name": "o", "kind": "offline"})[1]["id"]
    for method, path, body in (("GET", f"/llm-providers/{pid}", None),
                               ("PATCH", f"/llm-providers/{pid}", {"name": "x"}),
                               ("DELETE", f"/llm-providers/{pid}", None),
                               ("POST", f"/llm-providers/{pid}/test", None)):
        assert bob(method, path, body)[0] == 404, (method, path)
    assert bob("GET", "/llm-providers")[1]["items"] == []
    status, problem, _ = bob("PUT", "/llm-providers/order", {"ids": [pid]})
    assert status == 422 and problem["errors"][0]["path"] == "body.ids.0"
    observer = Api(env, "t1", "olga", "observer")
    assert observer("GET", "/llm-providers")[0] == 200
    assert observer("POST", "/llm-providers", {"name": "o", "kind": "offline"})[0] == 403
    assert observer("POST", f"/llm-providers/{pid}/test")[0] == 403


def test_failover_order_and_idempotent_create(env: dict[str, str]) -> None:
    api = Api(env, "t1", "alice")
    first = api("POST", "/llm-providers", {"name": "a", "kind": "offline"}, headers={"Idempotency-Key": "k1"})[1]
    again = api("POST", "/llm-providers", {"name": "a", "kind": "offline"}, headers={"Idempotency-Key": "k1"})[1]
    assert again["id"] == first["id"]
    assert api("POST", "/llm-providers", {"name": "z", "kind": "offline"}, headers={"Idempotency-Key": "k1"})[0] == 422
    second = api("POST", "/llm-providers", {"name": "b", "kind": "offline"})[1]
    status, listing, headers = api("GET", "/llm-providers")
    assert [p["id"] for p in listing["items"]] == [first["id"], second["id"]] and headers["etag"] == '"0"'
    status, ordered, headers = api("PUT", "/llm-providers/order", {"ids": [second["id"]]},
                                   headers={"If-Match": '"0"'})
    assert status == 200 and headers["etag"] == '"1"'
    assert [(p["id"], p["position"]) for p in ordered["items"]] == [(second["id"], 1), (first["id"], 2)]
    assert api("PUT", "/llm-providers/order", {"ids": [first["id"]]}, headers={"If-Match": '"0"'})[0] == 412
    assert [p["id"] for p in api("GET", "/llm-providers")[1]["items"]] == [second["id"], first["id"]]
    status, problem, _ = api("PUT", "/llm-providers/order", {"ids": [first["id"], first["id"]]})
    assert status == 422 and problem["errors"][0]["type"] == "duplicate"


def test_a_ciphertext_copied_to_another_tenants_provider_cannot_be_decrypted(env: dict[str, str]) -> None:
    alice, mallory = Api(env, "t1", "alice"), Api(env, "t2", "mallory", "admin")
    with local_endpoint(json_answer(COMPLETION)) as (url, recorded):
        victim = alice("POST", "/llm-providers", openai_body(f"{url}/v1"))[1]["id"]
        own = mallory("POST", "/llm-providers", openai_body(f"{url}/v1", api_key="sk-mallory"))[1]["id"]
        stolen = raw_item("t1", victim)
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.update_item(
            TableName=PROVIDERS, Key={"PK": {"S": "T#t2#PROVIDERS"}, "SK": {"S": f"P#{own}"}},
            UpdateExpression="SET key_ciphertext = :c, key_nonce = :n, key_wrapped = :w",
            ExpressionAttributeValues={":c": stolen["key_ciphertext"], ":n": stolen["key_nonce"],
                                       ":w": stolen["key_wrapped"]})
        # KMS itself refuses the wrapped data key under the other tenant's context (moto enforces it too).
        kms = boto3.client("kms", region_name="us-east-1")
        with pytest.raises(ClientError, match="InvalidCiphertextException"):
            kms.decrypt(CiphertextBlob=stolen["key_wrapped"]["B"], KeyId=env["PROVIDERS_KEY_ID"],
                        EncryptionContext={"tenant_id": "t2", "provider_id": own})
        with function_environment(env):
            service = wiring.provider_service()
            with pytest.raises(KeyUnavailable):
                service.api_key(service.store.get("t2", own) or {})
            assert service.api_key(service.store.get("t1", victim) or {}) == "sk-very-secret"
        status, problem, _ = mallory("POST", f"/llm-providers/{own}/test")
        assert status == 503 and problem["type"].endswith("provider-key-unavailable"), problem
        assert not recorded.requests  # the stolen key never left
        with function_environment(env):
            assert wiring.tenant_provider("t2") is None  # the unreadable provider is left out of the chain
        status, answer, _ = alice("POST", f"/llm-providers/{victim}/test")
        assert status == 200 and answer["ok"]
        assert recorded.requests[-1]["headers"]["authorization"] == "Bearer sk-very-secret"


def test_test_reports_latency_model_and_tokens_or_the_providers_error(env: dict[str, str]) -> None:
    api = Api(env, "t1", "alice")
    with local_endpoint(json_answer(COMPLETION)) as (url, recorded):
        pid = api("POST", "/llm-providers", openai_body(f"{url}/v1"))[1]["id"]
        status, result, _ = api("POST", f"/llm-providers/{pid}/test")
        assert status == 200, result
        assert result["ok"] and result["model"] == "gpt-test" and result["latency_ms"] >= 0
        assert result["usage"] == {"input_tokens": 11, "output_tokens": 1, "total_tokens": 12}
        assert recorded.requests[0]["body"]["model"] == "gpt-test"
    for answer, status, slug in ((json_answer({"error": "bad key"}, 401), 422, "provider-refused"),
                                 (json_answer({"error": "down"}, 500), 503, "provider-unavailable"),
                                 (json_answer({"unexpected": True}), 503, "provider-failed")):
        with local_endpoint(answer) as (url, _):
            failing = api("POST", "/llm-providers", openai_body(f"{url}/v1"))[1]["id"]
            code, problem, _ = api("POST", f"/llm-providers/{failing}/test")
            assert code == status and problem["type"].endswith(slug), problem
            assert problem["provider_id"] == failing


def test_usage_rows_per_provider_and_agent_per_day(env: dict[str, str]) -> None:
    api = Api(env, "t1", "alice")
    first = api("POST", "/llm-providers", {"name": "a", "kind": "offline"})[1]["id"]
    second = api("POST", "/llm-providers", {"name": "b", "kind": "offline"})[1]["id"]
    api("POST", f"/llm-providers/{first}/test")
    api("POST", f"/llm-providers/{first}/test")
    message = [{"role": "user", "content": [{"text": "list my tasks"}]}]
    with function_environment(env):
        chain = wiring.tenant_provider("t1", agent_id="agent-1")
        assert isinstance(chain, FailoverProvider)
        chain.converse(messages=message)
        named = wiring.tenant_provider("t1", provider_id=second, agent_id="agent-1")
        assert named is not None
        named.converse(messages=message)
    status, usage, _ = api("GET", "/llm-providers/usage")
    assert status == 200
    rows = {(r["provider_id"], r["agent_id"]): r for r in usage["items"]}
    assert set(rows) == {(first, None), (first, "agent-1"), (second, "agent-1")}
    assert rows[(first, None)]["calls"] == 2 and rows[(first, "agent-1")]["calls"] == 1
    row = rows[(second, "agent-1")]
    assert row["total_tokens"] == row["input_tokens"] + row["output_tokens"] > 0
    only = api("GET", "/llm-providers/usage", query=f"provider_id={second}")[1]["items"]
    assert [(r["provider_id"], r["agent_id"]) for r in only] == [(second, "agent-1")]
    assert len(api("GET", "/llm-providers/usage", query="agent_id=agent-1")[1]["items"]) == 2
    page = api("GET", "/llm-providers/usage", query="limit=1")[1]
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = api("GET", "/llm-providers/usage", query=f"limit=5&cursor={page['next_cursor']}")[1]
    assert len(rest["items"]) == 2
    assert api("GET", "/llm-providers/usage", query="from=2026-12-05&to=2026-12-01")[0] == 422
    assert Api(env, "t2", "bob")("GET", "/llm-providers/usage")[1]["items"] == []


def test_tenant_provider_is_none_without_providers_and_caches_per_tenant(env: dict[str, str]) -> None:
    api = Api(env, "t1", "alice")
    with function_environment(env):
        assert wiring.tenant_provider("t1") is None
    pid = api("POST", "/llm-providers", {"name": "a", "kind": "bedrock", "model": "anthropic.x"})[1]["id"]
    with function_environment(env):
        chain = wiring.tenant_provider("t1")  # the API's write dropped the cached "none" of this container
        assert chain is not None and [p.name for p in chain.providers] == [f"offline:{pid}"]  # local: bedrock->offline
        assert wiring.tenant_provider("t2") is None
        assert set(wiring._cache) == {(PROVIDERS, "t1"), (PROVIDERS, "t2")}
    with function_environment({k: v for k, v in env.items() if k != "PROVIDERS_TABLE"}):
        assert wiring.tenant_provider("t1") is None  # a function without the grant uses the platform chain


def test_a_base_url_that_turns_private_after_saving_is_refused_at_connection(env: dict[str, str],
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name passed the guard on save; at call time it resolves to loopback and is refused."""
    import socket

    api = Api(env, "t1", "alice")
    public = {**env, "CREWHOUSE_LOCAL": "false"}  # no loopback allowance, as in AWS
    real = socket.getaddrinfo
    answers = {"rebind.example": "1.1.1.1"}

    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    api.env = public
    status, created, _ = api("POST", "/llm-providers", openai_body("https://rebind.example/v1"))
    assert status == 201, created
    answers["rebind.example"] = "127.0.0.1"
    connections: list[Any] = []
    real_connect = socket.create_connection

    def connect(address: Any, *args: Any, **kwargs: Any) -> Any:
        connections.append(address)
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", connect)
    status, problem, _ = api("POST", f"/llm-providers/{created['id']}/test")
    assert status == 503 and problem["type"].endswith("provider-unavailable"), problem
    assert "ConnectError" in problem["detail"]
    assert connections == []  # refused before any connection to the private address was opened


def test_cached_providers_are_read_again_after_their_time(env: dict[str, str]) -> None:
    """A write made by another container is seen once this container's entry is older than the cache time."""
    with function_environment(env):
        assert wiring.tenant_provider("t1") is None
        other_container = wiring.provider_service()
        other_container.on_change = lambda tenant_id: None  # another container's write: this cache is not told
        other_container.create(Identity("t1", "alice", "admin", frozenset()), ProviderCreate(name="o", kind="offline"))
        assert wiring.tenant_provider("t1") is None  # still cached
    with function_environment({**env, "PROVIDERS_CACHE_SECONDS": "0"}):
        assert wiring.tenant_provider("t1") is not None
