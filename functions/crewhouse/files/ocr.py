"""OCR: one interface, two providers. Amazon Textract in AWS, Tesseract locally (``OCR_PROVIDER``).

Both answer an :class:`OcrResult` whose ``status`` says what happened: ``done`` (with ``text``),
``unavailable`` (the engine is missing here, with the reason), ``unsupported`` (this kind of document
cannot be read by this provider) or ``failed``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

MAX_TEXT_CHARS = 64 * 1024  # what is kept with the file and indexed
MAX_PDF_PAGES = 20


@dataclass(frozen=True)
class Document:
    bucket: str
    key: str
    version_id: str | None
    content_type: str
    size: int
    data: bytes | None  # the bytes, when they were small enough to keep in memory


@dataclass(frozen=True)
class OcrResult:
    status: str  # done | unavailable | unsupported | failed
    provider: str
    text: str | None = None
    reason: str | None = None


class OcrProvider(Protocol):
    name: str

    def extract(self, document: Document) -> OcrResult: ...


def _clip(text: str) -> str:
    return " ".join(text.split())[:MAX_TEXT_CHARS]


class TextractOcr:
    """Amazon Textract: DetectDocumentText for images, the asynchronous text detection job for PDFs."""

    name = "textract"

    def __init__(self, textract: Any, *, poll_seconds: float = 2.0, deadline_seconds: float = 240.0,
                 sleep: Any = time.sleep) -> None:
        self._textract = textract
        self._poll = poll_seconds
        self._deadline = deadline_seconds
        self._sleep = sleep

    def _s3_object(self, document: Document) -> dict[str, Any]:
        found: dict[str, Any] = {"Bucket": document.bucket, "Name": document.key}
        if document.version_id:
            found["Version"] = document.version_id
        return found

    def extract(self, document: Document) -> OcrResult:
        try:
            if document.content_type == "application/pdf":
                return self._pdf(document)
            if document.content_type not in ("image/jpeg", "image/png", "image/tiff"):
                return OcrResult("unsupported", self.name, reason=f"Textract reads JPEG, PNG, TIFF and PDF, "
                                                                  f"not {document.content_type}")
            response = self._textract.detect_document_text(Document={"S3Object": self._s3_object(document)})
            return OcrResult("done", self.name, text=_clip(_lines(response.get("Blocks", []))))
        except Exception as exc:  # a document Textract rejects must not fail the upload
            return OcrResult("failed", self.name, reason=f"{type(exc).__name__}: {exc}"[:500])

    def _pdf(self, document: Document) -> OcrResult:
        job = self._textract.start_document_text_detection(
            DocumentLocation={"S3Object": self._s3_object(document)})["JobId"]
        waited = 0.0
        while True:
            response = self._textract.get_document_text_detection(JobId=job)
            status = response.get("JobStatus")
            if status == "SUCCEEDED":
                blocks = list(response.get("Blocks", []))
                token = response.get("NextToken")
                while token:
                    page = self._textract.get_document_text_detection(JobId=job, NextToken=token)
                    blocks.extend(page.get("Blocks", []))
                    token = page.get("NextToken")
                return OcrResult("done", self.name, text=_clip(_lines(blocks)))
            if status in ("FAILED", "PARTIAL_SUCCESS") and not response.get("Blocks"):
                return OcrResult("failed", self.name, reason=response.get("StatusMessage") or str(status))
            if status == "PARTIAL_SUCCESS":
                return OcrResult("done", self.name, text=_clip(_lines(response.get("Blocks", []))))
            if waited >= self._deadline:
                return OcrResult("failed", self.name, reason=f"Textract job {job} still {status} after {waited:.0f} s")
            self._sleep(self._poll)
            waited += self._poll


def _lines(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(str(b.get("Text", "")) for b in blocks if b.get("BlockType") == "LINE")


class TesseractOcr:
    """Tesseract through pytesseract; PDFs are rasterized with pypdfium2 (a pip wheel) when it is installed."""

    name = "tesseract"

    def extract(self, document: Document) -> OcrResult:
        try:
            import pytesseract
        except ImportError:
            return OcrResult("unavailable", self.name, reason="pytesseract is not installed")
        try:
            pytesseract.get_tesseract_version()
        except Exception:  # pytesseract.TesseractNotFoundError and friends
            return OcrResult("unavailable", self.name,
                             reason="the tesseract binary is not installed (apt-get install tesseract-ocr)")
        if document.data is None:
            return OcrResult("unsupported", self.name, reason=f"documents over the OCR size limit are not read "
                                                              f"({document.size} bytes)")
        try:
            images = self._images(document)
        except _Unsupported as exc:
            return OcrResult("unsupported", self.name, reason=str(exc))
        try:
            text = "\n".join(pytesseract.image_to_string(image) for image in images)
        except Exception as exc:
            return OcrResult("failed", self.name, reason=f"{type(exc).__name__}: {exc}"[:500])
        return OcrResult("done", self.name, text=_clip(text))

    def _images(self, document: Document) -> list[Any]:
        import io

        from PIL import Image

        assert document.data is not None
        if document.content_type == "application/pdf":
            try:
                import pypdfium2
            except ImportError as exc:
                raise _Unsupported("PDFs are unsupported here: pypdfium2 (to rasterize them) is not installed") from exc
            pdf = pypdfium2.PdfDocument(document.data)
            try:
                return [pdf[i].render(scale=200 / 72).to_pil() for i in range(min(len(pdf), MAX_PDF_PAGES))]
            finally:
                pdf.close()
        try:
            image = Image.open(io.BytesIO(document.data))
            image.load()
        except Exception as exc:
            raise _Unsupported(f"the image cannot be decoded: {exc}") from exc
        return [image]


class _Unsupported(Exception):
    pass


class NoOcr:
    name = "none"

    def extract(self, document: Document) -> OcrResult:
        return OcrResult("unavailable", self.name, reason="OCR is switched off (OCR_PROVIDER=none)")


def provider_for(name: str, textract_client: Any = None) -> OcrProvider:
    if name == "textract":
        return TextractOcr(textract_client)
    if name == "tesseract":
        return TesseractOcr()
    return NoOcr()
