"""Notes over real HTTP on the embedded cloud: the stream-fed search index and sync feed, the trash, revisions,
large bodies in S3, tasks made from notes, web clips, and another user's notes answering 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer
from tests.support.waiting import eventually


@pytest.fixture
def owner(new_user: Callable[[], SignedInUser]) -> dict[str, str]:
    return bearer(new_user().id_token)


def post(api: httpx.Client, headers: dict[str, str], path: str, **fields: Any) -> dict[str, Any]:
    response = api.post(path, json=fields, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_search_trash_restore_and_sync(api: httpx.Client, owner: dict[str, str]) -> None:
    token = api.get("/sync", headers=owner).json()["token"]
    book = post(api, owner, "/notebooks", name="Travel")
    wanted = post(api, owner, "/notes", title="Passport renewal", body="Bring two photos.", notebook_id=book["id"])
    post(api, owner, "/notes", title="Holiday photos", body="The passport photos from the booth")

    def titles(q: str, **params: str) -> list[str]:
        response = api.get("/notes/search", params={"q": q, **params}, headers=owner)
        assert response.status_code == 200, response.text
        return [n["title"] for n in response.json()["items"]]

    assert eventually(lambda: titles("passport") == ["Passport renewal", "Holiday photos"])
    assert titles("pasport")[0] == "Passport renewal"
    assert titles("passport", notebook_id=book["id"]) == ["Passport renewal"]

    assert api.delete(f"/notes/{wanted['id']}", headers=owner).status_code == 204
    assert api.get(f"/notes/{wanted['id']}", headers=owner).status_code == 404
    assert [n["id"] for n in api.get("/notes/trash", headers=owner).json()["items"]] == [wanted["id"]]
    assert eventually(lambda: titles("passport") == ["Holiday photos"])

    def feed() -> dict[str, Any] | None:
        body = dict(api.get("/sync", params={"since": token}, headers=owner).json())
        kinds = {(i["kind"], i["id"]) for i in body["items"]}
        done = ("notebook", book["id"]) in kinds and {"kind": "note", "id": wanted["id"]} in body["deleted"]
        return body if done else None

    body = eventually(feed)
    assert body, "the sync feed never showed the notebook and the trashed note"
    assert all(i["kind"] in ("note", "notebook") for i in body["items"])

    restored = api.post(f"/notes/{wanted['id']}/restore", headers=owner)
    assert restored.status_code == 200 and restored.json()["body"] == "Bring two photos."
    assert eventually(lambda: titles("passport") == ["Passport renewal", "Holiday photos"])

    def back() -> dict[str, Any] | None:
        later = dict(api.get("/sync", params={"since": body["token"]}, headers=owner).json())
        return later if wanted["id"] in [i["id"] for i in later["items"] if i["kind"] == "note"] else None

    assert eventually(back), "the restored note never came back through the sync feed"


def test_revisions_html_and_large_bodies(api: httpx.Client, owner: dict[str, str]) -> None:
    note = post(api, owner, "/notes", title="Draft", body="first <script>alert(1)</script>")
    second = api.patch(f"/notes/{note['id']}", json={"body": "second"}, headers={**owner, "If-Match": '"1"'})
    assert second.status_code == 200 and second.headers["etag"] == '"2"'
    stale = api.patch(f"/notes/{note['id']}", json={"body": "stale"}, headers={**owner, "If-Match": '"1"'})
    assert stale.status_code == 412
    revisions = api.get(f"/notes/{note['id']}/revisions", headers=owner).json()["items"]
    assert [r["revision"] for r in revisions] == [2, 1]
    restored = api.post(f"/notes/{note['id']}/revisions/1/restore", headers=owner)
    assert restored.status_code == 200 and restored.json()["revision"] == 3
    html = api.get(f"/notes/{note['id']}", params={"format": "html"}, headers=owner)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "first" in html.text and "<script" not in html.text

    big = "lorem ipsum dolor " * 20_000  # 360,000 bytes: kept in S3
    large = post(api, owner, "/notes", title="Large", body=big)
    fetched = api.get(f"/notes/{large['id']}", headers=owner).json()
    assert (fetched["body"], fetched["body_size"]) == (big, len(big))
    assert api.get(f"/notes/{large['id']}/revisions/1", headers=owner).json()["body"] == big
    assert api.delete(f"/notes/{large['id']}", params={"permanent": "true"}, headers=owner).status_code == 204
    assert api.post(f"/notes/{large['id']}/restore", headers=owner).status_code == 404


def test_tasks_from_a_note_and_a_web_clip(api: httpx.Client, owner: dict[str, str]) -> None:
    note = post(api, owner, "/notes", title="Move house", checklist=[{"text": "book the van"}])
    item = note["checklist"][0]["id"]
    made = post(api, owner, f"/notes/{note['id']}/tasks", checklist_item_ids=[item])
    (task,) = made["tasks"]
    assert made["note"]["checklist"][0]["task_id"] == task["id"]
    fetched = api.get(f"/tasks/{task['id']}", headers=owner).json()
    assert (fetched["title"], fetched["description"].splitlines()[0]) == ("book the van", f"note:{note['id']}")

    html = ("<html><head><title>Van hire tips</title><meta name='author' content='Sam Carter'></head><body>"
            "<article><h1>Van hire tips</h1><p>Measure the furniture before you book a van, and reserve it a week "
            "ahead: weekends go first. Take photos of every scratch before you drive off.</p></article></body></html>")
    clip = post(api, owner, "/notes/clip", url="https://vans.example/tips", html=html)
    assert clip["source"]["url"] == "https://vans.example/tips" and clip["source"]["author"] == "Sam Carter"
    assert "Measure the furniture" in clip["body"]


def test_another_users_note_is_404_everywhere(api: httpx.Client, new_user: Callable[[], SignedInUser]) -> None:
    alice, bob = bearer(new_user().id_token), bearer(new_user().id_token)
    note = post(api, alice, "/notes", title="alice only", body="secret plans", checklist=[{"text": "x"}])
    book = post(api, alice, "/notebooks", name="alice's")
    item = note["checklist"][0]["id"]
    for method, path in [("GET", f"/notes/{note['id']}"), ("PATCH", f"/notes/{note['id']}"),
                         ("DELETE", f"/notes/{note['id']}"), ("POST", f"/notes/{note['id']}/restore"),
                         ("GET", f"/notes/{note['id']}/revisions"), ("GET", f"/notes/{note['id']}/revisions/1"),
                         ("POST", f"/notes/{note['id']}/revisions/1/restore"),
                         ("PATCH", f"/notes/{note['id']}/checklist/{item}"),
                         ("POST", f"/notes/{note['id']}/tasks"), ("GET", f"/notebooks/{book['id']}"),
                         ("DELETE", f"/notebooks/{book['id']}")]:
        response = api.request(method, path, headers=bob, json={} if method in ("PATCH", "POST") else None)
        assert response.status_code == 404, (method, path, response.text)
    assert eventually(lambda: api.get("/notes/search", params={"q": "secret"}, headers=alice).json()["items"])
    assert api.get("/notes/search", params={"q": "secret"}, headers=bob).json()["items"] == []
    assert api.get("/notes", headers=bob).json()["items"] == []
    assert api.get(f"/notes/{note['id']}", headers=alice).status_code == 200
