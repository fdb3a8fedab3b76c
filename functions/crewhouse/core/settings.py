"""Settings parsed from a function's environment.

Locally every Lambda runs in one process, so a function's settings must come from *its* environment
(the template's ``Environment.Variables``), not from the process-wide ``os.environ``. The local runtime
binds that mapping with :func:`function_environment`; in AWS nothing is bound and ``os.environ`` is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

_bound_environment: ContextVar[Mapping[str, str] | None] = ContextVar("crewhouse_function_environment", default=None)


def current_environment() -> Mapping[str, str]:
    """The environment of the function being invoked (bound locally), else the process environment."""
    bound = _bound_environment.get()
    return bound if bound is not None else os.environ


@contextmanager
def function_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Run a block as if ``variables`` were the process environment of a Lambda function."""
    token = _bound_environment.set(dict(variables))
    try:
        yield
    finally:
        _bound_environment.reset(token)


class CoreSettings(BaseModel):
    """What every Crewhouse function needs. Contexts subclass this with their own resources.

    Each field is read from the upper-cased environment variable of its name (``TASKS_TABLE`` for
    ``tasks_table``) and validated by pydantic. Plain pydantic rather than pydantic-settings: this is all
    the parsing a Lambda needs, and it keeps ~40 ms of imports (dotenv, CLI sources) out of cold starts.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    # The function's role credentials as Lambda binds them (locally: per function, see lambda_runtime).
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = Field(default=None, repr=False)
    aws_session_token: str | None = Field(default=None, repr=False)
    stage: str = "prod"
    cursor_secret_arn: str | None = None
    # Locally and in tests a fixed key may be given instead of a secret.
    cursor_signing_key: str | None = None
    idempotency_table: str | None = None
    # Memberships (tenant, principal, role): every API request checks the caller's against it.
    platform_table: str = "crewhouse-platform"
    event_bus_name: str = "crewhouse"
    max_body_bytes: int = 1024 * 1024

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> Self:
        values = {}
        for name, field in cls.model_fields.items():
            value = environment.get((field.alias or name).upper())
            if value not in (None, ""):
                values[name] = value
        return cls.model_validate(values)


SettingsT = TypeVar("SettingsT", bound=CoreSettings)

_cache: dict[tuple[type, tuple[tuple[str, str], ...]], CoreSettings] = {}


def load_settings(settings_cls: type[SettingsT]) -> SettingsT:
    """Settings for the current function, parsed once per distinct environment."""
    env = current_environment()
    key = (settings_cls, tuple(sorted((k, v) for k, v in env.items() if k.isupper())))
    cached = _cache.get(key)
    if cached is None:
        cached = settings_cls.from_environment(env)
        _cache[key] = cached
    return cached  # type: ignore[return-value]
