"""A tool's own failure (its endpoint, server or code failed): an outcome with ``ok=False``, never a 500."""

from __future__ import annotations

from typing import Any


class ToolFailure(Exception):
    def __init__(self, error: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail
        self.extra = extra

    def content(self) -> dict[str, Any]:
        return {"error": self.error, "detail": self.detail, **self.extra}
