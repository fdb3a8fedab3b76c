"""docs/openapi.json is generated (`crewhouse openapi`); it must match the code."""

import json
from pathlib import Path

from crewhouse.openapi import CONTEXT_APIS, merged_openapi

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_document_is_current() -> None:
    assert json.loads(DOCUMENT.read_text()) == json.loads(json.dumps(merged_openapi())), \
        "docs/openapi.json is stale: run `make openapi`"


def test_every_context_contributes_paths() -> None:
    paths = merged_openapi()["paths"]
    assert "/me" in paths and "/tasks/{task_id}" in paths and "/sync" in paths
    assert len(CONTEXT_APIS) >= 2


def test_every_operation_documents_problem_errors_and_security() -> None:
    document = merged_openapi()
    assert document["security"] == [{"cognito": []}]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"
