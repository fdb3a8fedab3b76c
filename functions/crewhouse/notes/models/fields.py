"""Types of the fields several notes models share."""

from typing import Annotated

from pydantic import AfterValidator, Field

from crewhouse.core.tags import normalise_tags
from crewhouse.notes.models import MAX_BODY_BYTES, MAX_TAGS

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]
Tags = Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=MAX_TAGS),
                 AfterValidator(normalise_tags)]
Title = Annotated[str, Field(max_length=500)]
Body = Annotated[str, Field(max_length=MAX_BODY_BYTES, description="Markdown, at most 1 MiB (UTF-8)")]
ItemText = Annotated[str, Field(min_length=1, max_length=500)]
