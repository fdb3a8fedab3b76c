"""Tags over real HTTP on the embedded cloud: counts kept from both tables' streams, a merge across tasks and
notes, and another user's tags out of sight."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer
from tests.support.waiting import eventually


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_counts_and_a_merge_across_tasks_and_notes(api: httpx.Client, new_user: Callable[[], SignedInUser]) -> None:
    me, someone = bearer(new_user().id_token), bearer(new_user().id_token)
    task = _created(api.post("/tasks", json={"title": "Call the bank", "tags": ["errand"]}, headers=me))
    note = _created(api.post("/notes", json={"title": "Bank", "body": "IBAN", "tags": ["errands", "money"]},
                             headers=me))

    def counts(headers: dict[str, str]) -> dict[str, tuple[int, int]]:
        response = api.get("/tags", headers=headers)
        assert response.status_code == 200, response.text
        return {t["tag"]: (t["tasks"], t["notes"]) for t in response.json()["items"]}

    assert eventually(lambda: counts(me) == {"errand": (1, 0), "errands": (0, 1), "money": (0, 1)})
    assert counts(someone) == {}

    renamed = api.post("/tags/errand/rename", json={"to": "errands"}, headers=me)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() == {"renamed_from": "errand", "to": "errands", "tasks": 1, "notes": 0, "complete": True}
    assert api.get(f"/tasks/{task['id']}", headers=me).json()["tags"] == ["errands"]
    assert api.get(f"/notes/{note['id']}", headers=me).json()["tags"] == ["errands", "money"]
    assert eventually(lambda: counts(me) == {"errands": (1, 1), "money": (0, 1)})
    assert api.post("/tags/errands/rename", json={"to": "chores"}, headers=someone).status_code == 404
