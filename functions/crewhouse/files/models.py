"""Files API models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["pending", "available", "rejected", "infected"]
TargetKind = Literal["task", "note"]
TargetId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]
ContentType = Annotated[str, Field(min_length=3, max_length=255,
                                   pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]
Sha256Base64 = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{43}=$")]
PartNumber = Annotated[int, Field(ge=1, le=10_000)]


class FileCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$")
    content_type: ContentType
    size: int = Field(gt=0, description="Exact size in bytes; the upload must be exactly this long")
    sha256: Sha256Hex | None = Field(default=None, description="Hex SHA-256 of the bytes; checked after upload")


class Scan(BaseModel):
    """Malware scan (GuardDuty Malware Protection for S3)."""

    status: Literal["pending", "clean", "infected", "unsupported", "failed", "not_required"] = "pending"
    threats: list[str] = Field(default_factory=list)


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
    scan: Scan = Field(default_factory=Scan)
    ocr: Ocr = Field(default_factory=Ocr)
    has_thumbnail: bool = False
    attachments: list[Attachment] = Field(default_factory=list)
    multipart: MultipartInfo | None = None
    created_at: datetime
    updated_at: datetime


class PostUpload(BaseModel):
    """An S3 presigned POST: send ``fields`` and then the bytes as the form field ``file``, to ``url``."""

    multipart: Literal[False] = False
    url: str
    fields: dict[str, str]
    expires_at: datetime


class MultipartUpload(BaseModel):
    """Upload in ``parts`` parts of ``part_size`` bytes (the last one shorter): ask ``/files/{id}/parts`` for URLs."""

    multipart: Literal[True] = True
    part_size: int
    parts: int


class FileCreated(File):
    upload: PostUpload | MultipartUpload


class PartsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part_numbers: list[PartNumber] = Field(min_length=1, max_length=100)
    checksums_sha256: dict[PartNumber, Sha256Base64] = Field(
        description="Base64 SHA-256 of each requested part: its URL is signed with it and S3 refuses other bytes")


class PartUrl(BaseModel):
    part_number: int
    url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str] = Field(description="Send exactly these headers with the part")


class PartUrls(BaseModel):
    parts: list[PartUrl]
    expires_at: datetime


class UploadedPart(BaseModel):
    part_number: int
    etag: str
    size: int
    checksum_sha256: str | None = None


class UploadedParts(BaseModel):
    """What S3 holds of an unfinished multipart upload: resume by uploading the ``missing`` parts."""

    parts: list[UploadedPart]
    part_size: int
    parts_expected: int
    missing: list[int]


class CompletedPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part_number: PartNumber
    etag: str = Field(min_length=1, max_length=128)


class CompleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parts: list[CompletedPart] = Field(min_length=1, max_length=10_000,
                                       description="Every part with the ETag S3 answered when it was uploaded")


class Quota(BaseModel):
    used: int
    reserved: int
    limit: int
    available: int


class QuotaPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_limit_bytes: int = Field(ge=0, le=1 << 50, description="Storage limit of each user of the tenant")


class AttachRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: TargetKind
    id: TargetId
