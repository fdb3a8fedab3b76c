"""``POST /notes/clip``: a web page the client already has."""

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.notes.models.fields import Id, Tags, Title


class ClipRequest(BaseModel):
    """A web page the client already has: the server extracts its readable text, it never fetches ``url``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://\S+$")
    title: Title | None = None
    html: str = Field(min_length=1, max_length=2 * 1024 * 1024)
    notebook_id: Id | None = None
    tags: Tags = []
