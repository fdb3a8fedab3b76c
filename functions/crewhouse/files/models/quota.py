"""Storage quota: what a user has used, and the tenant's per-user limit."""

from pydantic import BaseModel, ConfigDict, Field


class Quota(BaseModel):
    used: int
    reserved: int
    limit: int
    available: int


class QuotaPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_limit_bytes: int = Field(ge=0, le=1 << 50, description="Storage limit of each user of the tenant")
