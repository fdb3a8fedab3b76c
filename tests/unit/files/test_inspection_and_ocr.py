"""Pure pieces of the files context: byte checks, part layout, keys, OCR providers."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest

from crewhouse.files import inspection, keys
from crewhouse.files.logic import part_layout
from crewhouse.files.ocr import Document, TesseractOcr, TextractOcr, provider_for

MIB = 1 << 20


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1024, 512), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def test_digest_streams_size_hash_and_head_and_keeps_bytes_only_when_small() -> None:
    chunks = [b"a" * 5000, b"b" * 5000, b"c" * 10]
    whole = b"".join(chunks)
    found = inspection.digest(iter(chunks), keep_up_to=20_000)
    assert (found.size, found.sha256, found.head) == (10_010, hashlib.sha256(whole).hexdigest(), whole[:8192])
    assert found.data == whole
    assert inspection.digest(iter(chunks), keep_up_to=9000).data is None
    assert inspection.digest(iter(chunks)).data is None


@pytest.mark.parametrize(("declared", "head", "problem"), [
    ("image/png", png_bytes()[:64], False),
    ("image/jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", False),
    ("image/png", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", True),
    ("image/png", b"just some text", True),
    ("application/pdf", b"%PDF-1.7\n", False),
    ("application/pdf", b"MZ\x90\x00\x03\x00", True),
    ("text/plain", b"MZ\x90\x00\x03\x00" + b"\x00" * 60, True),
    ("text/plain", b"hello", False),
    ("application/octet-stream", b"MZ\x90\x00\x03\x00", False),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK\x03\x04" + b"\x00" * 40, False),
    ("application/json", b'{"a": 1}', False),
])
def test_contradiction_between_declared_and_sniffed_types(declared: str, head: bytes, problem: bool) -> None:
    detected = inspection.sniff(head)
    assert (inspection.contradiction(declared, detected) is not None) is problem, (declared, detected)


def test_thumbnail_fits_256_pixels_and_refuses_non_images() -> None:
    from PIL import Image

    thumb = inspection.thumbnail(png_bytes(), 256)
    assert thumb is not None
    assert Image.open(io.BytesIO(thumb)).size == (256, 128)
    assert inspection.thumbnail(b"not an image", 256) is None


def test_part_layout_grows_parts_beyond_10000() -> None:
    assert part_layout(120 * MIB + 1, 16 * MIB) == (16 * MIB, 8)
    assert part_layout(5 << 30, 16 * MIB) == (16 * MIB, 320)
    size, count = part_layout(200 << 30, 16 * MIB)
    assert count <= 10_000 and size % MIB == 0 and size * count >= 200 << 30
    assert part_layout(10 * MIB, 1) == (5 * MIB, 2)  # S3's minimum part size


def test_object_keys_round_trip_and_other_prefixes_are_not_uploads() -> None:
    key = keys.object_key("t1", "u1", "F1")
    assert keys.parse_object_key(key) == ("t1", "u1", "F1")
    assert keys.parse_object_key(keys.thumbnail_key("t1", "u1", "F1")) is None
    assert keys.parse_object_key("uploads/t1/u1") is None
    assert keys.parse_object_key("uploads/t1/u1/F1/extra") is None


class FakeTextract:
    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def detect_document_text(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("detect", kwargs))
        return {"Blocks": [{"BlockType": "PAGE"}, {"BlockType": "LINE", "Text": "Hello"},
                           {"BlockType": "WORD", "Text": "Hello"}, {"BlockType": "LINE", "Text": "world"}]}

    def start_document_text_detection(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("start", kwargs))
        return {"JobId": "job-1"}

    def get_document_text_detection(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("get", kwargs))
        if kwargs.get("NextToken"):
            return {"JobStatus": "SUCCEEDED", "Blocks": [{"BlockType": "LINE", "Text": "page two"}]}
        status = self.statuses.pop(0)
        if status == "SUCCEEDED":
            return {"JobStatus": status, "Blocks": [{"BlockType": "LINE", "Text": "page one"}], "NextToken": "t"}
        return {"JobStatus": status}


def doc(content_type: str, data: bytes | None = None) -> Document:
    return Document(bucket="b", key="uploads/t/u/f", version_id="v1", content_type=content_type, size=10, data=data)


def test_textract_reads_images_synchronously_and_pdfs_through_a_job() -> None:
    client = FakeTextract(["IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"])
    sleeps: list[float] = []
    ocr = TextractOcr(client, sleep=sleeps.append)
    result = ocr.extract(doc("image/png"))
    assert (result.status, result.text, result.provider) == ("done", "Hello world", "textract")
    assert client.calls[0] == ("detect", {"Document": {"S3Object": {"Bucket": "b", "Name": "uploads/t/u/f",
                                                                    "Version": "v1"}}})
    result = ocr.extract(doc("application/pdf"))
    assert (result.status, result.text) == ("done", "page one page two")
    assert sleeps == [2.0, 2.0]
    assert ocr.extract(doc("image/gif")).status == "unsupported"


def test_textract_gives_up_after_its_deadline() -> None:
    client = FakeTextract(["IN_PROGRESS"] * 10)
    result = TextractOcr(client, poll_seconds=1, deadline_seconds=3, sleep=lambda s: None).extract(
        doc("application/pdf"))
    assert result.status == "failed" and "IN_PROGRESS" in (result.reason or "")


def test_tesseract_says_when_it_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytesseract

    def missing() -> None:
        raise pytesseract.TesseractNotFoundError()

    monkeypatch.setattr(pytesseract, "get_tesseract_version", missing)
    result = TesseractOcr().extract(doc("image/png", png_bytes()))
    assert result.status == "unavailable" and "tesseract" in (result.reason or "")


def test_tesseract_reads_rendered_text() -> None:
    """Needs the tesseract binary (`make test` installs it): without it this test fails, it does not skip."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (900, 200), "white")
    ImageDraw.Draw(image).text((30, 60), "Receipt total 4242", fill="black", font=ImageFont.load_default(size=56))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    result = TesseractOcr().extract(doc("image/png", buffer.getvalue()))
    assert result.status == "done", result
    assert {"receipt", "total", "4242"} <= set((result.text or "").lower().split())


def test_tesseract_reads_pdfs_through_pypdfium2() -> None:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (1240, 400), "white")
    ImageDraw.Draw(image).text((60, 150), "Quarterly statement", fill="black", font=ImageFont.load_default(size=64))
    buffer = io.BytesIO()
    image.save(buffer, format="PDF", resolution=150)
    result = TesseractOcr().extract(doc("application/pdf", buffer.getvalue()))
    assert result.status == "done", result
    assert "quarterly" in (result.text or "").lower()


def test_providers_come_from_their_names() -> None:
    assert provider_for("textract", object()).name == "textract"
    assert provider_for("tesseract").name == "tesseract"
    assert provider_for("none").extract(doc("image/png")).status == "unavailable"
