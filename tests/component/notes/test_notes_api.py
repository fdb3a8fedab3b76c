"""The notes Lambda in-process against moto: notes, checklists, HTML, big bodies in S3, revisions, trash,
clips, tasks from notes, and the errors."""

import re
from typing import Any

import boto3

from tests.component.notes.conftest import BUCKET, Call


def create(call: Call, **fields: Any) -> dict[str, Any]:
    status, _, body = call("POST", "/notes", {"title": "A note", **fields})
    assert status == 201, body
    return dict(body)


def notebook(call: Call, name: str, parent_id: str | None = None) -> dict[str, Any]:
    status, _, body = call("POST", "/notebooks", {"name": name, "parent_id": parent_id})
    assert status == 201, body
    return dict(body)


def body_objects(prefix: str = "notes/") -> list[str]:
    s3 = boto3.client("s3", region_name="us-east-1")
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_create_get_patch_with_etags(call: Call) -> None:
    status, headers, note = call("POST", "/notes", {"title": "Groceries", "body": "# Shopping\n\n- milk",
                                                     "tags": ["#Home", "home", "Errands"]})
    assert status == 201
    assert headers["location"] == f"/notes/{note['id']}"
    assert headers["etag"] == '"1"'
    assert (note["tags"], note["version"], note["revision"], note["body_size"]) == (["home", "errands"], 1, 1, 18)
    assert note["excerpt"] == "Shopping milk"

    status, headers, fetched = call("GET", f"/notes/{note['id']}")
    assert (status, fetched["body"], headers["etag"]) == (200, "# Shopping\n\n- milk", '"1"')

    status, headers, patched = call("PATCH", f"/notes/{note['id']}", {"body": "# Shopping\n\n- milk\n- eggs"},
                                    headers={"if-match": '"1"'})
    assert (status, patched["version"], patched["revision"], headers["etag"]) == (200, 2, 2, '"2"')
    status, _, problem = call("PATCH", f"/notes/{note['id']}", {"title": "stale"}, headers={"if-match": '"1"'})
    assert (status, problem["status"]) == (412, 412)
    status, _, favored = call("PATCH", f"/notes/{note['id']}", {"favorite": True})
    assert (status, favored["favorite"], favored["version"], favored["revision"]) == (200, True, 3, 2)


def test_other_users_and_tenants_see_404(call: Call) -> None:
    note = create(call, body="private")
    book = notebook(call, "mine")
    for user, tenant in (("u2", "t1"), ("u1", "t2")):
        assert call("GET", f"/notes/{note['id']}", user=user, tenant=tenant)[0] == 404
        assert call("PATCH", f"/notes/{note['id']}", {"title": "x"}, user=user, tenant=tenant)[0] == 404
        assert call("DELETE", f"/notes/{note['id']}", user=user, tenant=tenant)[0] == 404
        assert call("DELETE", f"/notes/{note['id']}", user=user, tenant=tenant, query="permanent=true")[0] == 404
        assert call("GET", f"/notes/{note['id']}/revisions", user=user, tenant=tenant)[0] == 404
        assert call("POST", f"/notes/{note['id']}/checklist", {"text": "x"}, user=user, tenant=tenant)[0] == 404
        assert call("GET", f"/notebooks/{book['id']}", user=user, tenant=tenant)[0] == 404
        assert call("POST", "/notes", {"notebook_id": book["id"]}, user=user, tenant=tenant)[0] == 422
        assert call("GET", "/notes", user=user, tenant=tenant)[2]["items"] == []


def test_lists_filter_and_page_with_signed_cursors(call: Call) -> None:
    book = notebook(call, "Work")
    first = create(call, title="first", notebook_id=book["id"], tags=["plan"])
    pinned = create(call, title="pinned", notebook_id=book["id"], pinned=True)
    last = create(call, title="last", notebook_id=book["id"], favorite=True, tags=["plan"])
    create(call, title="archived", notebook_id=book["id"], archived=True)
    create(call, title="elsewhere")

    def titles(query: str) -> list[str]:
        status, _, page = call("GET", "/notes", query=query)
        assert status == 200, page
        return [n["title"] for n in page["items"]]

    notebook_query = f"notebook_id={book['id']}"
    assert titles(notebook_query) == ["pinned", "last", "first"]  # pinned first, then newest
    assert titles(f"{notebook_query}&tag=plan") == ["last", "first"]
    assert titles(f"{notebook_query}&favorite=true") == ["last"]
    assert titles(f"{notebook_query}&pinned=true") == ["pinned"]
    assert titles(f"{notebook_query}&archived=true") == ["archived"]
    assert titles("") == ["elsewhere", "last", "pinned", "first"]  # every note, newest first
    assert [n["id"] for n in call("GET", "/notes/recent", query="limit=2")[2]["items"]] != [first["id"], pinned["id"]]

    _, _, page1 = call("GET", "/notes", query=f"{notebook_query}&limit=2")
    assert [n["title"] for n in page1["items"]] == ["pinned", "last"]
    _, _, page2 = call("GET", "/notes", query=f"{notebook_query}&limit=2&cursor={page1['next_cursor']}")
    assert [n["title"] for n in page2["items"]][:1] == ["first"]
    assert call("GET", "/notes", query=f"{notebook_query}&tag=plan&cursor={page1['next_cursor']}")[0] == 400
    assert call("GET", "/notes", query=f"{notebook_query}&cursor={page1['next_cursor']}", user="u2")[0] == 400
    assert "body" not in page1["items"][0]  # lists show summaries
    assert last["id"] in [n["id"] for n in call("GET", "/notes/recent")[2]["items"]]


def test_html_is_rendered_and_sanitized(call: Call) -> None:
    note = create(call, body="# Title\n\n**bold** [ok](https://example.com) [bad](javascript:alert(1))\n\n"
                               "<script>alert(2)</script>\n\n<img src=x onerror=\"alert(3)\">\n\n"
                               "<a href=\"JaVaScRiPt:alert(4)\">x</a> <iframe src=\"https://evil.example\"></iframe>")
    status, headers, html = call("GET", f"/notes/{note['id']}", query="format=html", raw=True)
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert headers["etag"] == '"1"'
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">ok</a>' in html
    lowered = html.lower()
    for forbidden in ("<script", "onerror", "<iframe", "alert(2)", "alert(3)", "alert(4)"):
        assert forbidden not in lowered, (forbidden, html)
    assert not re.search(r"(href|src)\s*=\s*[\"']?\s*javascript:", lowered), html
    assert "[bad](javascript:alert(1))" in html  # an unsafe link stays inert text


def test_big_bodies_live_in_s3_and_read_back(call: Call) -> None:
    big = "word " * (70 * 1024)  # 350 KiB
    note = create(call, body=big)
    assert note["body_size"] == len(big)
    objects = body_objects()
    assert len(objects) == 1 and objects[0].startswith(f"notes/t1/u1/{note['id']}/")
    stored = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName="notes", Key={"PK": {"S": "T#t1#U#u1"}, "SK": {"S": f"NOTE#{note['id']}"}})["Item"]
    assert "body" not in stored and stored["body_key"]["S"] == objects[0]
    status, _, fetched = call("GET", f"/notes/{note['id']}")
    assert (status, fetched["body"]) == (200, big)

    status, _, renamed = call("PATCH", f"/notes/{note['id']}", {"title": "renamed"})
    assert (status, renamed["body"], renamed["revision"]) == (200, big, 2)
    assert len(body_objects()) == 2  # each revision owns its body object
    status, _, first = call("GET", f"/notes/{note['id']}/revisions/1")
    assert (status, first["body"], first["title"]) == (200, big, "A note")

    status, _, small = call("PATCH", f"/notes/{note['id']}", {"body": "small again"})
    assert (status, small["body"]) == (200, "small again")
    assert call("GET", f"/notes/{note['id']}")[2]["body"] == "small again"


def test_bodies_over_one_mebibyte_are_413(call: Call) -> None:
    status, _, problem = call("POST", "/notes", {"title": "huge", "body": "é" * (600 * 1024)})  # 1.2 MB in UTF-8
    assert status == 413, problem
    note = create(call)
    assert call("PATCH", f"/notes/{note['id']}", {"body": "x" * (1024 * 1024 + 1)})[0] in (413, 422)


def test_checklist_add_check_move_remove(call: Call) -> None:
    note = create(call, checklist=[{"text": "milk"}, {"text": "eggs"}])
    milk, eggs = (item["id"] for item in note["checklist"])
    status, headers, added = call("POST", f"/notes/{note['id']}/checklist", {"text": "bread", "after_id": milk})
    assert status == 201
    assert [i["text"] for i in added["checklist"]] == ["milk", "bread", "eggs"]
    bread = added["checklist"][1]["id"]
    status, _, checked = call("PATCH", f"/notes/{note['id']}/checklist/{eggs}", {"checked": True},
                              headers={"if-match": headers["etag"]})
    assert status == 200 and checked["checklist"][2]["checked"] is True
    status, _, moved = call("POST", f"/notes/{note['id']}/checklist/{eggs}/move", {"position": 0})
    assert [i["text"] for i in moved["checklist"]] == ["eggs", "milk", "bread"]
    status, _, moved = call("POST", f"/notes/{note['id']}/checklist/{eggs}/move", {"before_id": bread})
    assert [i["text"] for i in moved["checklist"]] == ["milk", "eggs", "bread"]
    status, _, removed = call("DELETE", f"/notes/{note['id']}/checklist/{milk}")
    assert status == 200 and [i["text"] for i in removed["checklist"]] == ["eggs", "bread"]
    assert call("DELETE", f"/notes/{note['id']}/checklist/{milk}")[0] == 404
    assert call("PATCH", f"/notes/{note['id']}/checklist/{eggs}", {"checked": False},
                headers={"if-match": '"1"'})[0] == 412
    assert call("POST", f"/notes/{note['id']}/checklist/{eggs}/move", {})[0] == 422
    assert call("POST", f"/notes/{note['id']}/checklist", {"text": ""})[0] == 422
    _, _, revisions = call("GET", f"/notes/{note['id']}/revisions")
    assert [r["revision"] for r in revisions["items"]] == [6, 5, 4, 3, 2, 1]  # every change is a revision


def test_revisions_restore_and_keep_the_last_hundred(call: Call) -> None:
    note = create(call, title="v1", body="one")
    for n in range(2, 106):
        status, _, _ = call("PATCH", f"/notes/{note['id']}", {"title": f"v{n}", "body": f"body {n}"})
        assert status == 200
    _, _, page = call("GET", f"/notes/{note['id']}/revisions", query="limit=3")
    assert [r["revision"] for r in page["items"]] == [105, 104, 103]
    numbers = [r["revision"] for r in page["items"]]
    while page["next_cursor"]:
        _, _, page = call("GET", f"/notes/{note['id']}/revisions", query=f"limit=40&cursor={page['next_cursor']}")
        numbers += [r["revision"] for r in page["items"]]
    assert numbers == list(range(105, 5, -1))  # exactly the last 100
    assert call("GET", f"/notes/{note['id']}/revisions/5")[0] == 404

    status, _, old = call("GET", f"/notes/{note['id']}/revisions/50")
    assert (status, old["title"], old["body"]) == (200, "v50", "body 50")
    status, _, restored = call("POST", f"/notes/{note['id']}/revisions/50/restore",
                                     headers={"if-match": '"105"'})
    assert (status, restored["title"], restored["body"], restored["revision"]) == (200, "v50", "body 50", 106)
    _, _, newest = call("GET", f"/notes/{note['id']}/revisions", query="limit=1")
    assert newest["items"][0] | {"created_at": None} == {
        "revision": 106, "title": "v50", "reason": "restore", "restored_from": 50, "body_size": 7, "created_at": None}
    assert call("POST", f"/notes/{note['id']}/revisions/50/restore", headers={"if-match": '"105"'})[0] == 412


def test_trash_restore_and_permanent_delete(call: Call, aws: Any) -> None:
    note = create(call, body="remember me")
    assert call("DELETE", f"/notes/{note['id']}", headers={"if-match": '"9"'})[0] == 412
    assert call("DELETE", f"/notes/{note['id']}")[0] == 204
    assert call("GET", f"/notes/{note['id']}")[0] == 404
    assert call("PATCH", f"/notes/{note['id']}", {"title": "x"})[0] == 404
    assert note["id"] not in [n["id"] for n in call("GET", "/notes")[2]["items"]]
    _, _, trash = call("GET", "/notes/trash")
    assert [n["id"] for n in trash["items"]] == [note["id"]]
    assert trash["items"][0]["trashed_at"] and trash["items"][0]["purge_at"]
    assert call("GET", "/notes/trash", user="u2")[2]["items"] == []

    status, _, back = call("POST", f"/notes/{note['id']}/restore")
    assert (status, back["body"], back["trashed_at"]) == (200, "remember me", None)
    assert call("GET", f"/notes/{note['id']}")[0] == 200
    assert call("GET", "/notes/trash")[2]["items"] == []

    # Past the 30 days (TTL has not removed it yet): no longer restorable, not listed.
    call("DELETE", f"/notes/{note['id']}")
    aws.update_item(TableName="notes", Key={"PK": {"S": "T#t1#U#u1"}, "SK": {"S": f"NOTE#{note['id']}"}},
                    UpdateExpression="SET expires_at = :past", ExpressionAttributeValues={":past": {"N": "1000"}})
    assert call("POST", f"/notes/{note['id']}/restore")[0] == 410
    assert call("GET", "/notes/trash")[2]["items"] == []

    other = create(call, body="gone for good")
    call("PATCH", f"/notes/{other['id']}", {"body": "second"})
    assert call("DELETE", f"/notes/{other['id']}", query="permanent=true")[0] == 204
    assert call("POST", f"/notes/{other['id']}/restore")[0] == 404
    left = aws.query(TableName="notes", KeyConditionExpression="PK = :pk",
                     ExpressionAttributeValues={":pk": {"S": f"T#t1#U#u1#NOTE#{other['id']}"}})["Items"]
    assert left == []  # its revisions went with it


def test_notebooks_nest_five_levels_and_refuse_cycles(call: Call) -> None:
    chain = [notebook(call, "level 1")]
    for level in range(2, 6):
        chain.append(notebook(call, f"level {level}", chain[-1]["id"]))
    status, _, problem = call("POST", "/notebooks", {"name": "level 6", "parent_id": chain[-1]["id"]})
    assert status == 422, problem
    assert call("POST", "/notebooks", {"name": "x", "parent_id": "missing"})[0] == 422

    top = chain[0]
    status, _, problem = call("PATCH", f"/notebooks/{top['id']}", {"parent_id": chain[2]["id"]})
    assert (status, problem["type"].rsplit("/", 1)[1]) == (409, "notebook-cycle")
    assert call("PATCH", f"/notebooks/{top['id']}", {"parent_id": top["id"]})[0] == 409
    other = notebook(call, "other")
    assert call("PATCH", f"/notebooks/{top['id']}", {"parent_id": other["id"]})[0] == 422  # 1 + 5 levels
    assert call("PATCH", f"/notebooks/{chain[1]['id']}", {"parent_id": other["id"]})[0] == 200  # 1 + 4 levels
    status, headers, moved = call("PATCH", f"/notebooks/{chain[3]['id']}", {"parent_id": other["id"]},
                                  headers={"if-match": '"1"'})  # out of level 2's subtree, which moved
    assert (status, moved["parent_id"], headers["etag"]) == (200, other["id"], '"2"')
    assert call("PATCH", f"/notebooks/{chain[3]['id']}", {"name": "stale"}, headers={"if-match": '"1"'})[0] == 412
    status, _, renamed = call("PATCH", f"/notebooks/{chain[3]['id']}", {"name": "Renamed", "parent_id": None})
    assert (status, renamed["name"], renamed["parent_id"]) == (200, "Renamed", None)

    _, _, children = call("GET", "/notebooks", query=f"parent_id={other['id']}")
    assert [n["name"] for n in children["items"]] == ["level 2"]
    _, _, tops = call("GET", "/notebooks", query="top_level=true")
    assert [n["name"] for n in tops["items"]] == ["level 1", "other", "Renamed"]
    assert len(call("GET", "/notebooks")[2]["items"]) == 6


def test_deleting_a_notebook_needs_recursive_when_not_empty(call: Call) -> None:
    top = notebook(call, "Projects")
    sub = notebook(call, "Alpha", top["id"])
    kept = create(call, title="top note", notebook_id=top["id"])
    nested = create(call, title="nested note", notebook_id=sub["id"])
    status, _, problem = call("DELETE", f"/notebooks/{top['id']}")
    assert (status, problem["type"].rsplit("/", 1)[1]) == (409, "notebook-not-empty")
    assert call("DELETE", f"/notebooks/{top['id']}", query="recursive=true", user="u2")[0] == 404
    assert call("DELETE", f"/notebooks/{top['id']}", query="recursive=true")[0] == 204
    assert call("GET", f"/notebooks/{top['id']}")[0] == 404
    assert call("GET", f"/notebooks/{sub['id']}")[0] == 404
    assert call("GET", f"/notes/{kept['id']}")[0] == 404
    _, _, trash = call("GET", "/notes/trash")
    assert {n["id"] for n in trash["items"]} == {kept["id"], nested["id"]}
    status, _, back = call("POST", f"/notes/{nested['id']}/restore")
    assert (status, back["notebook_id"]) == (200, None)  # its notebook is gone: back at the top level
    empty = notebook(call, "Empty")
    assert call("DELETE", f"/notebooks/{empty['id']}")[0] == 204


def test_idempotent_create(call: Call) -> None:
    headers = {"idempotency-key": "note-123"}
    first = call("POST", "/notes", {"title": "once"}, headers=headers)
    second = call("POST", "/notes", {"title": "once"}, headers=headers)
    assert first[0] == second[0] == 201
    assert first[2]["id"] == second[2]["id"]
    assert call("POST", "/notes", {"title": "different"}, headers=headers)[0] == 422
    assert len(call("GET", "/notes")[2]["items"]) == 1


def test_clip_extracts_readable_markdown_and_metadata(call: Call) -> None:
    html = """<html><head><title>How to bake bread | The Kitchen</title>
    <meta property="og:site_name" content="The Kitchen"><meta name="author" content="Jane Baker">
    <meta property="article:published_time" content="2026-03-04T10:00:00Z"></head>
    <body><nav><a href="/">Home</a> | <a href="/about">About</a></nav><article><h1>How to bake bread</h1>
    <p>Bread needs flour, water, salt and yeast. Knead the dough for ten minutes until it is smooth.</p>
    <p>Let it rise for an hour, then <a href="https://kitchen.example/shape">shape it</a> and bake it at 230
    degrees for thirty minutes.</p><script>steal()</script></article>
    <footer>Copyright 2026 The Kitchen</footer></body></html>"""
    status, _, note = call("POST", "/notes/clip", {"url": "https://kitchen.example/bread", "html": html,
                                                   "tags": ["recipes"]})
    assert status == 201, note
    assert note["title"] == "How to bake bread"
    assert note["source"] | {"clipped_at": None} == {
        "url": "https://kitchen.example/bread", "site_name": "The Kitchen", "author": "Jane Baker",
        "published": "2026-03-04", "clipped_at": None}
    assert "Knead the dough" in note["body"] and "[shape it](https://kitchen.example/shape)" in note["body"]
    assert "steal()" not in note["body"] and "Home" not in note["body"] and "Copyright" not in note["body"]
    _, _, revisions = call("GET", f"/notes/{note['id']}/revisions")
    assert revisions["items"][0]["reason"] == "clip"
    empty = "<html><body></body></html>"
    status, _, problem = call("POST", "/notes/clip", {"url": "https://a.example/", "html": empty})
    assert status == 422, problem
    assert call("POST", "/notes/clip", {"url": "file:///etc/passwd", "html": "<p>x</p>"})[0] == 422


def test_tasks_from_a_note_and_its_checklist_items(call: Call, call_tasks: Call) -> None:
    note = create(call, title="Plan the trip", tags=["travel"], checklist=[{"text": "book flights"},
                                                                          {"text": "renew passport"}])
    flights = note["checklist"][0]["id"]
    status, _, made = call("POST", f"/notes/{note['id']}/tasks", {})
    assert status == 201, made
    (whole,) = made["tasks"]
    assert (whole["title"], whole["description"], whole["tags"]) == ("Plan the trip", f"note:{note['id']}", ["travel"])
    assert made["note"]["task_ids"] == [whole["id"]]

    headers = {"idempotency-key": "tasks-1"}
    status, _, items = call("POST", f"/notes/{note['id']}/tasks", {"checklist_item_ids": [flights], "priority": "A"},
                            headers=headers)
    assert status == 201, items
    (task,) = items["tasks"]
    assert (task["title"], task["priority"]) == ("book flights", "A")
    assert task["description"].startswith(f"note:{note['id']}")
    assert items["note"]["checklist"][0]["task_id"] == task["id"]
    assert items["note"]["task_ids"] == [whole["id"], task["id"]]
    again = call("POST", f"/notes/{note['id']}/tasks", {"checklist_item_ids": [flights], "priority": "A"},
                 headers=headers)
    assert (again[0], [t["id"] for t in again[2]["tasks"]]) == (201, [task["id"]])
    repeat = call("POST", f"/notes/{note['id']}/tasks", {"checklist_item_ids": [flights]})
    assert [t["id"] for t in repeat[2]["tasks"]] == [task["id"]]  # the item keeps its one task

    status, _, fetched = call_tasks("GET", f"/tasks/{task['id']}")
    assert (status, fetched["title"]) == (200, "book flights")
    assert call_tasks("GET", f"/tasks/{task['id']}", user="u2")[0] == 404
    assert call("POST", f"/notes/{note['id']}/tasks", {"checklist_item_ids": ["nope"]})[0] == 422
    assert call("POST", f"/notes/{note['id']}/tasks", {}, user="u2")[0] == 404


def test_blank_note_titles_and_item_texts_still_make_titled_tasks(call: Call) -> None:
    # A task title must not be blank, a note title and a checklist item's text may be: fall back, not fail.
    note = create(call, title="   ", body="Call the plumber about the leak", checklist=[{"text": "  "}])
    status, _, made = call("POST", f"/notes/{note['id']}/tasks", {})
    assert status == 201, made
    assert made["tasks"][0]["title"] == "Call the plumber about the leak"
    status, _, made = call("POST", f"/notes/{note['id']}/tasks", {"checklist_item_ids": [note["checklist"][0]["id"]]})
    assert status == 201, made
    assert made["tasks"][0]["title"].strip()


def test_bad_input_is_problem_json(call: Call) -> None:
    assert call("POST", "/notes", {"title": "x" * 501})[0] == 422
    assert call("POST", "/notes", {"unknown": 1})[0] == 422
    assert call("POST", "/notes", {"notebook_id": "missing"})[0] == 422
    assert call("POST", "/notes", {"checklist": [{"text": "a", "id": "same"}, {"text": "b", "id": "same"}]})[0] == 422
    assert call("POST", "/notes", {"checklist": [{"text": "x" * 400} for _ in range(200)]})[0] == 422  # > 64 KiB
    assert call("POST", "/notebooks", {"name": "   "})[0] == 422
    note = create(call)
    assert call("PATCH", f"/notes/{note['id']}", {"title": None})[0] == 422
    assert call("GET", f"/notes/{note['id']}", query="format=pdf")[0] == 422
    assert call("GET", f"/notes/{note['id']}/revisions/0")[0] == 422
    assert call("GET", "/notes/search")[0] == 422
