"""The merged OpenAPI document of every HTTP context (served by the platform, written to docs/)."""

from __future__ import annotations

import importlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from fastapi.openapi.utils import get_openapi

# Every HTTP context's API module (each exposes ``app``). One line per context.
CONTEXT_APIS: tuple[str, ...] = (
    "crewhouse.platform.api",
)


@cache
def merged_openapi() -> dict[str, Any]:
    routes = []
    for module_name in CONTEXT_APIS:
        routes.extend(importlib.import_module(module_name).app.routes)
    document = get_openapi(
        title="Crewhouse API",
        version="1.0.0",
        description="Tasks, notes, files and agent jobs for people and their AI agents. "
        "Every route except /health needs a Cognito JWT: `Authorization: Bearer <id token>`. "
        "Errors are RFC 9457 application/problem+json.",
        routes=routes,
    )
    document["components"] = document.get("components", {})
    document["components"]["securitySchemes"] = {
        "cognito": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    document["security"] = [{"cognito": []}]
    return document


def write_openapi(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged_openapi(), indent=2, sort_keys=True) + "\n")
