"""Uploads: reserve a file and get where to send it (a presigned POST or multipart parts), then complete it."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.files.models.file import File, PartNumber

ContentType = Annotated[str, Field(min_length=3, max_length=255,
                                   pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]


class FileCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$")
    content_type: ContentType
    size: int = Field(gt=0, description="Exact size in bytes; the upload must be exactly this long")
    sha256: Sha256Hex | None = Field(default=None, description="Hex SHA-256 of the bytes; checked after upload")


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


class CompletedPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part_number: PartNumber
    etag: str = Field(min_length=1, max_length=128)


class CompleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parts: list[CompletedPart] = Field(min_length=1, max_length=10_000,
                                       description="Every part with the ETag S3 answered when it was uploaded")
