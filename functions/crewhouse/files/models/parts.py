"""The parts of a multipart upload: presigned URLs for some, and what S3 already holds (to resume)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.files.models.file import PartNumber

Sha256Base64 = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{43}=$")]


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
