"""Sample data for a new local cloud: what a person would have after a few days of use, made through the API.

Everything goes through the HTTP API as the demo user (the same routes, rules and streams as any client), so
the sample is also a smoke test of a fresh start. Loaded on a first start (nothing restored), unless
``crewhouse local --empty``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx

SAMPLE_TAG = "sample"


@dataclass(frozen=True)
class SampleSummary:
    tasks: int
    notebooks: int
    notes: int
    files: int
    jobs: int

    def __str__(self) -> str:
        return (f"{self.tasks} tasks, {self.notebooks} notebooks, {self.notes} notes, {self.files} file, "
                f"{self.jobs} research job")


class SampleClient:
    def __init__(self, api_url: str, id_token: str) -> None:
        self._api = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {id_token}"}, timeout=60)

    def post(self, path: str, body: dict[str, Any], expected: int = 201, *, method: str = "POST") -> dict[str, Any]:
        response = self._api.request(method, path, json=body)
        if response.status_code != expected:
            raise RuntimeError(f"sample data: {method} {path} answered {response.status_code}: {response.text[:300]}")
        return dict(response.json())

    def close(self) -> None:
        self._api.close()


def _png() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (480, 320), "#0f766e")
    ImageDraw.Draw(image).text((24, 140), "Crewhouse whiteboard", fill="white")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _tasks(client: SampleClient, today: date) -> int:
    def day(offset: int) -> str:
        return (today + timedelta(days=offset)).isoformat()

    made = 0

    def task(title: str, priority: str, offset: int | None, **fields: Any) -> dict[str, Any]:
        nonlocal made
        made += 1
        body = {"title": title, "priority": priority, "tags": [SAMPLE_TAG, *fields.pop("tags", [])], **fields}
        if offset is not None:
            body["planned_date"] = day(offset)
        return client.post("/tasks", body)

    draft = task("Draft the quarterly plan", "A", 0, tags=["work"], description="Goals, budget and hires.")
    task("Review the plan with the team", "A", 1, tags=["work"], depends_on=[draft["id"]])
    due = datetime.combine(today + timedelta(days=2), time(15, 0), tzinfo=UTC).isoformat()
    task("Call the bank about the mortgage", "A", 2, tags=["money"], due=due,
         reminders=[{"minutes_before_due": 30}])
    task("Weekly review", "B", 0, recurrence="FREQ=WEEKLY", tags=["routine"])
    task("Book the dentist", "B", 1, tags=["health"])
    task("Answer the newsletter replies", "B", 3, tags=["work"])
    task("Buy a birthday present for Sam", "B", 4, tags=["home"])
    task("Tidy the downloads folder", "C", 2)
    task("Read the article on serverless costs", "C", 5, tags=["reading"])
    task("Someday: learn to sail", "C", None, tags=["ideas"])
    return made


def _notes(client: SampleClient) -> tuple[int, int]:
    work = client.post("/notebooks", {"name": "Work"})
    home = client.post("/notebooks", {"name": "Home"})
    notes = [
        {"title": "Quarterly plan", "notebook_id": work["id"], "tags": [SAMPLE_TAG, "work"],
         "body": "# Quarterly plan\n\n## Goals\n- Ship the web console\n- Halve the job pipeline's requests\n\n"
                 "## Budget\nKeep AWS spend flat while usage doubles."},
        {"title": "Meeting notes: planning", "notebook_id": work["id"], "tags": [SAMPLE_TAG, "work"],
         "body": "Decided: one table adapter for every store. Next: costs per operation."},
        {"title": "Groceries", "notebook_id": home["id"], "tags": [SAMPLE_TAG, "home"], "body": "For the weekend.",
         "checklist": [{"text": "Milk"}, {"text": "Coffee beans", "checked": True}, {"text": "Tomatoes"}]},
    ]
    for note in notes:
        client.post("/notes", note)
    return 2, len(notes)


def _image(client: SampleClient) -> int:
    data = _png()
    created = client.post("/files", {"filename": "whiteboard.png", "content_type": "image/png", "size": len(data)})
    upload = created["upload"]
    response = httpx.post(upload["url"], data=upload["fields"], files={"file": ("whiteboard.png", data)}, timeout=60)
    if response.status_code != 204:
        raise RuntimeError(f"sample data: the image upload answered {response.status_code}: {response.text[:300]}")
    return 1  # the thumbnail follows from the upload's event, as for any upload


def load_sample_data(api_url: str, id_token: str, today: date | None = None) -> SampleSummary:
    """A week of tasks (A, B and C, a recurrence, a dependency, a reminder), two notebooks with notes and a
    checklist, an image (its thumbnail follows), the workspace's key to the local web, and a research job over
    them and the web (it finishes in the background)."""
    client = SampleClient(api_url, id_token)
    try:
        tasks = _tasks(client, today or datetime.now(UTC).date())
        notebooks, notes = _notes(client)
        files = _image(client)
        # The local web (crewhouse.local.web_corpus) takes any key: research then reads it beside the notes.
        client.post("/research/web-search", {"api_key": "local-corpus-key"}, 200, method="PUT")
        client.post("/jobs", {"type": "research", "params": {"topic": "quarterly plan and priorities",
                                                             "depth": "quick"}}, 202)
    finally:
        client.close()
    return SampleSummary(tasks=tasks, notebooks=notebooks, notes=notes, files=files, jobs=1)
