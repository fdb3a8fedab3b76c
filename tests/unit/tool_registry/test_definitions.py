"""Schemas checked against their meta-schema with every problem listed, sample inputs, URL templating."""

from __future__ import annotations

import pytest

from crewhouse.tool_registry.logic import check_definition
from crewhouse.tool_registry.schemas import sample_for, schema_problems, value_problems
from crewhouse.tool_registry.templating import TemplateError, fill_url, fill_value, names_in


def test_every_problem_of_a_schema_is_listed_with_its_path() -> None:
    problems = schema_problems({"type": "objekt", "properties": {"a": {"minimum": "1"}}, "required": "a"},
                               "input_schema", object_only=True)
    paths = [p["path"] for p in problems]
    assert "input_schema.type" in paths and "input_schema.properties.a.minimum" in paths
    assert "input_schema.required" in paths
    assert schema_problems({"type": "object"}, "input_schema", object_only=True) == []
    assert schema_problems([], "x") == [{"path": "x", "message": "a JSON Schema here is a JSON object"}]
    assert schema_problems({"type": "string"}, "input_schema", object_only=True)[0]["path"] == "input_schema.type"


def test_values_are_checked_with_every_error() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "s": {"type": "string"}},
              "required": ["n", "s", "t"]}
    problems = value_problems(schema, {"n": "x", "s": 1}, "input")
    assert [p["path"] for p in problems] == ["input", "input.n", "input.s"]


def test_a_minimal_sample_fits_simple_schemas() -> None:
    schema = {"type": "object", "required": ["name", "count", "tags", "kind", "when"],
              "properties": {"name": {"type": "string", "minLength": 3}, "count": {"type": "integer", "minimum": 2},
                             "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                             "kind": {"enum": ["a", "b"]}, "when": {"type": "string", "format": "date"},
                             "optional": {"type": "string"}}}
    sample = sample_for(schema)
    assert sample == {"name": "xxx", "count": 2, "tags": ["x"], "kind": "a", "when": "2026-01-01"}
    assert value_problems(schema, sample, "") == []


def test_url_placeholders_are_encoded_and_cannot_change_the_path_or_host() -> None:
    assert fill_url("https://api.example.com/v1/{city}?units={units}", {"city": "a/../b c", "units": 2}) == \
        "https://api.example.com/v1/a%2F..%2Fb%20c?units=2"
    with pytest.raises(TemplateError) as raised:
        fill_url("https://x.example/{a}/{b}", {})
    assert raised.value.missing == ["a", "b"]


def test_a_body_template_keeps_types_where_a_value_stands_alone() -> None:
    body = fill_value({"q": "{query}", "limit": "{limit}", "label": "top {limit}", "nested": ["{query}"]},
                      {"query": "solar", "limit": 5})
    assert body == {"q": "solar", "limit": 5, "label": "top 5", "nested": ["solar"]}
    assert names_in({"a": ["{x}", {"b": "{y}"}]}) == {"x", "y"}


def test_a_definitions_placeholders_must_be_input_properties() -> None:
    definition = check_definition("http", {"url": "https://api.example.com/{city}/{day}"},
                                  {"type": "object", "properties": {"city": {"type": "string"}}}, None,
                                  has_secret=False)
    assert definition.problems == [{"path": "config",
                                    "message": "the placeholder {day} is not a property of input_schema"}]
