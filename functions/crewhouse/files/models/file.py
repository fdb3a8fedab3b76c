"""A file as the API shows it, and the types several files models share."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["pending", "available", "rejected", "infected"]
TargetKind = Literal["task", "note"]
TargetId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]
PartNumber = Annotated[int, Field(ge=1, le=10_000)]


class Scan(BaseModel):
    """Malware scan (GuardDuty Malware Protection for S3)."""

    status: Literal["pending", "clean", "infected", "unsupported", "failed", "not_required"] = "pending"
    threats: list[str] = []


class Ocr(BaseModel):
    status: Literal["pending", "done", "unavailable", "unsupported", "failed", "not_applicable"] = "pending"
    provider: str | None = None
    reason: str | None = None
    text: str | None = None


class Attachment(BaseModel):
    kind: TargetKind
    id: str


class MultipartInfo(BaseModel):
    part_size: int
    parts: int


class File(BaseModel):
    """A file as the API shows it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    filename: str
    content_type: str
    size: int
    status: Status
    sha256: str | None = Field(default=None, description="Hex SHA-256 of the stored bytes (once checked)")
    declared_sha256: str | None = None
    detected_type: str | None = Field(default=None, description="MIME type sniffed from the bytes")
    rejection_reason: str | None = None
    scan: Scan = Scan()
    ocr: Ocr = Ocr()
    has_thumbnail: bool = False
    attachments: list[Attachment] = []
    multipart: MultipartInfo | None = None
    created_at: datetime
    updated_at: datetime
    last_opened_at: datetime | None = Field(
        default=None, description="When the owner last uploaded, read, downloaded or viewed the thumbnail of the "
                                  "file (written once a UTC day); the tenant's retention policy counts from it")
