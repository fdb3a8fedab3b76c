"""/tags on moto: counts kept from both streams, rename and merge across tasks and notes."""

from collections.abc import Callable
from typing import Any

from tests.component.notes.conftest import Call

Drain = Callable[[], dict[str, Any]]


def _tag_counts(call: Call) -> dict[str, tuple[int, int]]:
    status, _, body = call("GET", "/tags")
    assert status == 200
    return {t["tag"]: (t["tasks"], t["notes"]) for t in body["items"]}


def test_counts_follow_both_streams_and_the_trash(call: Call, call_tasks: Call, drain: Drain,
                                                  drain_tasks: Drain) -> None:
    call_tasks("POST", "/tasks", {"title": "Call the bank", "tags": ["Work", "money"]})
    call_tasks("POST", "/tasks", {"title": "Plan the week", "tags": ["work"]})
    _, _, note = call("POST", "/notes", {"title": "Ideas", "body": "x", "tags": ["work", "#home"]})
    assert drain_tasks() == {"batchItemFailures": []} and drain() == {"batchItemFailures": []}
    assert _tag_counts(call) == {"work": (2, 1), "money": (1, 0), "home": (0, 1)}
    assert _tag_counts(call) == _tag_counts(call)  # reading changes nothing

    call("DELETE", f"/notes/{note['id']}", headers={"If-Match": f'"{note["version"]}"'})  # to the trash
    drain()
    assert _tag_counts(call) == {"work": (2, 0), "money": (1, 0)}
    assert call("GET", "/tags", user="u2")[2] == {"items": []}  # per user


def test_rename_to_a_tag_in_use_merges_on_tasks_and_notes(call: Call, call_tasks: Call, drain: Drain,
                                                          drain_tasks: Drain) -> None:
    _, _, task = call_tasks("POST", "/tasks", {"title": "Call the bank", "tags": ["work", "money"]})
    _, _, both = call("POST", "/notes", {"title": "Both", "body": "x", "tags": ["work", "office"]})
    _, _, other = call("POST", "/notes", {"title": "Other", "body": "y", "tags": ["home"]})
    drain_tasks(), drain()

    status, _, result = call("POST", "/tags/%23Work/rename", {"to": "Office"})
    assert status == 200, result
    assert result == {"renamed_from": "work", "to": "office", "tasks": 1, "notes": 1, "complete": True}
    assert call_tasks("GET", f"/tasks/{task['id']}")[2]["tags"] == ["office", "money"]
    renamed = call("GET", f"/notes/{both['id']}")[2]
    assert renamed["tags"] == ["office"] and renamed["version"] == both["version"] + 1
    assert renamed["body"] == "x"  # tags are not content: no new revision
    assert len(call("GET", f"/notes/{both['id']}/revisions")[2]["items"]) == 1
    assert call("GET", f"/notes/{other['id']}")[2]["tags"] == ["home"]
    drain_tasks(), drain()
    assert _tag_counts(call) == {"office": (1, 1), "money": (1, 0), "home": (0, 1)}

    # Sent again (say the first answer was lost): nothing carries the old tag any more.
    status, _, again = call("POST", "/tags/work/rename", {"to": "office"})
    assert status == 404 and again["type"].endswith("/not-found")


def test_bad_renames_are_refused_and_change_nothing(call: Call, call_tasks: Call, drain_tasks: Drain) -> None:
    call_tasks("POST", "/tasks", {"title": "Call the bank", "tags": ["work"]})
    drain_tasks()
    for body, field in [({"to": "work"}, "body.to"), ({"to": " # "}, "to"), ({"to": ""}, "to"),
                        ({"to": "x" * 65}, "to"), ({"to": "a", "extra": 1}, "extra"), ({}, "to")]:
        status, _, problem = call("POST", "/tags/work/rename", body)
        assert status == 422, (body, problem)
        assert field in str(problem), (body, problem)
    assert _tag_counts(call) == {"work": (1, 0)}


def test_reindex_rebuilds_counts_of_items_the_streams_never_indexed_and_counts_each_once(
        call: Call, call_tasks: Call, drain: Drain, drain_tasks: Drain) -> None:
    call_tasks("POST", "/tasks", {"title": "Call the bank", "tags": ["work", "money"]})
    call_tasks("POST", "/tasks", {"title": "No tags"})
    call("POST", "/notes", {"title": "Ideas", "body": "x", "tags": ["work"]})
    _, _, trashed = call("POST", "/notes", {"title": "Old", "body": "y", "tags": ["old"]})
    call("DELETE", f"/notes/{trashed['id']}", headers={"If-Match": f'"{trashed["version"]}"'})
    call("POST", "/notes", {"title": "Other user's", "body": "z", "tags": ["work"]}, user="u2")
    assert _tag_counts(call) == {}  # written before the index existed: no stream record was processed

    status, _, result = call("POST", "/tags/reindex")
    assert status == 200, result
    assert result == {"tasks": 1, "notes": 1, "complete": True}  # tagged, live, the caller's own
    assert _tag_counts(call) == {"work": (1, 1), "money": (1, 0)}
    assert call("POST", "/tags/reindex")[2] == result and _tag_counts(call) == {"work": (1, 1), "money": (1, 0)}
    assert call("GET", "/tags", user="u2")[2] == {"items": []}  # another user's items are theirs to reindex
    assert drain_tasks() == {"batchItemFailures": []} and drain() == {"batchItemFailures": []}
    assert _tag_counts(call) == {"work": (1, 1), "money": (1, 0)}  # the streams' late records count nothing twice
