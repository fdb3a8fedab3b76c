"""Rows for the work-data routes (tasks, notes, notebooks, tags, sync, me, tenant, health): one row per route,
each against the cost user's own data. Rows that delete or change state irreversibly get a fresh item from
``prepare``."""

from __future__ import annotations

from typing import Any

from tests.cost.catalog import Context, Effect, Metered
from tests.cost.operations.agents_support import alternate, bus_agent, kept, ok
from tests.cost.operations.headline import NOTE_BODY, first_note, first_task


def _fresh_task(ctx: Context) -> str:
    created = ok(ctx.api.post("/tasks", json={"title": "Call the plumber", "priority": "B",
                                              "planned_date": ctx.state["day"]}, headers=ctx.headers), 201)
    return str(created["id"])


def _completed_task(ctx: Context) -> str:
    task = _fresh_task(ctx)
    ok(ctx.api.post(f"/tasks/{task}/complete", headers=ctx.headers))
    return task


def _fresh_note(ctx: Context) -> str:
    created = ok(ctx.api.post("/notes", json={"title": "Scratch", "body": NOTE_BODY}, headers=ctx.headers), 201)
    return str(created["id"])


def _get(path: str, **params: Any) -> Any:
    def run(ctx: Context, _: Any) -> Effect:
        ok(ctx.api.get(path, params=params or None, headers=ctx.headers))
        return None
    return run


AUDIT_PAGE = 3


def _audited_today(ctx: Context) -> None:
    """Today's audit partition holds a page: the listing reads the days that have records (one Query for their
    markers) newest first until it has ``limit`` records, so with fewer today the count would follow older data."""
    agent = bus_agent(ctx, "producer")
    for _ in range(AUDIT_PAGE):
        ok(ctx.api.patch(f"/agents/{agent['id']}", json={"description": "audited"}, headers=ctx.headers))


def get_task(ctx: Context, task: str) -> Effect:
    ok(ctx.api.get(f"/tasks/{task}", headers=ctx.headers))
    return None


def patch_task(ctx: Context, task: str) -> Effect:
    estimate = alternate(ctx, "estimate", 30, 45)
    ok(ctx.api.patch(f"/tasks/{task}", json={"estimate_minutes": estimate}, headers=ctx.headers))
    return None


def complete_task(ctx: Context, task: str) -> Effect:
    ok(ctx.api.post(f"/tasks/{task}/complete", headers=ctx.headers))
    return None


def reopen_task(ctx: Context, task: str) -> Effect:
    ok(ctx.api.post(f"/tasks/{task}/reopen", headers=ctx.headers))
    return None


def delete_task(ctx: Context, task: str) -> Effect:
    response = ctx.api.delete(f"/tasks/{task}", headers=ctx.headers)
    assert response.status_code in (200, 204), response.text
    return None


def quick_add(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.post("/tasks/quick-add", json={"text": "water the plants tomorrow"}, headers=ctx.headers), 201)
    return None


def get_note(ctx: Context, note: str) -> Effect:
    ok(ctx.api.get(f"/notes/{note}", headers=ctx.headers))
    return None


def delete_note(ctx: Context, note: str) -> Effect:
    response = ctx.api.delete(f"/notes/{note}", headers=ctx.headers)
    assert response.status_code in (200, 204), response.text
    return None


def create_notebook(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.post("/notebooks", json={"name": "Projects"}, headers=ctx.headers), 201)
    return None


METERED = [
    Metered("get a task", ("GET /tasks/{task_id}",), get_task, lambda ctx: first_task(ctx)),
    Metered("edit a task", ("PATCH /tasks/{task_id}",), patch_task, lambda ctx: first_task(ctx)),
    Metered("complete a task", ("POST /tasks/{task_id}/complete",), complete_task, _fresh_task),
    Metered("reopen a task", ("POST /tasks/{task_id}/reopen",), reopen_task, _completed_task),
    Metered("delete a task", ("DELETE /tasks/{task_id}",), delete_task, _fresh_task),
    Metered("quick-add a task", ("POST /tasks/quick-add",), quick_add),
    Metered("search tasks", ("GET /tasks/search",), _get("/tasks/search", q="milk")),
    Metered("list notes", ("GET /notes",), _get("/notes"), lambda ctx: first_note(ctx)),
    Metered("recent notes", ("GET /notes/recent",), _get("/notes/recent"), lambda ctx: first_note(ctx)),
    Metered("search notes", ("GET /notes/search",), _get("/notes/search", q="battery"), lambda ctx: first_note(ctx)),
    Metered("notes in the trash", ("GET /notes/trash",), _get("/notes/trash")),
    Metered("delete a note", ("DELETE /notes/{note_id}",), delete_note, _fresh_note),
    Metered("create a notebook", ("POST /notebooks",), create_notebook),
    Metered("list notebooks", ("GET /notebooks",), _get("/notebooks")),
    Metered("list tags", ("GET /tags",), _get("/tags")),
    Metered("sync, from the start", ("GET /sync",), _get("/sync")),
    Metered("who am I", ("GET /me",), _get("/me")),
    Metered("my tenants", ("GET /me/tenants",), _get("/me/tenants")),
    Metered("tenant members", ("GET /tenant/members",), _get("/tenant/members")),
    Metered("unread notifications count", ("GET /notifications/unread-count",), _get("/notifications/unread-count")),
    Metered("list notifications", ("GET /notifications",), _get("/notifications")),
    Metered("audit log, a page of 3 (today's records)", ("GET /audit",), _get("/audit", limit=AUDIT_PAGE),
            _audited_today),
    Metered("health", ("GET /health",), _get("/health")),
    Metered("ready", ("GET /ready",), _get("/ready")),
]


def _fresh_notebook(ctx: Context) -> str:
    return str(ok(ctx.api.post("/notebooks", json={"name": "Scratchpad"}, headers=ctx.headers), 201)["id"])


def _trashed_note(ctx: Context) -> str:
    note = _fresh_note(ctx)
    delete_note(ctx, note)
    return note


def _notebook(ctx: Context) -> str:
    return str(kept(ctx, "notebook", lambda: _fresh_notebook(ctx)))


def get_notebook(ctx: Context, notebook: str) -> Effect:
    ok(ctx.api.get(f"/notebooks/{notebook}", headers=ctx.headers))
    return None


def rename_notebook(ctx: Context, notebook: str) -> Effect:
    notebook_name = alternate(ctx, "notebook_name", "Work", "Home")
    ok(ctx.api.patch(f"/notebooks/{notebook}", json={"name": notebook_name}, headers=ctx.headers))
    return None


def delete_notebook(ctx: Context, notebook: str) -> Effect:
    response = ctx.api.delete(f"/notebooks/{notebook}", headers=ctx.headers)
    assert response.status_code in (200, 204), response.text
    return None


def edit_note(ctx: Context, note: str) -> Effect:
    ctx.state["favorite"] = not ctx.state.get("favorite", False)
    ok(ctx.api.patch(f"/notes/{note}", json={"favorite": ctx.state["favorite"]}, headers=ctx.headers))
    return None


def restore_note(ctx: Context, note: str) -> Effect:
    ok(ctx.api.post(f"/notes/{note}/restore", headers=ctx.headers))
    return None


def note_revisions(ctx: Context, note: str) -> Effect:
    ok(ctx.api.get(f"/notes/{note}/revisions", headers=ctx.headers))
    return None


def create_template(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.post("/task-templates", json={"name": "Weekly review", "task": {"title": "Review the week"}},
                    headers=ctx.headers), 201)
    return None


METERED += [
    Metered("get a notebook", ("GET /notebooks/{notebook_id}",), get_notebook, _notebook),
    Metered("rename a notebook", ("PATCH /notebooks/{notebook_id}",), rename_notebook, _notebook),
    Metered("delete a notebook", ("DELETE /notebooks/{notebook_id}",), delete_notebook, _fresh_notebook),
    Metered("edit a note", ("PATCH /notes/{note_id}",), edit_note, lambda ctx: first_note(ctx)),
    Metered("restore a note from the trash", ("POST /notes/{note_id}/restore",), restore_note, _trashed_note),
    Metered("a note's revisions", ("GET /notes/{note_id}/revisions",), note_revisions, lambda ctx: first_note(ctx)),
    Metered("create a task template", ("POST /task-templates",), create_template),
    Metered("list task templates", ("GET /task-templates",), _get("/task-templates")),
    Metered("list chat sessions", ("GET /chat/sessions",), _get("/chat/sessions")),
    Metered("list files", ("GET /files",), _get("/files")),
    Metered("file quota", ("GET /files/quota",), _get("/files/quota")),
    Metered("file retention policy", ("GET /files/retention",), _get("/files/retention")),
    Metered("my API tokens", ("GET /me/tokens",), _get("/me/tokens")),
    Metered("my notification preferences", ("GET /me/notification-preferences",),
            _get("/me/notification-preferences")),
    Metered("notification devices", ("GET /notifications/devices",), _get("/notifications/devices")),
    Metered("notification webhooks", ("GET /notifications/webhooks",), _get("/notifications/webhooks")),
    Metered("notification templates", ("GET /notification-templates",), _get("/notification-templates")),
    Metered("tenant invitations", ("GET /tenant/invitations",), _get("/tenant/invitations")),
    Metered("LLM providers", ("GET /llm-providers",), _get("/llm-providers")),
    Metered("LLM usage", ("GET /llm-providers/usage",), _get("/llm-providers/usage")),
    Metered("web search settings", ("GET /research/web-search",), _get("/research/web-search")),
]
