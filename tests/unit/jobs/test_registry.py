"""The job type registry: lazy built-ins, 422s that list every schema error, and types added by a module."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from crewhouse.core.errors import ValidationProblem
from crewhouse.jobs import registry
from crewhouse.jobs.types.base import JobOutput, JobRun
from tests.unit.jobs.fakes import Progress, run_job


def _problem(type_name: str, params: object) -> ValidationProblem:
    with pytest.raises(ValidationProblem) as caught:
        registry.validate_params(type_name, params)
    return caught.value


def test_the_built_in_types_are_registered() -> None:
    assert {"analyze", "content", "research", "summarize"} <= set(registry.type_names())
    schemas = registry.type_schemas()
    assert {"analyze", "content", "research", "summarize"} <= set(schemas)  # tests may register more
    assert schemas["content"]["properties"]["format"]["enum"] == ["blog_post", "email", "social_post", "outline"]
    assert schemas["summarize"]["additionalProperties"] is False


def test_importing_the_registry_loads_no_type_and_no_jsonschema() -> None:
    code = ("import sys; import crewhouse.jobs.registry; "
            "print(sorted(m for m in sys.modules if m.startswith(('crewhouse.jobs.types', 'jsonschema'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": "functions"}).stdout
    assert out.strip() == "[]"


def test_an_unknown_type_is_a_422_listing_the_known_types() -> None:
    problem = _problem("translate", {"text": "hi"})
    assert problem.status == 422
    assert problem.slug == "unknown-job-type"
    assert {"analyze", "content", "research", "summarize"} <= set(problem.extra["known_types"])
    assert "summarize" in problem.detail
    assert problem.extra["errors"][0]["path"] == "type"


def test_every_schema_error_is_listed_with_its_path() -> None:
    problem = _problem("content", {"brief": "", "format": "poem", "max_words": 5, "colour": "red"})
    assert problem.status == 422 and problem.slug == "invalid-job-params"
    found = {(e["path"], e["type"]) for e in problem.extra["errors"]}
    assert found == {("params.brief", "minLength"), ("params.format", "enum"), ("params.max_words", "minimum"),
                     ("params", "additionalProperties")}
    assert "4 errors" in problem.detail
    assert problem.extra["params_schema"]["title"] == "ContentParams"


def test_nested_errors_name_the_item() -> None:
    problem = _problem("summarize", {"note_ids": ["ok", ""], "length": "tiny"})
    paths = {e["path"] for e in problem.extra["errors"]}
    assert paths == {"params.note_ids.1", "params.length"}


def test_exactly_one_source_is_stated_in_the_schema() -> None:
    for params in ({"length": "short"}, {"note_ids": ["a"], "text": "some text"}):
        errors = _problem("summarize", params).extra["errors"]
        assert errors == [{"path": "params", "message": "give exactly one of note_ids, file_ids, text",
                           "type": "oneOf"}]


def test_a_huge_value_is_not_quoted_whole() -> None:
    errors = _problem("summarize", {"text": "word " * 50_000}).extra["errors"]
    assert errors[0]["path"] == "params.text" and errors[0]["type"] == "maxLength"
    assert len(errors[0]["message"]) < 200 and "is too long" in errors[0]["message"]


def test_params_that_are_not_an_object_are_a_422() -> None:
    errors = _problem("research", ["topic"]).extra["errors"]
    assert errors[0]["path"] == "params" and errors[0]["type"] == "type"


def test_valid_params_are_parsed_with_the_types_model() -> None:
    params = registry.validate_params("research", {"topic": "heat pumps", "depth": "quick"})
    assert params.model_dump() == {"topic": "heat pumps", "depth": "quick", "questions": None}


# --- a type added by a test: one class and one registration ----------------------------------------------------


class WordCountParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)
    at_least: int = 0

    @model_validator(mode="after")
    def _long_enough(self) -> WordCountParams:  # a rule JSON schema cannot state
        if len(self.text.split()) < self.at_least:
            raise ValueError(f"the text has fewer than {self.at_least} words")
        return self


class WordCount:
    name = "word_count"
    description = "Counts words"
    params_model = WordCountParams

    def run(self, run: JobRun) -> JobOutput:
        assert isinstance(run.params, WordCountParams)
        run.progress(50, "Counting")
        return JobOutput(title="Words", markdown=f"{len(run.params.text.split())} words")


@pytest.fixture
def word_count() -> Iterator[None]:
    registry.register(WordCount())
    yield
    registry._TYPES.pop("word_count")
    registry._VALIDATORS.pop("word_count", None)


@pytest.mark.usefixtures("word_count")
def test_a_registered_type_is_validated_and_runs() -> None:
    assert "word_count" in registry.type_names()
    progress = Progress()
    output = run_job("word_count", {"text": "one two three"}, progress=progress)
    assert output.markdown == "3 words"
    assert progress.steps == [(50, "Counting")]


@pytest.mark.usefixtures("word_count")
def test_a_rule_outside_the_schema_is_still_a_422_with_its_errors() -> None:
    problem = _problem("word_count", {"text": "one two", "at_least": 3})
    assert problem.slug == "invalid-job-params"
    assert problem.extra["errors"][0]["path"] == "params"
    assert "fewer than 3 words" in problem.extra["errors"][0]["message"]


@pytest.mark.usefixtures("word_count")
def test_a_type_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(WordCount())
