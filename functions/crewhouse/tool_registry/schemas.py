"""JSON Schema checks of tool definitions and values, and minimal sample inputs (pure; jsonschema loads on use).

Every function here lists every problem, each as ``{"path", "message"}`` with a dotted path, never only the first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Problem = dict[str, str]


def _dotted(prefix: str, parts: Iterable[Any]) -> str:
    return ".".join([prefix, *(str(p) for p in parts)]) if prefix else ".".join(str(p) for p in parts)


def _validator_class(schema: Mapping[str, Any]) -> Any:
    from jsonschema.validators import Draft202012Validator, validator_for

    return validator_for(schema, default=Draft202012Validator)


def schema_problems(schema: Any, where: str, *, object_only: bool = False) -> list[Problem]:
    """The problems of ``schema`` against its meta-schema (draft 2020-12 unless ``$schema`` names another)."""
    if not isinstance(schema, dict):
        return [{"path": where, "message": "a JSON Schema here is a JSON object"}]
    cls = _validator_class(schema)
    problems = [{"path": _dotted(where, error.absolute_path), "message": error.message}
                for error in cls(cls.META_SCHEMA).iter_errors(schema)]
    if object_only and schema.get("type") != "object":
        problems.append({"path": _dotted(where, ["type"]),
                         "message": "an input schema describes an object: \"type\": \"object\""})
    return sorted(problems, key=lambda p: (p["path"], p["message"]))


def value_problems(schema: Mapping[str, Any], value: Any, where: str) -> list[Problem]:
    """Where ``value`` breaks ``schema`` (a schema that passed :func:`schema_problems`)."""
    from jsonschema import FormatChecker

    cls = _validator_class(schema)
    validator = cls(schema, format_checker=FormatChecker())
    problems = [{"path": _dotted(where, error.absolute_path), "message": error.message}
                for error in validator.iter_errors(value)]
    return sorted(problems, key=lambda p: (p["path"], p["message"]))


def sample_for(schema: Any, depth: int = 0) -> Any:
    """A small value that a simple schema accepts: required properties only, lower bounds, first choices.

    A best effort, not a solver: the dry run validates it, and says so when it does not fit."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return sample_for(schema[key][0], depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged.update(part)
        return sample_for(merged, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties") or {}
        return {name: sample_for(properties.get(name, {}), depth + 1) for name in schema.get("required", [])}
    if kind == "array":
        return [sample_for(schema.get("items", {}), depth + 1) for _ in range(int(schema.get("minItems", 0)))]
    if kind == "string":
        return {"date": "2026-01-01", "date-time": "2026-01-01T00:00:00Z", "email": "someone@example.com",
                "uri": "https://example.com/"}.get(str(schema.get("format")), "x" * int(schema.get("minLength", 1)))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        low = low if isinstance(low, int | float) else 0
        value = low + 1 if "exclusiveMinimum" in schema and "minimum" not in schema else low
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return False
    return None


def model_schemas(input_model: Any, output_model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON Schemas of a builtin tool's pydantic input and output models."""
    return input_model.model_json_schema(), output_model.model_json_schema(mode="serialization")
