"""``POST /files/{file_id}/attachments``: attach a file to a task or a note."""

from pydantic import BaseModel, ConfigDict

from crewhouse.files.models.file import TargetId, TargetKind


class AttachRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: TargetKind
    id: TargetId
