"""File tools: the text the OCR provider read from an uploaded image or PDF (Textract in AWS, Tesseract locally)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.files.settings import FilesSettings
from crewhouse.tools.registry import Tool, ToolContext, register


class FileIdInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_id: str = Field(min_length=1, max_length=64, description="An uploaded image or PDF (see POST /files)")


class ExtractedText(BaseModel):
    file_id: str
    filename: str
    status: str = Field(description="done | pending | unavailable | unsupported | failed | not_applicable")
    provider: str | None = None
    text: str | None = None
    reason: str | None = None


def _extract(context: ToolContext, args: FileIdInput) -> ExtractedText:
    """OCR runs once, when the upload lands; this reads its result (no second pass over the bytes)."""
    from crewhouse.files.wiring import service_for

    settings = context.settings_for(FilesSettings)
    assert isinstance(settings, FilesSettings)
    file = service_for(settings).get(context.identity, args.file_id)
    return ExtractedText(file_id=file.id, filename=file.filename, status=file.ocr.status, provider=file.ocr.provider,
                         text=file.ocr.text, reason=file.ocr.reason)


register(Tool("extract_text_from_image", "The text read from an uploaded image or PDF by OCR.", FileIdInput,
              ExtractedText, _extract, read_only=True))
