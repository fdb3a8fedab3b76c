"""The files Lambda and workers in-process against moto: quota, uploads, checks, scans, attachments."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import pytest

from crewhouse.files.ocr import Document, OcrResult
from tests.component.files.conftest import (
    BUCKET,
    Call,
    object_created,
    png,
    policy_of,
    run_worker,
    scan_result,
)

MIB = 1 << 20


def create(call: Call, size: int = 10, content_type: str = "text/plain", **extra: Any) -> dict[str, Any]:
    status, headers, body = call("POST", "/files", {"filename": "a.txt", "content_type": content_type, "size": size,
                                                    **extra})
    assert status == 201, body
    assert headers["location"] == f"/files/{body['id']}"
    return dict(body)


def arrive(s3: Any, env: dict[str, str], created: dict[str, Any], data: bytes, **kwargs: Any) -> str:
    """The bytes land in S3 (as the presigned POST would put them) and S3 reports it."""
    key = created["upload"]["fields"]["key"]
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return str(run_worker(env, "on_object_created", object_created(key), **kwargs)["result"])


def test_small_upload_is_a_presigned_post_pinning_type_and_exact_size(call: Call) -> None:
    created = create(call, size=1234, content_type="application/pdf", sha256="ab" * 32)
    upload = created["upload"]
    assert (created["status"], upload["multipart"]) == ("pending", False)
    assert upload["fields"]["key"] == f"uploads/t1/u1/{created['id']}"
    assert upload["fields"]["Content-Type"] == "application/pdf"
    assert upload["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    conditions = policy_of(upload)["conditions"]
    assert {"Content-Type": "application/pdf"} in conditions
    assert ["content-length-range", 1234, 1234] in conditions
    assert {"key": upload["fields"]["key"]} in conditions
    quota = call("GET", "/files/quota")[2]
    assert (quota["reserved"], quota["used"], quota["limit"]) == (1234, 0, 10 << 30)


def test_large_upload_is_multipart_and_limits_are_413(call: Call) -> None:
    created = create(call, size=300 * MIB, content_type="video/mp4")
    assert created["upload"] == {"multipart": True, "part_size": 16 * MIB, "parts": 19}
    status, _, body = call("POST", "/files", {"filename": "huge", "content_type": "video/mp4", "size": (5 << 30) + 1})
    assert (status, body["type"]) == (413, "https://crewhouse.dev/problems/file-too-large")
    biggest = create(call, size=5 << 30, content_type="video/mp4")
    assert biggest["upload"] == {"multipart": True, "part_size": 16 * MIB, "parts": 320}
    status, _, body = call("POST", "/files", {"filename": "x", "content_type": "video/mp4", "size": 5 << 30})
    assert (status, body["type"]) == (413, "https://crewhouse.dev/problems/quota-exceeded")
    assert call("GET", "/files/quota")[2]["reserved"] == 300 * MIB + (5 << 30)


def test_tenant_admins_set_the_per_user_limit(call: Call) -> None:
    assert call("PUT", "/files/quota/policy", {"user_limit_bytes": 100})[0] == 403
    assert call("PUT", "/files/quota/policy", {"user_limit_bytes": 100}, role="admin")[0] == 200
    assert call("GET", "/files/quota", user="u2")[2]["limit"] == 100
    assert call("GET", "/files/quota", tenant="t2")[2]["limit"] == 10 << 30
    assert call("POST", "/files", {"filename": "a", "content_type": "text/plain", "size": 101}, user="u2")[0] == 413


def test_concurrent_reservations_never_exceed_the_quota(call: Call) -> None:
    from crewhouse.local import dynamodb_writes

    dynamodb_writes.install()  # DynamoDB's own guarantee: a conditional write is atomic
    assert call("PUT", "/files/quota/policy", {"user_limit_bytes": 1000}, role="admin")[0] == 200
    statuses: list[int] = []
    barrier = threading.Barrier(10)

    def reserve() -> None:
        import asyncio

        asyncio.set_event_loop(asyncio.new_event_loop())  # Mangum runs the app on the thread's loop
        barrier.wait()
        statuses.append(call("POST", "/files", {"filename": "a", "content_type": "text/plain", "size": 300})[0])

    threads = [threading.Thread(target=reserve) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 3 + [413] * 7
    assert call("GET", "/files/quota")[2]["reserved"] == 900


def test_checked_upload_becomes_available_and_settles_quota_once(call: Call, s3: Any, env: dict[str, str]) -> None:
    data = b"hello, files"
    created = create(call, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    assert call("GET", f"/files/{created['id']}/download")[0] == 404  # not yet
    assert arrive(s3, env, created, data) == "accepted"
    _, _, file = call("GET", f"/files/{created['id']}")
    assert (file["status"], file["sha256"], file["ocr"]["status"]) == ("available", hashlib.sha256(data).hexdigest(),
                                                                       "not_applicable")
    assert arrive(s3, env, created, data) == "duplicate"  # EventBridge delivers at least once
    quota = call("GET", "/files/quota")[2]
    assert (quota["used"], quota["reserved"]) == (len(data), 0)

    status, headers, _ = call("GET", f"/files/{created['id']}/download")
    assert status == 302
    location = headers["location"]
    assert f"/uploads/t1/u1/{created['id']}?" in location and "X-Amz-Expires=300" in location
    assert "response-content-disposition=attachment" in location
    assert call("GET", f"/files/{created['id']}/download", user="u2")[0] == 404
    assert call("GET", f"/files/{created['id']}", tenant="t2")[0] == 404


def test_declared_checksum_and_type_are_held_against_the_bytes(call: Call, s3: Any, env: dict[str, str]) -> None:
    wrong_sum = create(call, size=5, sha256="00" * 32)
    assert arrive(s3, env, wrong_sum, b"12345") == "rejected"
    fake_png = create(call, size=11, content_type="image/png")
    assert arrive(s3, env, fake_png, b"plain text!") == "rejected"
    _, _, file = call("GET", f"/files/{fake_png['id']}")
    assert file["status"] == "rejected" and "image/png" in file["rejection_reason"]
    assert call("GET", f"/files/{fake_png['id']}/download")[0] == 404
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert f"quarantine/t1/u1/{fake_png['id']}" in keys and f"uploads/t1/u1/{fake_png['id']}" not in keys
    assert call("GET", "/files/quota")[2]["reserved"] == 0


def test_images_get_a_thumbnail_and_ocr(call: Call, s3: Any, env: dict[str, str]) -> None:
    class FakeOcr:
        name = "fake"

        def __init__(self) -> None:
            self.seen: list[Document] = []

        def extract(self, document: Document) -> OcrResult:
            self.seen.append(document)
            return OcrResult("done", "fake", text="quarterly report")

    data = png()
    created = create(call, size=len(data), content_type="image/png")
    ocr = FakeOcr()
    assert arrive(s3, env, created, data, ocr=ocr) == "accepted"
    assert ocr.seen[0].data == data and ocr.seen[0].content_type == "image/png"
    _, _, file = call("GET", f"/files/{created['id']}")
    assert file["has_thumbnail"] and file["ocr"] == {"status": "done", "provider": "fake", "reason": None,
                                                     "text": "quarterly report"}
    status, headers, _ = call("GET", f"/files/{created['id']}/thumbnail")
    assert status == 302 and f"/thumbnails/t1/u1/{created['id']}?" in headers["location"]
    import io

    from PIL import Image

    stored = s3.get_object(Bucket=BUCKET, Key=f"thumbnails/t1/u1/{created['id']}")["Body"].read()
    thumb = Image.open(io.BytesIO(stored))
    assert thumb.size == (256, 128)


def test_ocr_provider_comes_from_settings(call: Call, s3: Any, env: dict[str, str]) -> None:
    data = png()
    created = create(call, size=len(data), content_type="image/png")
    assert arrive(s3, env, created, data) == "accepted"  # OCR_PROVIDER=none in these tests
    ocr = call("GET", f"/files/{created['id']}")[2]["ocr"]
    assert (ocr["status"], ocr["provider"]) == ("unavailable", "none")


def test_malware_scan_gates_availability_in_either_order(call: Call, s3: Any, env: dict[str, str]) -> None:
    env["MALWARE_SCAN_REQUIRED"] = "true"
    first = create(call, size=3)
    assert arrive(s3, env, first, b"abc") == "accepted"
    assert call("GET", f"/files/{first['id']}")[2]["status"] == "pending"  # checked, not yet scanned
    key = first["upload"]["fields"]["key"]
    assert run_worker(env, "on_scan_result", scan_result(key, "NO_THREATS_FOUND"))["result"] == "clean"
    assert call("GET", f"/files/{first['id']}")[2]["status"] == "available"

    second = create(call, size=3)
    run_worker(env, "on_scan_result", scan_result(second["upload"]["fields"]["key"], "NO_THREATS_FOUND"))
    assert arrive(s3, env, second, b"xyz") == "accepted"
    assert call("GET", f"/files/{second['id']}")[2]["status"] == "available"


def test_infected_files_are_quarantined_and_released(call: Call, s3: Any, env: dict[str, str]) -> None:
    created = create(call, size=3)
    arrive(s3, env, created, b"bad")
    key = created["upload"]["fields"]["key"]
    result = run_worker(env, "on_scan_result", scan_result(key, "THREATS_FOUND", ["EICAR-Test-File"]))
    assert result["result"] == "infected"
    _, _, file = call("GET", f"/files/{created['id']}")
    assert file["status"] == "infected" and file["scan"] == {"status": "infected", "threats": ["EICAR-Test-File"]}
    assert call("GET", f"/files/{created['id']}/download")[0] == 404
    assert call("GET", "/files/quota")[2]["used"] == 0
    assert run_worker(env, "on_scan_result", scan_result(key, "THREATS_FOUND", ["x"]))["result"] == "infected"
    assert call("GET", "/files/quota")[2]["used"] == 0  # released once only
    other_bucket = scan_result(key, "THREATS_FOUND", bucket="someone-else")
    assert run_worker(env, "on_scan_result", other_bucket)["result"] == "ignored"


def test_multipart_part_urls_listing_and_abort(call: Call, s3: Any) -> None:
    created = create(call, size=200 * MIB, content_type="application/zip")
    file_id = created["id"]
    status, _, body = call("POST", f"/files/{file_id}/parts", {"part_numbers": [1, 2]})
    assert status == 422  # each part's SHA-256 is required
    checksum = "A" * 43 + "="
    status, _, body = call("POST", f"/files/{file_id}/parts",
                           {"part_numbers": [14], "checksums_sha256": {"14": checksum}})
    assert status == 422  # 200 MiB in 16 MiB parts: 13 parts
    status, _, body = call("POST", f"/files/{file_id}/parts", {"part_numbers": [1, 2],
                                                               "checksums_sha256": {"1": checksum, "2": checksum}})
    assert status == 200, body
    assert [p["part_number"] for p in body["parts"]] == [1, 2]
    assert body["parts"][0]["headers"] == {"x-amz-checksum-sha256": checksum}
    assert "x-amz-checksum-sha256" in body["parts"][0]["url"].lower().replace("%3b", ";")
    status, _, listed = call("GET", f"/files/{file_id}/parts")
    assert (status, listed["parts"], listed["missing"]) == (200, [], list(range(1, 14)))
    status, _, body = call("POST", f"/files/{file_id}/complete", {"parts": [{"part_number": 1, "etag": "x"}]})
    assert status == 409 and body["type"].endswith("parts-mismatch")
    assert call("POST", f"/files/{file_id}/abort", user="u2")[0] == 404
    assert call("POST", f"/files/{file_id}/abort")[0] == 204
    assert call("GET", f"/files/{file_id}")[0] == 404
    assert call("GET", "/files/quota")[2]["reserved"] == 0
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    small = create(call, size=5)
    assert call("GET", f"/files/{small['id']}/parts")[0] == 409


def test_list_filters_and_signed_cursor(call: Call, s3: Any, env: dict[str, str]) -> None:
    text = create(call, size=2)
    arrive(s3, env, text, b"hi")
    image = create(call, size=len(png()), content_type="image/png")
    arrive(s3, env, image, png())
    pending = create(call, size=7, content_type="image/jpeg")
    _, _, page = call("GET", "/files")
    assert [f["id"] for f in page["items"]] == [pending["id"], image["id"], text["id"]]  # newest first
    _, _, page = call("GET", "/files", query="status=available")
    assert [f["id"] for f in page["items"]] == [image["id"], text["id"]]
    _, _, page = call("GET", "/files", query="content_type=image/&status=available")
    assert [f["id"] for f in page["items"]] == [image["id"]]
    _, _, page = call("GET", "/files", query="limit=2")
    assert len(page["items"]) == 2 and page["next_cursor"]
    _, _, rest = call("GET", "/files", query=f"limit=2&cursor={page['next_cursor']}")
    assert [f["id"] for f in rest["items"]] == [text["id"]]
    assert call("GET", "/files", query=f"limit=2&cursor={page['next_cursor']}", user="u2")[0] == 400
    assert call("GET", "/files", user="u2")[2]["items"] == []
    assert call("GET", "/files", query="status=bogus")[0] == 422


def put_target(aws: Any, table: str, sk: str, owner: str = "T#t1#U#u1", **extra: Any) -> None:
    aws.put_item(TableName=table, Item={"PK": {"S": owner}, "SK": {"S": sk}, "id": {"S": sk.split("#")[1]},
                                        "version": {"N": "1"}, **extra})


def attachments(aws: Any, table: str, sk: str) -> tuple[list[str], int]:
    item = aws.get_item(TableName=table, Key={"PK": {"S": "T#t1#U#u1"}, "SK": {"S": sk}})["Item"]
    return [v["S"] for v in item.get("attachments", {}).get("L", [])], int(item["version"]["N"])


def test_attach_and_detach_keep_both_sides_in_sync(call: Call, aws: Any) -> None:
    put_target(aws, "tasks", "TASK#T1")
    put_target(aws, "notes", "NOTE#N1")
    put_target(aws, "tasks", "TASK#FOREIGN", owner="T#t1#U#u2")
    file = create(call)
    status, _, body = call("POST", f"/files/{file['id']}/attachments", {"kind": "task", "id": "T1"})
    assert status == 200 and body["attachments"] == [{"kind": "task", "id": "T1"}]
    assert attachments(aws, "tasks", "TASK#T1") == ([file["id"]], 2)
    assert call("POST", f"/files/{file['id']}/attachments", {"kind": "task", "id": "T1"})[0] == 200  # idempotent
    assert attachments(aws, "tasks", "TASK#T1") == ([file["id"]], 2)
    assert call("POST", f"/files/{file['id']}/attachments", {"kind": "note", "id": "N1"})[0] == 200
    assert attachments(aws, "notes", "NOTE#N1")[0] == [file["id"]]
    assert call("POST", f"/files/{file['id']}/attachments", {"kind": "task", "id": "FOREIGN"})[0] == 404
    assert call("POST", f"/files/{file['id']}/attachments", {"kind": "task", "id": "NOPE"})[0] == 404
    assert call("POST", f"/files/{file['id']}/attachments", {"kind": "task", "id": "T1"}, user="u2")[0] == 404
    _, _, page = call("GET", "/files", query="attached_to=note:N1")
    assert [f["id"] for f in page["items"]] == [file["id"]]

    status, _, body = call("DELETE", f"/files/{file['id']}/attachments/task/T1")
    assert status == 200 and body["attachments"] == [{"kind": "note", "id": "N1"}]
    assert attachments(aws, "tasks", "TASK#T1") == ([], 3)
    assert call("DELETE", f"/files/{file['id']}/attachments/task/T1")[0] == 404
    assert call("DELETE", f"/files/{file['id']}")[0] == 204
    assert attachments(aws, "notes", "NOTE#N1")[0] == []


def test_notes_answer_404_until_the_notes_table_exists(call: Call, aws: Any, env: dict[str, str]) -> None:
    env.pop("NOTES_TABLE")
    put_target(aws, "notes", "NOTE#N1")
    file = create(call)
    assert call("POST", f"/files/{file['id']}/attachments", {"kind": "note", "id": "N1"})[0] == 404


def test_deleted_task_releases_its_files(call: Call, aws: Any, s3: Any, env: dict[str, str]) -> None:
    put_target(aws, "tasks", "TASK#T1")
    put_target(aws, "tasks", "TASK#T2")
    shared, alone = create(call, size=2), create(call, size=3)
    arrive(s3, env, alone, b"abc")
    for file_id, task_id in ((shared["id"], "T1"), (shared["id"], "T2"), (alone["id"], "T1")):
        assert call("POST", f"/files/{file_id}/attachments", {"kind": "task", "id": task_id})[0] == 200
    aws.delete_item(TableName="tasks", Key={"PK": {"S": "T#t1#U#u1"}, "SK": {"S": "TASK#T1"}})
    event = {"detail-type": "task.deleted", "source": "crewhouse.tasks",
             "detail": {"tenant_id": "t1", "user_id": "u1", "task_id": "T1"}}
    assert run_worker(env, "on_target_deleted", event) == {"deleted": [alone["id"]]}
    assert call("GET", f"/files/{alone['id']}")[0] == 404
    assert call("GET", f"/files/{shared['id']}")[2]["attachments"] == [{"kind": "task", "id": "T2"}]
    assert call("GET", "/files/quota")[2] == {"used": 0, "reserved": 2, "limit": 10 << 30, "available": (10 << 30) - 2}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert f"uploads/t1/u1/{alone['id']}" not in keys
    assert run_worker(env, "on_target_deleted", event) == {"deleted": []}  # a repeat changes nothing


def test_stream_indexes_available_files_for_search(call: Call, aws: Any, s3: Any, env: dict[str, str]) -> None:
    from crewhouse.search.index import DynamoSearchIndex

    created = create(call, size=2)
    arrive(s3, env, created, b"hi")
    item = aws.get_item(TableName="files", Key={"PK": {"S": "T#t1#U#u1"}, "SK": {"S": f"FILE#{created['id']}"}})["Item"]
    item["ocr_text"] = {"S": "Invoice from Acme"}
    record = {"eventID": "1", "eventName": "MODIFY", "eventSource": "aws:dynamodb",
              "dynamodb": {"Keys": {"PK": item["PK"], "SK": item["SK"]}, "NewImage": item, "SequenceNumber": "1",
                           "StreamViewType": "NEW_AND_OLD_IMAGES"}}
    assert run_worker(env, "on_table_changes", {"Records": [record]}) == {"batchItemFailures": []}
    index = DynamoSearchIndex(aws, "search")
    assert index.lookup("T#t1#U#u1", "file", ["acme"]) == {"acme": {created["id"]: pytest.approx(1.0, abs=1)}}
    stream_record: dict[str, Any] = dict(record["dynamodb"])  # type: ignore[arg-type]
    stream_record.pop("NewImage")
    removed = {**record, "eventName": "REMOVE", "dynamodb": {**stream_record, "OldImage": item}}
    run_worker(env, "on_table_changes", {"Records": [removed]})
    assert index.lookup("T#t1#U#u1", "file", ["acme"]) == {}
