"""The job type registry: a type is one module that calls :func:`register` with a :class:`JobType`.

The built-in types load on first use, not on import, so the API Lambda's cold start does not pay for them.
A job's params are checked against the type's JSON schema (every error listed, as a 422) and then parsed
with its pydantic model.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from crewhouse.core.errors import ValidationProblem

if TYPE_CHECKING:
    from crewhouse.jobs.types.base import JobType

_TYPES: dict[str, JobType] = {}
_VALIDATORS: dict[str, Any] = {}  # type name -> jsonschema validator (building one costs more than using it)
_BUILTINS_LOADED = False


def register(job_type: JobType) -> JobType:
    if job_type.name in _TYPES:
        raise ValueError(f"job type {job_type.name} registered twice")
    _TYPES[job_type.name] = job_type
    return job_type


def _load_builtin_types() -> None:
    """Type modules register themselves on import; this imports the built-in ones once."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    from crewhouse.jobs.types import analyze, content, research, summarize  # noqa: F401


def get_type(name: str) -> JobType | None:
    _load_builtin_types()
    return _TYPES.get(name)


def type_names() -> list[str]:
    _load_builtin_types()
    return sorted(_TYPES)


def type_schemas() -> dict[str, dict[str, Any]]:
    """Each type's params JSON schema, by type name (for docs and ``GET /jobs/types``)."""
    _load_builtin_types()
    return {name: _TYPES[name].params_model.model_json_schema() for name in sorted(_TYPES)}


def _validator(job_type: JobType) -> Any:
    validator = _VALIDATORS.get(job_type.name)
    if validator is None:
        from jsonschema import Draft202012Validator

        validator = _VALIDATORS[job_type.name] = Draft202012Validator(job_type.params_model.model_json_schema())
    return validator


def _path(parts: Any) -> str:
    return ".".join(["params", *(str(p) for p in parts)])


_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlist = 5
_short.maxdict = 5


def _message(error: Any) -> str:
    """jsonschema's message, readable even for a huge value (it quotes the value whole)."""
    alternatives = error.schema.get(error.validator) if error.validator in ("oneOf", "anyOf") else None
    if isinstance(alternatives, list) and alternatives and all(set(a) == {"required"} for a in alternatives):
        names = [name for a in alternatives for name in a["required"]]
        return f"give exactly one of {', '.join(names)}"
    message = str(error.message)
    quoted = repr(error.instance)
    if len(quoted) > 80:
        message = message.replace(quoted, _short.repr(error.instance))
    return message if len(message) <= 300 else message[:299] + "…"


def _precise(error: Any) -> list[Any]:
    """An optional field's error as its own constraint's ("too long"), not as "matches no alternative": pydantic
    writes ``X | None`` as ``anyOf: [X, null]``, and a value that is not null failed X."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [error]
    alternatives = error.schema.get(error.validator) or []
    by_branch: dict[int, list[Any]] = {}
    for sub in error.context:
        branch = sub.relative_schema_path[0]
        if alternatives[branch] != {"type": "null"}:
            by_branch.setdefault(branch, []).append(sub)
    if len(by_branch) != 1:
        return [error]
    return [precise for sub in next(iter(by_branch.values())) for precise in _precise(sub)]


def schema_errors(job_type: JobType, params: Any) -> list[dict[str, str]]:
    """Every JSON schema error of ``params`` as ``{path, message, type}``, in document order."""
    errors = [precise for error in _validator(job_type).iter_errors(params) for precise in _precise(error)]
    errors.sort(key=lambda e: (list(map(str, e.absolute_path)), str(e.validator)))
    return [{"path": _path(e.absolute_path), "message": _message(e), "type": str(e.validator)} for e in errors]


def validate_params(type_name: str, params: Mapping[str, Any] | Any) -> BaseModel:
    """The params of a new job, parsed with its type's model; a 422 listing every problem otherwise."""
    job_type = get_type(type_name)
    if job_type is None:
        known = type_names()
        raise ValidationProblem(f"Unknown job type {type_name!r}; the known types are {', '.join(known)}.",
                                slug="unknown-job-type", known_types=known,
                                errors=[{"path": "type", "message": f"must be one of {', '.join(known)}",
                                         "type": "enum"}])
    errors = schema_errors(job_type, params)
    if not errors:
        try:
            return job_type.params_model.model_validate(params)
        except ValidationError as exc:  # a rule the JSON schema cannot state
            errors = [{"path": _path(e["loc"]), "message": e["msg"], "type": e["type"]} for e in exc.errors()]
    raise ValidationProblem(f"The params do not match the {type_name} job's schema ({len(errors)} "
                            f"error{'s' if len(errors) != 1 else ''}).", slug="invalid-job-params",
                            job_type=type_name, errors=errors,
                            params_schema=job_type.params_model.model_json_schema())
