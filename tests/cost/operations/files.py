"""Rows for the files routes (``/files``): uploads (presigned POST, multipart parts), reads, attachments, the
tenant's quota and retention policies.

What is counted: the AWS requests the files functions (and the workers an upload sets off) make. The client's
own S3 requests (the presigned POST of a small file, the PUT of each part) go to S3 with a URL signed by the
uploads function and never through botocore or the HTTP API, so no row counts them; on AWS each is one S3 PUT-tier
request billed to the bucket's owner. Presigning is local (no request).

The multipart threshold (100 MiB) and part size (16 MiB) are not in the functions' environment, so the embedded
cloud cannot lower them: the multipart rows declare 100 MiB + 1 byte (7 parts), and only the complete row sends
the bytes (in its unmetered ``prepare``).
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable
from typing import Any

import httpx

from crewhouse.local import guardduty
from tests.cost.catalog import Context, Effect, Metered
from tests.cost.operations.agents_support import alternate, kept, ok, wait_until

MIB = 1 << 20
BIG = 100 * MIB + 1  # just above the multipart threshold: 6 parts of 16 MiB and one of 4 MiB + 1 byte
PART = 16 * MIB
NOTE = b"Crewhouse meeting notes: the solar battery launches on May 3.\n" * 16  # 992 bytes of text


# --- helpers (unmetered) ------------------------------------------------------------------------------------


def _owner(ctx: Context) -> dict[str, dict[str, str]]:
    """The cost user's key in the files table, read from their ID token (for the effects' own reads)."""
    if "files_owner" not in ctx.state:
        import jwt

        claims = jwt.decode(ctx.headers["Authorization"].removeprefix("Bearer "), options={"verify_signature": False})
        ctx.state["files_owner"] = {"PK": {"S": f"T#{claims['tenant_id']}#U#{claims['sub']}"}}
    return dict(ctx.state["files_owner"])


def _table(ctx: Context) -> str:
    if "files_table" not in ctx.state:
        assert ctx.cloud.stack is not None
        names = [ctx.cloud.stack.resources[key] for key, spec in ctx.cloud.stack.template["Resources"].items()
                 if spec["Type"] == "AWS::DynamoDB::Table" and key.startswith("FilesFilesTable")]
        assert len(names) == 1, names
        ctx.state["files_table"] = names[0]
    return str(ctx.state["files_table"])


def _stored(ctx: Context, file_id: str) -> dict[str, Any]:
    """The file's item as the table holds it, read with the meter's own client (never counted)."""
    item = ctx.meter.client("dynamodb").get_item(TableName=_table(ctx), ConsistentRead=True,
                                                 Key={**_owner(ctx), "SK": {"S": f"FILE#{file_id}"}}).get("Item")
    return dict(item or {})


def _checked(ctx: Context, file_id: str) -> Callable[[], bool]:
    """Done once the upload's checks have all run: bytes inspected, malware scan clean, OCR and thumbnail done."""

    def done() -> bool:
        item = _stored(ctx, file_id)
        return (item.get("status", {}).get("S") == "available" and item.get("scan_status", {}).get("S") == "clean"
                and item.get("ocr_status", {}).get("S") != "pending")

    return done


def _create(ctx: Context, filename: str, content_type: str, size: int) -> dict[str, Any]:
    return dict(ok(ctx.api.post("/files", json={"filename": filename, "content_type": content_type, "size": size},
                                headers=ctx.headers), 201))


def _post_bytes(created: dict[str, Any], data: bytes) -> None:
    """The client's presigned POST, straight to S3 (plain httpx: neither the API client nor botocore)."""
    upload = created["upload"]
    posted = httpx.post(upload["url"], data=upload["fields"], files={"file": (created["filename"], data)}, timeout=60)
    assert posted.status_code == 204, posted.text


def _uploaded(ctx: Context, filename: str = "notes.txt", content_type: str = "text/plain",
              data: bytes = NOTE) -> str:
    """A new file with its bytes uploaded and checked (available)."""
    created = _create(ctx, filename, content_type, len(data))
    _post_bytes(created, data)
    wait_until(_checked(ctx, created["id"]), what="the upload's checks")
    return str(created["id"])


def _text_file(ctx: Context) -> str:
    """An available text file (made once; opened today, by its upload)."""
    return str(kept(ctx, "files_text", lambda: _uploaded(ctx)))


def _picture() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 480), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((80, 60, 560, 420), fill="steelblue")
    draw.ellipse((220, 140, 420, 340), fill="gold")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _picture_file(ctx: Context) -> str:
    """An available PNG with its thumbnail (made once)."""
    if "files_picture" not in ctx.state:
        file_id = _uploaded(ctx, "sketch.png", "image/png", _picture())
        assert _stored(ctx, file_id).get("thumbnail_key"), "no thumbnail"
        ctx.state["files_picture"] = file_id
    return str(ctx.state["files_picture"])


def _fresh_task(ctx: Context) -> str:
    created = ok(ctx.api.post("/tasks", json={"title": "File the receipts", "planned_date": ctx.state["day"]},
                              headers=ctx.headers), 201)
    return str(created["id"])


def _file_and_task(ctx: Context) -> tuple[str, str]:
    return _uploaded(ctx), _fresh_task(ctx)


def _attached(ctx: Context) -> tuple[str, str]:
    file_id, task = _file_and_task(ctx)
    ok(ctx.api.post(f"/files/{file_id}/attachments", json={"kind": "task", "id": task}, headers=ctx.headers))
    return file_id, task


def _multipart(ctx: Context) -> dict[str, Any]:
    """A new multipart upload of 100 MiB + 1 byte, no part sent yet."""
    created = _create(ctx, "recording.bin", "application/octet-stream", BIG)
    assert created["upload"]["multipart"] is True and created["upload"]["parts"] == 7, created["upload"]
    return created


def _open_multipart(ctx: Context) -> dict[str, Any]:
    """One open multipart upload (made once): the parts rows only read it."""
    return dict(kept(ctx, "files_multipart", lambda: _multipart(ctx)))


def _big_bytes() -> bytes:
    """100 MiB + 1 byte without a file signature."""
    block = hashlib.sha256(b"crewhouse cost").digest() * (MIB // 32)
    return block * 100 + b"!"


def _checksum(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _parts_sent(ctx: Context) -> dict[str, Any]:
    """A multipart upload with all 7 parts in S3 (the client's PUTs), and the ETags S3 answered. The previous
    run's file is deleted first: 100 MiB each is kept in the emulator's memory."""
    for file_id in ctx.state.pop("files_big", []):
        response = ctx.api.delete(f"/files/{file_id}", headers=ctx.headers)
        assert response.status_code in (204, 404), response.text
    created = _multipart(ctx)
    ctx.state.setdefault("files_big", []).append(created["id"])
    data = _big_bytes()
    bodies = {n: data[(n - 1) * PART:n * PART] for n in range(1, 8)}
    urls = ok(ctx.api.post(f"/files/{created['id']}/parts", headers=ctx.headers, json={
        "part_numbers": list(bodies), "checksums_sha256": {str(n): _checksum(b) for n, b in bodies.items()}}))
    etags = []
    for part in urls["parts"]:
        sent = httpx.put(part["url"], content=bodies[part["part_number"]], headers=part["headers"], timeout=120)
        assert sent.status_code == 200, sent.text
        etags.append({"part_number": part["part_number"], "etag": sent.headers["etag"].strip('"')})
    return {"id": created["id"], "parts": etags, "key": _stored(ctx, created["id"])["object_key"]["S"]}


# --- the rows -----------------------------------------------------------------------------------------------


def upload_small(ctx: Context, _: Any) -> Effect:
    """``POST /files`` (quota reserved, a presigned POST handed out), the client's POST of 992 bytes of text to S3
    (not counted, see the module), then what S3's "Object Created" event sets off: the object-created worker
    (reads the file, streams the bytes once for size, SHA-256 and type, settles the quota), the malware scan's
    result (GuardDuty's event: the scan-result worker), and the files stream (the search index). Text gets
    neither a thumbnail nor OCR. The checks and the scan run concurrently and whichever finishes last makes the
    file available; the embedded GuardDuty's scan is held until the checks are done, as GuardDuty's (seconds
    later) comes on AWS, so the count does not follow the race."""
    created = _create(ctx, "notes.txt", "text/plain", len(NOTE))
    guardduty.hold_scans()
    _post_bytes(created, NOTE)
    return _scan_after_checks(ctx, created["id"])


def _scan_after_checks(ctx: Context, file_id: str) -> Callable[[], bool]:
    """The held scan goes once the checks have inspected the file; done once the file is checked and clean."""
    checked = _checked(ctx, file_id)

    def done() -> bool:
        if _stored(ctx, file_id).get("inspected", {}).get("BOOL"):
            guardduty.release_scans()
        return checked()

    return done


def set_quota_policy(ctx: Context, _: Any) -> Effect:
    limit = alternate(ctx, "files_limit", 20, 30)
    ok(ctx.api.put("/files/quota/policy", json={"user_limit_bytes": limit << 30},
                   headers=ctx.headers))
    return None


def _retention_etag(ctx: Context) -> str:
    response = ctx.api.get("/files/retention", headers=ctx.headers)
    assert response.status_code == 200, response.text
    return str(response.headers["etag"])


def set_retention(ctx: Context, etag: str) -> Effect:
    """Kept disabled (only the days change): an enabled policy would put the tenant into every later retention
    sweep of this cloud (the background row's)."""
    days = alternate(ctx, "files_days", 400, 365)
    ok(ctx.api.put("/files/retention", json={"enabled": False, "days": days},
                   headers={**ctx.headers, "If-Match": etag}))
    return None


def preview_retention(ctx: Context, _: Any) -> Effect:
    """An admin's preview: the tenant's files opened before the warning window's end, a page and the totals (the
    cost user's files were all opened today: none is listed)."""
    ok(ctx.api.get("/files/retention/preview", headers=ctx.headers))
    return None


def delete_file(ctx: Context, file_id: str) -> Effect:
    """An available file: its object deleted, the item and its quota in one transaction, the stream's index
    update."""
    ok(ctx.api.delete(f"/files/{file_id}", headers=ctx.headers), 204)
    return None


def get_file(ctx: Context, file_id: str) -> Effect:
    """A file already opened today: the first open of a UTC day would add one UpdateItem (retention)."""
    ok(ctx.api.get(f"/files/{file_id}", headers=ctx.headers))
    return None


def abort_upload(ctx: Context, created: dict[str, Any]) -> Effect:
    ok(ctx.api.post(f"/files/{created['id']}/abort", headers=ctx.headers), 204)
    return None


def attach(ctx: Context, pair: tuple[str, str]) -> Effect:
    file_id, task = pair
    ok(ctx.api.post(f"/files/{file_id}/attachments", json={"kind": "task", "id": task}, headers=ctx.headers))
    return None


def detach(ctx: Context, pair: tuple[str, str]) -> Effect:
    file_id, task = pair
    ok(ctx.api.delete(f"/files/{file_id}/attachments/task/{task}", headers=ctx.headers))
    return None


def complete_upload(ctx: Context, sent: dict[str, Any]) -> Effect:
    """All 7 parts are in S3 (sent in ``prepare``): the parts listed and checked, the upload completed, then the
    same processing as a small upload's, over 100 MiB (one streamed GetObject), set off by S3's one event (the
    embedded cloud no longer adds moto's second, ``crewhouse.local.s3_gaps``); the scan held until the checks are
    done, as for a small upload."""
    guardduty.hold_scans()
    ok(ctx.api.post(f"/files/{sent['id']}/complete", json={"parts": sent["parts"]}, headers=ctx.headers))
    return _scan_after_checks(ctx, sent["id"])


def download(ctx: Context, file_id: str) -> Effect:
    """The 302 to a presigned GET (no S3 request is billed until the client follows it; opened today already)."""
    response = ctx.api.get(f"/files/{file_id}/download", headers=ctx.headers)
    assert response.status_code == 302, response.text
    return None


def uploaded_parts(ctx: Context, created: dict[str, Any]) -> Effect:
    ok(ctx.api.get(f"/files/{created['id']}/parts", headers=ctx.headers))
    return None


def part_urls(ctx: Context, created: dict[str, Any]) -> Effect:
    """Presigned PUT URLs for all 7 parts, each signed with its SHA-256 (signing is local: no S3 request)."""
    checksums = {str(n): _checksum(f"part {n}".encode()) for n in range(1, 8)}
    ok(ctx.api.post(f"/files/{created['id']}/parts", json={"part_numbers": list(range(1, 8)),
                                                           "checksums_sha256": checksums}, headers=ctx.headers))
    return None


def thumbnail(ctx: Context, file_id: str) -> Effect:
    response = ctx.api.get(f"/files/{file_id}/thumbnail", headers=ctx.headers)
    assert response.status_code == 302, response.text
    return None


METERED = [
    Metered("upload a small file: presign, S3 POST, checks", ("POST /files",), upload_small),
    Metered("set the per-user storage limit", ("PUT /files/quota/policy",), set_quota_policy),
    Metered("set the file retention policy", ("PUT /files/retention",), set_retention, _retention_etag),
    Metered("preview the file retention sweep", ("GET /files/retention/preview",), preview_retention,
            lambda ctx: _text_file(ctx)),
    Metered("delete a file", ("DELETE /files/{file_id}",), delete_file, lambda ctx: _uploaded(ctx)),
    Metered("get a file", ("GET /files/{file_id}",), get_file, _text_file),
    Metered("abort a multipart file upload", ("POST /files/{file_id}/abort",), abort_upload, _multipart),
    Metered("attach a file to a task", ("POST /files/{file_id}/attachments",), attach, _file_and_task),
    Metered("detach a file from a task", ("DELETE /files/{file_id}/attachments/{kind}/{target_id}",), detach,
            _attached),
    Metered("complete a multipart file upload (7 parts), checks", ("POST /files/{file_id}/complete",),
            complete_upload, _parts_sent),
    Metered("download a file (presigned link)", ("GET /files/{file_id}/download",), download, _text_file),
    Metered("parts of a multipart file upload", ("GET /files/{file_id}/parts",), uploaded_parts, _open_multipart),
    Metered("part URLs of a multipart file upload (7)", ("POST /files/{file_id}/parts",), part_urls,
            _open_multipart),
    Metered("an image's thumbnail (presigned link)", ("GET /files/{file_id}/thumbnail",), thumbnail, _picture_file),
]
