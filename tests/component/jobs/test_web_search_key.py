"""The workspace's web search key through the jobs Lambda against moto's Secrets Manager: admins set, replace
and remove it; nobody reads it back; research's provider uses it, and keeps to the workspace without it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from crewhouse.core.identity import Identity
from crewhouse.core.settings import function_environment
from crewhouse.jobs.api import handler
from crewhouse.jobs.search_keys import TenantSearchKeys
from crewhouse.jobs.settings import JobsSettings
from crewhouse.jobs.sources import search_provider
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.members import seed_membership
from tests.support.tables import mocked_tables

PREFIX = "crewhouse/web-search-keys/"
Call = Callable[..., tuple[int, Any]]


@pytest.fixture
def call(monkeypatch: pytest.MonkeyPatch) -> Iterator[Call]:
    with mocked_tables(monkeypatch, {"jobs": "JobsJobsTable", "notes": "NotesNotesTable"}):
        seed_membership("t1", "boss", "admin")
        seed_membership("t1", "worker", "member")
        seed_membership("t2", "other", "admin")
        env = {"JOBS_TABLE": "jobs", "NOTES_TABLE": "notes", "AWS_REGION": "us-east-1",
               "WEB_SEARCH_KEYS_PREFIX": PREFIX, "CURSOR_SIGNING_KEY": "test-key"}

        def invoke(method: str, user: str = "boss", body: Any = None, tenant: str = "t1") -> tuple[int, Any]:
            event = http_event(method, "/research/web-search", body=body, claims=claims_for(tenant, user))
            with function_environment(env):
                response = handler(event, lambda_context("jobs"))
            return response["statusCode"], response_json(response)

        yield invoke


def secrets() -> Any:
    return boto3.client("secretsmanager", region_name="us-east-1")


def test_admins_set_replace_and_remove_the_key_and_nobody_reads_it(call: Call) -> None:
    assert call("GET")[1]["configured"] is False
    assert call("PUT", body={"api_key": "first-key-123"})[0] == 200
    status, shown = call("PUT", body={"api_key": "second-key-456"})
    assert status == 200 and shown["configured"] is True and "key-456" not in str(shown)
    assert secrets().get_secret_value(SecretId=f"{PREFIX}t1/web-search")["SecretString"] == "second-key-456"
    assert call("GET", user="worker")[1]["configured"] is True
    assert call("GET", user="other", tenant="t2")[1]["configured"] is False  # one key per tenant
    status, problem = call("PUT", user="worker", body={"api_key": "member-key-789"})
    assert status == 403 and problem["type"].endswith("/admin-only")
    assert call("DELETE", user="worker")[0] == 403
    assert call("DELETE")[0] == 204
    assert call("GET")[1]["configured"] is False and call("DELETE")[0] == 404


def test_bad_keys_are_refused_naming_the_field(call: Call) -> None:
    for body in ({"api_key": "short"}, {"api_key": ""}, {}, {"api_key": "long-enough", "extra": 1}):
        status, problem = call("PUT", body=body)
        assert status == 422, body
        assert any("api_key" in e["path"] or "extra" in e["path"] for e in problem["errors"]), problem
    assert call("GET")[1]["configured"] is False


def test_research_uses_the_web_only_with_the_tenants_key(call: Call) -> None:
    settings = JobsSettings(aws_region="us-east-1", web_search_keys_prefix=PREFIX, notes_table="notes",
                            files_table="files", search_table="search")
    identity = Identity(tenant_id="t1", user_id="boss", role="admin", scopes=frozenset())
    assert search_provider(settings, identity).name == "tenant"
    TenantSearchKeys(secrets(), PREFIX).put("t1", "a-key-for-t1")
    assert search_provider(settings, identity).name == "web"
    other = Identity(tenant_id="t2", user_id="other", role="admin", scopes=frozenset())
    assert search_provider(settings, other).name == "tenant"


def test_the_key_is_read_only_when_a_job_searches(call: Call) -> None:
    settings = JobsSettings(aws_region="us-east-1", web_search_keys_prefix=PREFIX, notes_table="notes",
                            files_table="files", search_table="search")
    identity = Identity(tenant_id="t1", user_id="boss", role="admin", scopes=frozenset())
    TenantSearchKeys(secrets(), PREFIX).put("t1", "a-key-for-t1")
    reads: list[str] = []
    client = secrets()
    client.meta.events.register("provide-client-params.secrets-manager.GetSecretValue",
                                lambda params, **_: reads.append(params["SecretId"]))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("crewhouse.jobs.sources.aws_client", lambda service, _settings: client)
        provider = search_provider(settings, identity)  # a summarize or content job builds one and never searches
        assert reads == []
        assert provider.name == "web"
    assert reads == [f"{PREFIX}t1/web-search"]
