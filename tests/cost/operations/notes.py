"""Rows for the note extras (web clips, checklist items, revisions, tasks from notes), tags across tasks and
notes, task templates and task dependencies. Each row changes an item of its own (fresh from ``prepare`` where
the change cannot be repeated), so its count does not follow what other rows left behind."""

from __future__ import annotations

from typing import Any

from tests.cost.catalog import Context, Effect, Metered
from tests.cost.operations.agents_support import align_as, bearer, kept, new_person, ok, unique

CLIP_URL = "https://garden.example/tomatoes"
CLIP_HTML = """<html><head><title>Growing tomatoes | The Garden</title>
<meta property="og:site_name" content="The Garden"><meta name="author" content="Sam Grower"></head>
<body><nav><a href="/">Home</a></nav><article><h1>Growing tomatoes</h1>
<p>Sow the seeds indoors in March and keep them warm. Move the seedlings outside once the nights stay mild.</p>
<p>Water them deeply twice a week and <a href="/staking">stake them</a> before the fruit gets heavy.</p>
</article><footer>The Garden, 2026</footer></body></html>"""
TAGGED_NOTES = 2  # notes carrying the tag a rename or reindex reaches (in the rows' names)


def _note(ctx: Context, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    body = {"title": "Garden plan", "body": "Tomatoes, beans and basil along the south fence.", **fields}
    return dict(ok(ctx.api.post("/notes", json=body, headers=headers or ctx.headers), 201))


def _checklist_note(ctx: Context) -> dict[str, Any]:
    """A fresh note with three items: each checklist change is a new revision, so a reused note would in time
    reach the kept-revisions limit and prune one more per save."""
    return _note(ctx, checklist=[{"text": "buy seeds"}, {"text": "dig the bed"}, {"text": "set up stakes"}])


def _revised_note(ctx: Context) -> str:
    """A note with two revisions (created, then its body edited)."""
    note = _note(ctx)
    ok(ctx.api.patch(f"/notes/{note['id']}", json={"body": "Tomatoes and basil only."}, headers=ctx.headers))
    return str(note["id"])


def _cached_revised_note(ctx: Context) -> str:
    return str(kept(ctx, "notes_revised", lambda: _revised_note(ctx)))


def clip(ctx: Context, _: Any) -> Effect:
    """The client sends the page's HTML; the server only extracts it (it never fetches ``url``), so this runs
    offline as it would in AWS."""
    ok(ctx.api.post("/notes/clip", json={"url": CLIP_URL, "html": CLIP_HTML}, headers=ctx.headers), 201)
    return None


def add_item(ctx: Context, note: dict[str, Any]) -> Effect:
    ok(ctx.api.post(f"/notes/{note['id']}/checklist", json={"text": "water the seedlings"}, headers=ctx.headers),
       201)
    return None


def check_item(ctx: Context, note: dict[str, Any]) -> Effect:
    item = note["checklist"][0]["id"]
    ok(ctx.api.patch(f"/notes/{note['id']}/checklist/{item}", json={"checked": True}, headers=ctx.headers))
    return None


def move_item(ctx: Context, note: dict[str, Any]) -> Effect:
    item = note["checklist"][-1]["id"]
    ok(ctx.api.post(f"/notes/{note['id']}/checklist/{item}/move", json={"position": 0}, headers=ctx.headers))
    return None


def remove_item(ctx: Context, note: dict[str, Any]) -> Effect:
    item = note["checklist"][0]["id"]
    ok(ctx.api.delete(f"/notes/{note['id']}/checklist/{item}", headers=ctx.headers))
    return None


def get_revision(ctx: Context, note: str) -> Effect:
    ok(ctx.api.get(f"/notes/{note}/revisions/1", headers=ctx.headers))
    return None


def restore_revision(ctx: Context, note: str) -> Effect:
    ok(ctx.api.post(f"/notes/{note}/revisions/1/restore", headers=ctx.headers))
    return None


def task_from_note(ctx: Context, note: dict[str, Any]) -> Effect:
    ok(ctx.api.post(f"/notes/{note['id']}/tasks", json={}, headers=ctx.headers), 201)
    return None


def _tagged_notes(ctx: Context) -> tuple[str, str]:
    """Exactly ``TAGGED_NOTES`` notes with a tag no other item carries, and a new name no item carries."""
    tag = unique("notes-tag")
    for _ in range(TAGGED_NOTES):
        _note(ctx, tags=[tag])
    return tag, unique("notes-renamed")


def rename_tag(ctx: Context, names: tuple[str, str]) -> Effect:
    tag, to = names
    renamed = ok(ctx.api.post(f"/tags/{tag}/rename", json={"to": to}, headers=ctx.headers))
    assert (renamed["notes"], renamed["tasks"], renamed["complete"]) == (TAGGED_NOTES, 0, True), renamed
    return None


def _reindex_user(ctx: Context) -> dict[str, str]:
    """A user of their own with exactly ``TAGGED_NOTES`` tagged notes and no tasks: a rebuild reaches every
    tagged item of its caller, which for the cost user would be whatever the other rows tagged. Their block of
    the tenant's rate limit is aligned as ``align_tenant_block`` does for the cost user."""
    if "notes_reindex_user" not in ctx.state:
        headers = bearer(new_person(ctx, "notes-reindex").id_token)
        for _ in range(TAGGED_NOTES):
            _note(ctx, headers, tags=["harvest"])
        ctx.state["notes_reindex_user"] = headers
    headers = ctx.state["notes_reindex_user"]
    return dict(align_as(ctx, headers))


def reindex_tags(ctx: Context, headers: dict[str, str]) -> Effect:
    reached = ok(ctx.api.post("/tags/reindex", headers=headers))
    assert (reached["notes"], reached["tasks"], reached["complete"]) == (TAGGED_NOTES, 0, True), reached
    return None


def _template(ctx: Context) -> str:
    created = ok(ctx.api.post("/task-templates", json={"name": "Plant out", "task": {"title": "Plant tomatoes"},
                                                       "subtasks": [{"title": "Harden off the seedlings"}]},
                              headers=ctx.headers), 201)
    return str(created["id"])


def _cached_template(ctx: Context) -> str:
    return str(kept(ctx, "notes_template", lambda: _template(ctx)))


def get_template(ctx: Context, template: str) -> Effect:
    ok(ctx.api.get(f"/task-templates/{template}", headers=ctx.headers))
    return None


def delete_template(ctx: Context, template: str) -> Effect:
    ok(ctx.api.delete(f"/task-templates/{template}", headers=ctx.headers), 204)
    return None


def instantiate_template(ctx: Context, template: str) -> Effect:
    made = ok(ctx.api.post(f"/task-templates/{template}/instantiate", json={"planned_date": ctx.state["day"]},
                           headers=ctx.headers), 201)
    assert len(made) == 2, made
    return None


def _task(ctx: Context, title: str) -> str:
    return str(ok(ctx.api.post("/tasks", json={"title": title, "priority": "B"}, headers=ctx.headers), 201)["id"])


def _task_pair(ctx: Context) -> tuple[str, str]:
    """Two fresh tasks with no dependencies (the cycle check walks the blocker's dependencies)."""
    return _task(ctx, "Stake the tomatoes"), _task(ctx, "Buy stakes")


def _blocked_pair(ctx: Context) -> tuple[str, str]:
    blocked, blocker = _task_pair(ctx)
    ok(ctx.api.post(f"/tasks/{blocked}/dependencies", json={"depends_on": blocker}, headers=ctx.headers))
    return blocked, blocker


def add_dependency(ctx: Context, pair: tuple[str, str]) -> Effect:
    blocked, blocker = pair
    ok(ctx.api.post(f"/tasks/{blocked}/dependencies", json={"depends_on": blocker}, headers=ctx.headers))
    return None


def remove_dependency(ctx: Context, pair: tuple[str, str]) -> Effect:
    blocked, blocker = pair
    ok(ctx.api.delete(f"/tasks/{blocked}/dependencies/{blocker}", headers=ctx.headers))
    return None


METERED = [
    Metered("clip a web page (its HTML sent)", ("POST /notes/clip",), clip),
    Metered("add a checklist item", ("POST /notes/{note_id}/checklist",), add_item, _checklist_note),
    Metered("check a checklist item", ("PATCH /notes/{note_id}/checklist/{item_id}",), check_item,
            _checklist_note),
    Metered("move a checklist item", ("POST /notes/{note_id}/checklist/{item_id}/move",), move_item,
            _checklist_note),
    Metered("remove a checklist item", ("DELETE /notes/{note_id}/checklist/{item_id}",), remove_item,
            _checklist_note),
    Metered("one revision of a note", ("GET /notes/{note_id}/revisions/{revision}",), get_revision,
            _cached_revised_note),
    Metered("restore a note's revision", ("POST /notes/{note_id}/revisions/{revision}/restore",),
            restore_revision, _revised_note),
    Metered("make a task from a note", ("POST /notes/{note_id}/tasks",), task_from_note, _note),
    Metered(f"rename a tag on {TAGGED_NOTES} notes", ("POST /tags/{tag}/rename",), rename_tag, _tagged_notes),
    Metered(f"reindex tags, {TAGGED_NOTES} tagged notes", ("POST /tags/reindex",), reindex_tags, _reindex_user),
    Metered("get a task template", ("GET /task-templates/{template_id}",), get_template, _cached_template),
    Metered("delete a task template", ("DELETE /task-templates/{template_id}",), delete_template, _template),
    Metered("tasks from a template (a task, 1 subtask)", ("POST /task-templates/{template_id}/instantiate",),
            instantiate_template, _cached_template),
    Metered("block a task by another", ("POST /tasks/{task_id}/dependencies",), add_dependency, _task_pair),
    Metered("unblock a task", ("DELETE /tasks/{task_id}/dependencies/{other_id}",), remove_dependency,
            _blocked_pair),
]
