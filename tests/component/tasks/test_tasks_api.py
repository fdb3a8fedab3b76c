"""The tasks Lambda in-process against moto: CRUD, ordering, completion, dependencies, errors."""

from typing import Any

from tests.component.tasks.conftest import Call


def create(call: Call, title: str, **fields: object) -> dict[str, Any]:
    status, _, body = call("POST", "/tasks", {"title": title, **fields})
    assert status == 201, body
    return dict(body)


def test_create_get_patch_delete(call: Call) -> None:
    status, headers, task = call("POST", "/tasks", {"title": "Call the bank", "priority": "A",
                                                     "planned_date": "2026-12-01", "tags": ["#Finance"]})
    assert status == 201
    assert headers["location"] == f"/tasks/{task['id']}"
    assert headers["etag"] == '"1"'
    assert (task["label"], task["tags"], task["status"]) == ("A1", ["finance"], "todo")

    status, _, fetched = call("GET", f"/tasks/{task['id']}")
    assert (status, fetched["title"]) == (200, "Call the bank")

    status, _, body = call("PATCH", f"/tasks/{task['id']}", {"title": "Call the bank again"},
                           headers={"if-match": '"1"'})
    assert (status, body["version"]) == (200, 2)
    status, _, body = call("PATCH", f"/tasks/{task['id']}", {"title": "stale"}, headers={"if-match": '"1"'})
    assert status == 412

    assert call("DELETE", f"/tasks/{task['id']}")[0] == 204
    assert call("GET", f"/tasks/{task['id']}")[0] == 404


def test_other_users_and_tenants_see_404(call: Call) -> None:
    task = create(call, "private")
    assert call("GET", f"/tasks/{task['id']}", user="u2")[0] == 404
    assert call("GET", f"/tasks/{task['id']}", tenant="t2")[0] == 404
    assert call("PATCH", f"/tasks/{task['id']}", {"title": "x"}, user="u2")[0] == 404
    assert call("DELETE", f"/tasks/{task['id']}", tenant="t2")[0] == 404
    assert call("POST", f"/tasks/{task['id']}/complete", user="u2")[0] == 404


def test_labels_follow_letter_then_order(call: Call) -> None:
    day = {"planned_date": "2026-12-02"}
    b1 = create(call, "b first", priority="B", **day)
    a1 = create(call, "a first", priority="A", **day)
    a2 = create(call, "a second", priority="A", **day)
    status, _, page = call("GET", "/tasks", query="planned_date=2026-12-02")
    assert status == 200
    assert [(t["id"], t["label"]) for t in page["items"]] == [(a1["id"], "A1"), (a2["id"], "A2"), (b1["id"], "B1")]
    assert page["next_cursor"] is None


def test_move_before_and_across_groups(call: Call) -> None:
    day = {"planned_date": "2026-12-03", "priority": "A"}
    first, second, third = (create(call, name, **day) for name in ("one", "two", "three"))
    status, _, moved = call("POST", f"/tasks/{third['id']}/move", {"before_id": first["id"]})
    assert (status, moved["label"]) == (200, "A1")
    _, _, page = call("GET", "/tasks", query="planned_date=2026-12-03")
    assert [t["title"] for t in page["items"]] == ["three", "one", "two"]
    assert [t["label"] for t in page["items"]] == ["A1", "A2", "A3"]

    status, _, moved = call("POST", f"/tasks/{second['id']}/move", {"priority": "C", "planned_date": "2026-12-04"})
    assert (status, moved["label"], moved["planned_date"]) == (200, "C1", "2026-12-04")
    status, _, moved = call("POST", f"/tasks/{first['id']}/move", {"after_id": second["id"]})
    assert status == 422  # the anchor is in another group


def test_pagination_with_signed_cursor(call: Call) -> None:
    for i in range(5):
        create(call, f"task {i}", planned_date="2026-12-05")
    _, _, page1 = call("GET", "/tasks", query="planned_date=2026-12-05&limit=2")
    assert [t["label"] for t in page1["items"]] == ["B1", "B2"]
    _, _, page2 = call("GET", "/tasks", query=f"planned_date=2026-12-05&limit=2&cursor={page1['next_cursor']}")
    assert [t["label"] for t in page2["items"]] == ["B3", "B4"]
    status, _, _ = call("GET", "/tasks", query=f"planned_date=2026-12-06&cursor={page1['next_cursor']}")
    assert status == 400  # a cursor only works for the list it came from
    status, _, _ = call("GET", "/tasks", query=f"planned_date=2026-12-05&cursor={page1['next_cursor']}", user="u2")
    assert status == 400


def test_complete_blocked_task_lists_blockers(call: Call) -> None:
    blocker = create(call, "blocker")
    task = create(call, "blocked", depends_on=[blocker["id"]])
    status, _, body = call("POST", f"/tasks/{task['id']}/complete")
    assert status == 409
    assert [b["id"] for b in body["blockers"]] == [blocker["id"]]
    assert call("POST", f"/tasks/{blocker['id']}/complete")[0] == 200
    status, _, body = call("POST", f"/tasks/{task['id']}/complete")
    assert (status, body["status"]) == (200, "done")
    assert body["completed_at"]
    status, _, body = call("POST", f"/tasks/{task['id']}/reopen")
    assert (status, body["status"], body["completed_at"]) == (200, "todo", None)


def test_recurring_completion_creates_exactly_one_next(call: Call) -> None:
    task = create(call, "water plants", planned_date="2026-12-07", recurrence="FREQ=WEEKLY", timezone="Europe/Berlin")
    call("POST", f"/tasks/{task['id']}/complete")
    call("POST", f"/tasks/{task['id']}/complete")  # twice: still one next occurrence
    call("POST", f"/tasks/{task['id']}/reopen")
    call("POST", f"/tasks/{task['id']}/complete")  # and again after reopening
    _, _, page = call("GET", "/tasks", query="planned_date=2026-12-14")
    assert [t["title"] for t in page["items"]] == ["water plants"]


def test_dependency_cycle_is_409_with_path(call: Call) -> None:
    a, b, c = (create(call, n) for n in "abc")
    assert call("POST", f"/tasks/{a['id']}/dependencies", {"depends_on": b["id"]})[0] == 200
    assert call("POST", f"/tasks/{b['id']}/dependencies", {"depends_on": c["id"]})[0] == 200
    status, _, body = call("POST", f"/tasks/{c['id']}/dependencies", {"depends_on": a["id"]})
    assert status == 409
    assert body["cycle"] == [c["id"], a["id"], b["id"], c["id"]]
    status, _, body = call("POST", f"/tasks/{a['id']}/dependencies", {"depends_on": a["id"]})
    assert status == 409
    status, _, body = call("DELETE", f"/tasks/{a['id']}/dependencies/{b['id']}")
    assert (status, body["depends_on"]) == (200, [])


def test_bad_input_is_problem_json(call: Call) -> None:
    assert call("POST", "/tasks", {"title": ""})[0] == 422
    assert call("POST", "/tasks", {"title": "   "})[0] == 422
    assert call("POST", "/tasks", {"title": "x", "priority": "D"})[0] == 422
    assert call("POST", "/tasks", {"title": "x", "depends_on": [f"t{i}" for i in range(101)]})[0] == 422
    assert call("POST", "/tasks", {"title": "x", "parent_id": "missing"})[0] == 422
    status, _, body = call("POST", "/tasks", {"title": "x", "recurrence": "FREQ=SOMETIMES"})
    assert status == 422
    assert body["errors"][0]["path"] == "body.recurrence"
    assert call("POST", "/tasks", {"title": "x", "timezone": "Mars/Olympus"})[0] == 422
    status, _, _ = call("POST", "/tasks", {"title": "x", "reminders": [{"at": "2020-01-01T09:00:00+00:00"}]})
    assert status == 422  # a reminder in the past


def test_quick_add_refuses_text_whose_title_would_be_too_long(call: Call) -> None:
    status, headers, body = call("POST", "/tasks/quick-add", {"text": "word " * 199 + "x" * 5})
    assert status == 422, body
    assert headers["content-type"] == "application/problem+json"
    assert [e["path"] for e in body["errors"]] == ["body.text"]
    assert "title" in body["errors"][0]["message"] and "500 characters" in body["errors"][0]["message"]
    assert call("GET", "/tasks")[2]["items"] == []  # nothing was created


def test_quick_add_refuses_text_that_leaves_no_task(call: Call) -> None:
    for text in ("#only-a-tag", "   ", f"#{'t' * 65} call mum"):
        status, _, body = call("POST", "/tasks/quick-add", {"text": text})
        assert status == 422, (text, body)
        assert [e["path"] for e in body["errors"]] == ["body.text"], text


def test_subtasks_nest_three_levels(call: Call) -> None:
    top = create(call, "top")
    middle = create(call, "middle", parent_id=top["id"])
    bottom = create(call, "bottom", parent_id=middle["id"])
    assert call("POST", "/tasks", {"title": "too deep", "parent_id": bottom["id"]})[0] == 422
    _, _, page = call("GET", "/tasks", query=f"parent_id={top['id']}")
    assert [t["title"] for t in page["items"]] == ["middle"]


def test_idempotent_create(call: Call) -> None:
    headers = {"idempotency-key": "abc-123"}
    first = call("POST", "/tasks", {"title": "once"}, headers=headers)
    second = call("POST", "/tasks", {"title": "once"}, headers=headers)
    assert first[0] == second[0] == 201
    assert first[2]["id"] == second[2]["id"]
    assert call("POST", "/tasks", {"title": "different"}, headers=headers)[0] == 422


def test_templates_instantiate_with_subtasks(call: Call) -> None:
    status, _, template = call("POST", "/task-templates", {
        "name": "Weekly review", "task": {"title": "Review week", "priority": "A"},
        "subtasks": [{"title": "Inbox zero"}, {"title": "Plan next week"}]})
    assert status == 201
    status, _, created = call("POST", f"/task-templates/{template['id']}/instantiate", {"planned_date": "2026-12-10"})
    assert status == 201
    assert [t["title"] for t in created] == ["Review week", "Inbox zero", "Plan next week"]
    assert {t["parent_id"] for t in created[1:]} == {created[0]["id"]}
    _, _, listed = call("GET", "/task-templates")
    assert [t["name"] for t in listed["items"]] == ["Weekly review"]
    assert call("DELETE", f"/task-templates/{template['id']}")[0] == 204
    assert call("GET", f"/task-templates/{template['id']}", user="u1")[0] == 404


def test_filtered_lists_keep_each_tasks_label(call: Call) -> None:
    day = {"planned_date": "2026-12-08", "priority": "A"}
    first, second, third = (create(call, name, **day) for name in ("one", "two", "three"))
    assert call("POST", f"/tasks/{second['id']}/complete")[0] == 200
    _, _, page = call("GET", "/tasks", query="planned_date=2026-12-08&status=todo")
    assert [(t["title"], t["label"]) for t in page["items"]] == [("one", "A1"), ("three", "A3")]
    _, _, everything = call("GET", "/tasks", query="status=todo&status=in_progress")
    assert {t["id"]: t["label"] for t in everything["items"]} == {first["id"]: "A1", third["id"]: "A3"}


def test_without_a_timezone_quick_add_and_create_use_the_profiles(aws: Any, call: Call) -> None:
    from crewhouse.core.table import Table
    from crewhouse.platform.store import DynamoPlatformStore
    from tests.support.members import PLATFORM_TABLE

    _, _, utc = call("POST", "/tasks/quick-add", {"text": "call mum tomorrow 9am"})
    assert utc["task"]["due"].endswith("T09:00:00Z") or utc["task"]["due"].endswith("T09:00:00+00:00")

    call("GET", "/tasks")  # the caller's membership (and so the platform table) exists
    DynamoPlatformStore(Table(aws, PLATFORM_TABLE)).update_profile("u1", {"timezone": "Asia/Tokyo"})
    status, _, tokyo = call("POST", "/tasks/quick-add", {"text": "call dad tomorrow 9am"})
    assert status == 201, tokyo
    assert tokyo["task"]["due"].endswith("T09:00:00+09:00") and tokyo["task"]["timezone"] == "Asia/Tokyo"
    # A request that names its zone wins; a task created with a due time and no zone takes the profile's.
    _, _, named = call("POST", "/tasks/quick-add", {"text": "call gran tomorrow 9am", "timezone": "Europe/Paris"})
    assert named["task"]["timezone"] == "Europe/Paris"
    _, _, created = call("POST", "/tasks", {"title": "dentist", "due": "2026-12-10T08:30:00+09:00"})
    assert (created["timezone"], created["planned_date"]) == ("Asia/Tokyo", "2026-12-10")
    _, _, plain = call("POST", "/tasks", {"title": "no time, no zone"})
    assert plain["timezone"] is None
