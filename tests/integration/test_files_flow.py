"""Files over real HTTP on the embedded cloud: bytes go straight to the emulator's presigned S3 URLs (httpx),
S3 reports them to EventBridge, the workers check them, and downloads come back through presigned GETs.

Big uploads are generated in 1 MiB blocks and streamed; nothing holds more than one part in memory.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.endpoint import local_client
from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer
from tests.support.waiting import eventually

MIB = 1 << 20
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def block(seed: str, index: int) -> bytes:
    """1 MiB of bytes without any file signature, different for every (seed, index)."""
    return hashlib.sha256(f"{seed}/{index}".encode()).digest() * (MIB // 32)


def blocks(seed: str, start: int, count: int) -> Iterator[bytes]:
    for index in range(start, start + count):
        yield block(seed, index)


@pytest.fixture
def owner_user(new_user: Callable[[], SignedInUser]) -> SignedInUser:
    return new_user()


@pytest.fixture
def owner(owner_user: SignedInUser) -> dict[str, str]:
    return bearer(owner_user.id_token)


def create_file(api: httpx.Client, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = api.post("/files", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def post_upload(upload: dict[str, Any], content: Any, filename: str = "file") -> httpx.Response:
    return httpx.post(upload["url"], data=upload["fields"], files={"file": (filename, content)}, timeout=120)


def wait_for(api: httpx.Client, headers: dict[str, str], file_id: str, status: str,
             timeout: float = 30.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body = dict(api.get(f"/files/{file_id}", headers=headers).json())
        return body if body["status"] == status else None

    found = eventually(check, timeout)
    assert found, f"file {file_id} never became {status}: {api.get(f'/files/{file_id}', headers=headers).json()}"
    return dict(found)


def download_sha256(api: httpx.Client, headers: dict[str, str], file_id: str) -> str:
    redirect = api.get(f"/files/{file_id}/download", headers=headers)
    assert redirect.status_code == 302, redirect.text
    hasher = hashlib.sha256()
    with httpx.stream("GET", redirect.headers["location"], timeout=120) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes(MIB):
            hasher.update(chunk)
    return hasher.hexdigest()


def text_image(text: str) -> bytes:
    """A PNG of ``text`` in large print, for OCR."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (1200, 300), "white")
    ImageDraw.Draw(image).text((40, 110), text, fill="black", font=ImageFont.load_default(size=64))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def upload_small(api: httpx.Client, headers: dict[str, str], data: bytes, content_type: str,
                 filename: str = "small.bin", **extra: Any) -> dict[str, Any]:
    created = create_file(api, headers, filename=filename, content_type=content_type, size=len(data), **extra)
    response = post_upload(created["upload"], data, filename)
    assert response.status_code == 204, response.text
    return created


def test_50_mib_upload_through_the_presigned_post(api: httpx.Client, owner: dict[str, str], tmp_path: Path) -> None:
    size, hasher, path = 50 * MIB, hashlib.sha256(), tmp_path / "big.bin"
    with path.open("wb") as out:
        for chunk in blocks("post", 0, size // MIB):
            hasher.update(chunk)
            out.write(chunk)
    digest = hasher.hexdigest()
    created = create_file(api, owner, filename="big.bin", content_type="application/octet-stream", size=size,
                          sha256=digest)
    assert created["status"] == "pending" and created["upload"]["multipart"] is False
    assert api.get("/files/quota", headers=owner).json()["reserved"] == size
    with path.open("rb") as content:
        assert post_upload(created["upload"], content, "big.bin").status_code == 204

    file = wait_for(api, owner, created["id"], "available")
    assert (file["sha256"], file["size"], file["scan"]["status"]) == (digest, size, "clean")
    assert download_sha256(api, owner, created["id"]) == digest
    quota = api.get("/files/quota", headers=owner).json()
    assert (quota["used"], quota["reserved"]) == (size, 0)


def test_120_mib_multipart_upload_interrupted_and_resumed(api: httpx.Client, owner: dict[str, str]) -> None:
    size = 120 * MIB + 12345
    seed = uuid.uuid4().hex

    def part_bytes(number: int, part_size: int) -> bytes:
        start = (number - 1) * part_size
        data = b"".join(blocks(seed, start // MIB, part_size // MIB))
        return data[:max(0, min(part_size, size - start))] if start + part_size > size else data

    created = create_file(api, owner, filename="video.bin", content_type="application/octet-stream", size=size)
    upload = created["upload"]
    assert upload["multipart"] is True
    part_size, parts = upload["part_size"], upload["parts"]
    assert part_size * (parts - 1) < size <= part_size * parts

    def send(numbers: list[int]) -> dict[int, str]:
        bodies = {n: part_bytes(n, part_size) if n < parts else _last_part(seed, n, part_size, size) for n in numbers}
        checksums = {n: base64.b64encode(hashlib.sha256(b).digest()).decode() for n, b in bodies.items()}
        urls = api.post(f"/files/{created['id']}/parts", headers=owner,
                        json={"part_numbers": numbers, "checksums_sha256": {str(n): c for n, c in checksums.items()}})
        assert urls.status_code == 200, urls.text
        etags = {}
        for part in urls.json()["parts"]:
            response = httpx.put(part["url"], content=bodies[part["part_number"]], headers=part["headers"], timeout=60)
            assert response.status_code == 200, response.text
            etags[part["part_number"]] = response.headers["etag"].strip('"')
        return etags

    first = send([1, 2])
    # The connection drops here. Later, the client asks what S3 already has and sends the rest.
    resumed = api.get(f"/files/{created['id']}/parts", headers=owner)
    assert resumed.status_code == 200
    state = resumed.json()
    assert state["missing"] == list(range(3, parts + 1))
    assert {p["part_number"]: p["etag"] for p in state["parts"]} == first
    assert all(p["checksum_sha256"] for p in state["parts"])
    rest = send(state["missing"])

    early = api.post(f"/files/{created['id']}/complete", headers=owner,
                     json={"parts": [{"part_number": n, "etag": e} for n, e in first.items()]})
    assert early.status_code == 409  # the client's list must name every part S3 holds, with its ETag
    done = api.post(f"/files/{created['id']}/complete", headers=owner,
                    json={"parts": [{"part_number": n, "etag": e} for n, e in sorted({**first, **rest}.items())]})
    assert done.status_code == 200, done.text

    hasher = hashlib.sha256()
    for number in range(1, parts + 1):
        hasher.update(part_bytes(number, part_size) if number < parts else _last_part(seed, number, part_size, size))
    file = wait_for(api, owner, created["id"], "available", timeout=60)
    assert file["sha256"] == hasher.hexdigest()
    assert download_sha256(api, owner, created["id"]) == hasher.hexdigest()


def _last_part(seed: str, number: int, part_size: int, size: int) -> bytes:
    start = (number - 1) * part_size
    first_block = start // MIB
    count = (size - start + MIB - 1) // MIB
    return b"".join(blocks(seed, first_block, count))[: size - start]


def test_a_wrong_part_checksum_is_refused(api: httpx.Client, owner: dict[str, str]) -> None:
    created = create_file(api, owner, filename="x.bin", content_type="application/octet-stream", size=101 * MIB)
    good = block("parts", 0) * 16
    claimed = base64.b64encode(hashlib.sha256(good).digest()).decode()
    url = api.post(f"/files/{created['id']}/parts", headers=owner,
                   json={"part_numbers": [1], "checksums_sha256": {"1": claimed}}).json()["parts"][0]
    response = httpx.put(url["url"], content=good[:-1] + b"!", headers=url["headers"], timeout=60)
    assert response.status_code == 400 and "BadDigest" in response.text
    assert api.post(f"/files/{created['id']}/abort", headers=owner).status_code == 204
    assert api.get(f"/files/{created['id']}", headers=owner).status_code == 404
    assert api.get("/files/quota", headers=owner).json()["reserved"] == 0


def test_the_console_origin_may_put_parts_and_read_their_etag(api: httpx.Client, cloud: EmbeddedCloud,
                                                              owner: dict[str, str]) -> None:
    """The browser's CORS exchange with the files bucket: the console's origin (the gateway's) gets its preflight
    for a part PUT answered and the ETag exposed; another origin is refused (the template's rule, local origin)."""
    created = create_file(api, owner, filename="cors.bin", content_type="application/octet-stream", size=101 * MIB)
    body = block("cors", 0)
    checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
    part = api.post(f"/files/{created['id']}/parts", headers=owner,
                    json={"part_numbers": [1], "checksums_sha256": {"1": checksum}}).json()["parts"][0]
    preflight = {"Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": ",".join(sorted(h.lower() for h in part["headers"]))}
    allowed = httpx.options(part["url"], headers={"Origin": cloud.api_url, **preflight})
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == cloud.api_url
    assert "PUT" in allowed.headers["access-control-allow-methods"]
    assert "x-amz-checksum-sha256" in allowed.headers["access-control-allow-headers"].lower()
    refused = httpx.options(part["url"], headers={"Origin": "https://elsewhere.example", **preflight})
    assert refused.status_code == 403  # a browser sends nothing after a failed preflight
    put = httpx.put(part["url"], content=body, headers={**part["headers"], "Origin": cloud.api_url}, timeout=60)
    assert put.status_code == 200, put.text
    assert put.headers["access-control-allow-origin"] == cloud.api_url
    assert put.headers["access-control-expose-headers"] == "ETag"
    assert api.post(f"/files/{created['id']}/abort", headers=owner).status_code == 204


def test_over_quota_is_413_before_any_byte(api: httpx.Client, owner: dict[str, str]) -> None:
    assert api.put("/files/quota/policy", json={"user_limit_bytes": 5 * MIB}, headers=owner).status_code == 200
    response = api.post("/files", headers=owner,
                        json={"filename": "a.bin", "content_type": "application/octet-stream", "size": 5 * MIB + 1})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert api.get("/files", headers=owner).json()["items"] == []
    assert api.get("/files/quota", headers=owner).json() == {"used": 0, "reserved": 0, "limit": 5 * MIB,
                                                              "available": 5 * MIB}


def test_concurrent_reservations_never_exceed_the_quota(api: httpx.Client, cloud: EmbeddedCloud,
                                                        owner: dict[str, str]) -> None:
    assert api.put("/files/quota/policy", json={"user_limit_bytes": 10 * MIB}, headers=owner).status_code == 200
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def reserve() -> None:
        with httpx.Client(base_url=cloud.api_url, timeout=30) as client:
            barrier.wait()
            statuses.append(client.post("/files", headers=owner, json={
                "filename": "part.bin", "content_type": "application/octet-stream", "size": 3 * MIB}).status_code)

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 201, 201, 413, 413, 413, 413, 413]
    quota = api.get("/files/quota", headers=owner).json()
    assert (quota["reserved"], quota["available"]) == (9 * MIB, 1 * MIB)


def test_presigned_post_holds_its_policy(api: httpx.Client, owner: dict[str, str]) -> None:
    created = create_file(api, owner, filename="a.txt", content_type="text/plain", size=10)
    upload = created["upload"]
    assert post_upload(upload, b"eleven byte").status_code == 400  # content-length-range pins the size
    wrong_type = {**upload, "fields": {**upload["fields"], "Content-Type": "text/html"}}
    assert post_upload(wrong_type, b"0123456789").status_code == 403
    other_key = {**upload, "fields": {**upload["fields"], "key": upload["fields"]["key"] + "x"}}
    assert post_upload(other_key, b"0123456789").status_code == 403
    assert post_upload(upload, b"0123456789").status_code == 204
    assert wait_for(api, owner, created["id"], "available")["detected_type"] is None


def test_download_links_only_fetch_their_own_object_and_expire(api: httpx.Client, cloud: EmbeddedCloud,
                                                               owner_user: SignedInUser, owner: dict[str, str],
                                                               new_user: Callable[[], SignedInUser]) -> None:
    mine = upload_small(api, owner, b"alice's secret notes", "text/plain", "notes.txt")
    other = upload_small(api, owner, b"another file of alice", "text/plain", "other.txt")
    wait_for(api, owner, mine["id"], "available")
    wait_for(api, owner, other["id"], "available")
    redirect = api.get(f"/files/{mine['id']}/download", headers=owner)
    assert redirect.status_code == 302
    url = redirect.headers["location"]
    assert httpx.get(url).content == b"alice's secret notes"
    assert httpx.get(url.replace(mine["id"], other["id"])).status_code == 403  # signed for one key only

    bob = bearer(new_user().id_token)
    for path in (f"/files/{mine['id']}", f"/files/{mine['id']}/download", f"/files/{mine['id']}/thumbnail"):
        assert api.get(path, headers=bob).status_code == 404, path
    assert api.delete(f"/files/{mine['id']}", headers=bob).status_code == 404

    assert cloud.stack is not None
    s3 = local_client("s3")
    short = s3.generate_presigned_url("get_object", ExpiresIn=1, Params={
        "Bucket": cloud.stack.outputs["FilesBucketName"], "Key": url.split("?")[0].split("/", 4)[4]})
    time.sleep(2.1)
    assert httpx.get(short).status_code == 403


def test_bytes_contradicting_their_type_never_become_downloadable(api: httpx.Client, cloud: EmbeddedCloud,
                                                                  owner: dict[str, str]) -> None:
    created = upload_small(api, owner, b"#!/bin/sh\necho this is no picture\n", "image/png", "cat.png")
    file = wait_for(api, owner, created["id"], "rejected")
    assert "image/png" in file["rejection_reason"]
    assert api.get(f"/files/{created['id']}/download", headers=owner).status_code == 404
    assert cloud.stack is not None
    bucket = cloud.stack.outputs["FilesBucketName"]
    s3 = local_client("s3")
    key = created["upload"]["fields"]["key"]
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key=key)
    quarantined = s3.get_object_tagging(Bucket=bucket, Key=key.replace("uploads/", "quarantine/", 1))
    assert {"Key": "crewhouse-quarantine", "Value": "true"} in quarantined["TagSet"]
    assert api.get("/files/quota", headers=owner).json()["reserved"] == 0


def test_image_gets_a_thumbnail_and_its_text_read(api: httpx.Client, cloud: EmbeddedCloud, owner_user: SignedInUser,
                                                  owner: dict[str, str]) -> None:
    from PIL import Image

    created = upload_small(api, owner, text_image("Crewhouse invoice 4711"), "image/png", "invoice.png")
    file = wait_for(api, owner, created["id"], "available")
    file = eventually(lambda: (body := api.get(f"/files/{created['id']}", headers=owner).json())["ocr"]["status"]
                      != "pending" and body)
    assert file["ocr"]["status"] == "done", file["ocr"]
    assert file["ocr"]["provider"] == "tesseract"
    words = file["ocr"]["text"].lower()
    assert "crewhouse" in words and "invoice" in words and "4711" in words
    assert file["has_thumbnail"] and file["detected_type"] == "image/png"

    redirect = api.get(f"/files/{created['id']}/thumbnail", headers=owner)
    assert redirect.status_code == 302
    thumbnail = Image.open(io.BytesIO(httpx.get(redirect.headers["location"]).content))
    assert thumbnail.format == "PNG" and max(thumbnail.size) == 256

    dynamodb = local_client("dynamodb")
    assert cloud.stack is not None
    table = next(cloud.stack.resources[k] for k, r in cloud.stack.template["Resources"].items()
                 if r["Type"] == "AWS::DynamoDB::Table" and k.startswith("StorageSearchIndexTable"))
    pk = f"T#{_tenant(owner_user)}#U#{owner_user.user_id}#file#4711"

    def indexed() -> list[str]:
        items = dynamodb.query(TableName=table, KeyConditionExpression="PK = :pk",
                               ExpressionAttributeValues={":pk": {"S": pk}})["Items"]
        return [i["SK"]["S"] for i in items]

    # The files stream indexes the OCR text once the file is available and read: on a busy machine the stream's
    # poller can take a while to get there.
    assert eventually(lambda: indexed() == [created["id"]], timeout=90), indexed()


def _tenant(user: SignedInUser) -> str:
    payload = user.id_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["tenant_id"])


def test_guardduty_scan_result_marks_a_file_infected(api: httpx.Client, cloud: EmbeddedCloud,
                                                     owner: dict[str, str]) -> None:
    created = upload_small(api, owner, b"looks harmless", "text/plain", "report.txt")
    wait_for(api, owner, created["id"], "available")
    assert cloud.stack is not None
    detail = {
        "schemaVersion": "1.0", "scanStatus": "COMPLETED", "resourceType": "S3_OBJECT",
        "s3ObjectDetails": {"bucketName": cloud.stack.outputs["FilesBucketName"],
                            "objectKey": created["upload"]["fields"]["key"], "eTag": "x", "versionId": None,
                            "s3Throttled": False},
        "scanResultDetails": {"scanResultStatus": "THREATS_FOUND", "threats": [{"name": "Trojan:Test/Example"}]},
    }
    local_client("events").put_events(Entries=[{
        "Source": "aws.guardduty", "DetailType": "GuardDuty Malware Protection Object Scan Result",
        "Detail": json.dumps(detail), "EventBusName": "default"}])
    file = wait_for(api, owner, created["id"], "infected")
    assert file["scan"] == {"status": "infected", "threats": ["Trojan:Test/Example"]}
    assert api.get(f"/files/{created['id']}/download", headers=owner).status_code == 404
    assert api.get("/files/quota", headers=owner).json()["used"] == 0


def test_the_local_malware_scan_catches_eicar(api: httpx.Client, owner: dict[str, str]) -> None:
    created = upload_small(api, owner, EICAR, "text/plain", "eicar.com.txt")
    file = wait_for(api, owner, created["id"], "infected")
    assert file["scan"]["threats"] == ["EICAR-Test-File (not a virus)"]
    assert api.get(f"/files/{created['id']}/download", headers=owner).status_code == 404


def test_attachments_follow_their_tasks(api: httpx.Client, owner: dict[str, str]) -> None:
    first = api.post("/tasks", json={"title": "with files"}, headers=owner).json()
    second = api.post("/tasks", json={"title": "shares one file"}, headers=owner).json()
    shared = upload_small(api, owner, b"shared", "text/plain", "shared.txt")
    alone = upload_small(api, owner, b"alone", "text/plain", "alone.txt")
    for file_id, task_id in ((shared["id"], first["id"]), (shared["id"], second["id"]), (alone["id"], first["id"])):
        response = api.post(f"/files/{file_id}/attachments", json={"kind": "task", "id": task_id}, headers=owner)
        assert response.status_code == 200, response.text
    assert sorted(api.get(f"/tasks/{first['id']}", headers=owner).json()["attachments"]) == sorted(
        [shared["id"], alone["id"]])
    listed = api.get("/files", params={"attached_to": f"task:{first['id']}"}, headers=owner).json()["items"]
    assert sorted(f["id"] for f in listed) == sorted([shared["id"], alone["id"]])
    missing = api.post(f"/files/{alone['id']}/attachments", json={"kind": "task", "id": "NOSUCHTASK"}, headers=owner)
    assert missing.status_code == 404

    assert api.delete(f"/tasks/{first['id']}", headers=owner).status_code == 204
    assert eventually(lambda: api.get(f"/files/{alone['id']}", headers=owner).status_code == 404)
    kept = api.get(f"/files/{shared['id']}", headers=owner).json()
    assert kept["attachments"] == [{"kind": "task", "id": second["id"]}]

    detached = api.delete(f"/files/{shared['id']}/attachments/task/{second['id']}", headers=owner)
    assert detached.status_code == 200 and detached.json()["attachments"] == []
    assert api.get(f"/tasks/{second['id']}", headers=owner).json()["attachments"] == []
