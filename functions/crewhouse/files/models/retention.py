"""The tenant's file-retention policy (``/files/retention``) and its preview."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.files.retention import MAX_DAYS, MIN_DAYS, WARNING_DAYS, Policy

RetentionDays = Field(ge=MIN_DAYS, le=MAX_DAYS, description=f"Files not opened for this many days are deleted "
                                                             f"({MIN_DAYS}..{MAX_DAYS})")


class RetentionPolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
    days: int = RetentionDays


class RetentionPolicy(BaseModel):
    """The policy; a tenant without one has it disabled at 365 days, version 0."""

    enabled: bool
    days: int
    warning_days: int = Field(default=WARNING_DAYS, description="Owners are warned this many days before")
    version: int = Field(description="Send it back as If-Match to change the policy safely (ETag)")
    updated_at: datetime | None = None
    updated_by: str | None = None

    @classmethod
    def of(cls, policy: Policy) -> "RetentionPolicy":
        return cls.model_validate(policy._asdict())


class RetentionTotals(BaseModel):
    count: int
    bytes: int


class RetentionPreviewTotals(BaseModel):
    due: RetentionTotals = Field(description="Deleted by the next sweep")
    warning: RetentionTotals = Field(description="In the 7-day warning window at the next sweep")


class RetentionCandidate(BaseModel):
    file_id: str
    user_id: str
    filename: str
    size: int
    status: str
    last_opened_at: datetime
    delete_after: date = Field(description="The last day the file is kept; the next sweep after it deletes it")
    state: Literal["due", "warning"]
    warned: bool = Field(description="Its owner was warned about this delete_after")


class RetentionPreview(BaseModel):
    """What the next sweep would delete and warn about, longest unopened first."""

    enabled: bool = Field(description="False: the policy is off and the sweep deletes nothing (this is what it would)")
    days: int
    as_of: date = Field(description="The UTC day of the next sweep")
    next_sweep_at: datetime
    scope: Literal["tenant", "own"] = Field(description="tenant: every member's files (admins); own: the caller's")
    totals: RetentionPreviewTotals | None = Field(description="On the first page only (no cursor)")
    items: list[RetentionCandidate]
    next_cursor: str | None = None
