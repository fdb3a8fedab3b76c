"""Research reads the web on the embedded cloud: a tenant admin sets the workspace's search key (write-only), a
research job searches the local corpus (a Brave-shaped search API on loopback), reads the pages through the SSRF
guard, and its result note cites their URLs beside the owner's own notes."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer
from tests.integration.test_jobs_flow import finished, submit, wait_for
from tests.integration.test_tenancy import join

KEY = "local-corpus-key-1234"


@pytest.fixture(scope="module")
def admin(new_user: Callable[[], SignedInUser]) -> SignedInUser:
    return new_user()


def test_the_search_key_is_write_only_and_admins_only(api: httpx.Client, admin: SignedInUser,
                                                      new_user: Callable[[], SignedInUser]) -> None:
    me = bearer(admin.id_token)
    assert api.get("/research/web-search", headers=me).json()["configured"] is False
    assert api.delete("/research/web-search", headers=me).status_code == 404
    short = api.put("/research/web-search", json={"api_key": "short"}, headers=me)
    assert short.status_code == 422 and "api_key" in short.text
    member = join(api, admin, new_user(), "member")
    refused = api.put("/research/web-search", json={"api_key": KEY}, headers=bearer(member.id_token))
    assert refused.status_code == 403
    stored = api.put("/research/web-search", json={"api_key": KEY}, headers=me)
    assert stored.status_code == 200, stored.text
    assert stored.json()["configured"] is True and stored.json()["updated_at"]
    shown = api.get("/research/web-search", headers=bearer(member.id_token))
    assert shown.json()["configured"] is True and KEY not in shown.text


def test_research_reads_the_web_and_cites_the_pages(api: httpx.Client, admin: SignedInUser) -> None:
    me = bearer(admin.id_token)
    assert api.put("/research/web-search", json={"api_key": KEY}, headers=me).status_code == 200
    own = api.post("/notes", json={"title": "Our table design", "body": "We keep tasks in one DynamoDB table "
                                   "with single-table design: PK and SK per tenant and user."}, headers=me)
    assert own.status_code == 201, own.text
    job = submit(api, admin, {"type": "research", "params": {"topic": "DynamoDB single-table design",
                                                              "depth": "quick"}})
    done = wait_for(api, admin, job["id"], finished, timeout=90)
    assert done["status"] == "succeeded", done
    note = api.get(f"/notes/{done['result']['note_id']}", headers=me).json()
    body = note["body"]
    assert "the web (pages read for this report)" in body
    sources = body.split("## Sources", 1)[1]
    assert "/pages/" in sources and "http://127.0.0.1:" in sources  # the corpus pages it read, by URL
    assert "dynamodb" in sources.lower()


def test_without_a_key_research_keeps_to_the_workspace(api: httpx.Client,
                                                       new_user: Callable[[], SignedInUser]) -> None:
    person = new_user()
    job = submit(api, person, {"type": "research", "params": {"topic": "Step Functions retries", "depth": "quick"}})
    done = wait_for(api, person, job["id"], finished, timeout=90)
    assert done["status"] == "succeeded", done
    body = api.get(f"/notes/{done['result']['note_id']}", headers=bearer(person.id_token)).json()["body"]
    assert "no web search key is set" in body and "/pages/" not in body
