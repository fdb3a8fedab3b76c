"""The sample data a first local start loads, made through the API for a new user and read back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import httpx

from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.sample_data import SAMPLE_TAG, load_sample_data
from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer
from tests.support.waiting import eventually


def test_a_week_of_work_to_explore(api: httpx.Client, cloud: EmbeddedCloud,
                                   new_user: Callable[[], SignedInUser]) -> None:
    user = new_user()
    me = bearer(user.id_token)
    today = date(2026, 12, 7)
    summary = load_sample_data(cloud.api_url, user.id_token, today=today)
    assert (summary.tasks, summary.notebooks, summary.notes, summary.files, summary.jobs) == (10, 2, 3, 1, 1)

    tasks: list[dict[str, Any]] = api.get("/tasks", params={"limit": 50}, headers=me).json()["items"]
    assert len(tasks) == 10 and all(SAMPLE_TAG in t["tags"] for t in tasks)
    assert {t["priority"] for t in tasks} == {"A", "B", "C"}
    planned = {t["planned_date"] for t in tasks if t["planned_date"]}
    assert min(planned) == today.isoformat() and len(planned) == 6  # spread over the week
    by_title = {t["title"]: t for t in tasks}
    assert by_title["Review the plan with the team"]["depends_on"] == [by_title["Draft the quarterly plan"]["id"]]
    assert by_title["Weekly review"]["recurrence"].startswith("FREQ=WEEKLY")
    assert by_title["Call the bank about the mortgage"]["reminders"] == [{"at": None, "minutes_before_due": 30}]
    assert [t["label"] for t in tasks if t["planned_date"] == today.isoformat()] == ["A1", "B1"]

    notebooks = api.get("/notebooks", headers=me).json()["items"]
    assert sorted(n["name"] for n in notebooks) == ["Home", "Work"]
    notes = api.get("/notes", headers=me).json()["items"]
    groceries = next(n for n in notes if n["title"] == "Groceries")
    assert [(i["text"], i["checked"]) for i in groceries["checklist"]] == [
        ("Milk", False), ("Coffee beans", True), ("Tomatoes", False)]

    def thumbnail_ready() -> bool:
        files = api.get("/files", headers=me).json()["items"]
        return len(files) == 1 and bool(files[0].get("has_thumbnail"))

    assert eventually(thumbnail_ready, 60)

    def research_done() -> dict[str, Any] | None:
        jobs = api.get("/jobs", headers=me).json()["items"]
        return jobs[0] if jobs and jobs[0]["status"] == "succeeded" else None

    job = eventually(research_done, 90)
    assert job and job["type"] == "research", api.get("/jobs", headers=me).json()
    result = api.get(f"/notes/{job['result']['note_id']}", headers=me)
    assert result.status_code == 200 and "quarterly plan" in result.json()["body"].lower()
