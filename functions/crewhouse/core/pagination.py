"""The list shape every endpoint answers: ``{"items": [...], "next_cursor": "…" | null}``."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageRequest(BaseModel):
    cursor: str | None = None
    limit: int = DEFAULT_LIMIT


def page_request(
    cursor: Annotated[str | None, Query(max_length=2048, description="Opaque cursor from a previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> PageRequest:
    """FastAPI dependency for ``?cursor=&limit=``."""
    return PageRequest(cursor=cursor, limit=limit)
