"""``{name}`` placeholders of http tools' URL, headers and body, filled from a call's input (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class TemplateError(ValueError):
    """The input lacks values the template names."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"the input has no value for {', '.join(missing)}")
        self.missing = missing


def names_in(template: Any) -> set[str]:
    """Every placeholder name in a string, or in the strings (and keys) of nested lists and objects."""
    if isinstance(template, str):
        return set(PLACEHOLDER.findall(template))
    if isinstance(template, Mapping):
        return set().union(*(names_in(k) | names_in(v) for k, v in template.items())) if template else set()
    if isinstance(template, list):
        return set().union(*(names_in(v) for v in template)) if template else set()
    return set()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _require(names: set[str], values: Mapping[str, Any]) -> None:
    missing = sorted(n for n in names if n not in values)
    if missing:
        raise TemplateError(missing)


def fill_url(template: str, values: Mapping[str, Any]) -> str:
    """The URL with each placeholder replaced by its value, percent-encoded (a ``/`` included): a value can
    neither add a path segment nor change the host."""
    _require(names_in(template), values)
    return PLACEHOLDER.sub(lambda m: quote(_text(values[m.group(1)]), safe=""), template)


def fill_text(template: str, values: Mapping[str, Any]) -> str:
    _require(names_in(template), values)
    filled = PLACEHOLDER.sub(lambda m: _text(values[m.group(1)]), template)
    if "\r" in filled or "\n" in filled:
        raise ValueError("a header value may not contain line breaks")
    return filled


def fill_value(template: Any, values: Mapping[str, Any]) -> Any:
    """A body: a string that is exactly ``{name}`` takes the value as is (any JSON type); other strings are
    interpolated; objects and lists are filled member by member."""
    _require(names_in(template), values)
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole:
            return values[whole.group(1)]
        return PLACEHOLDER.sub(lambda m: _text(values[m.group(1)]), template)
    if isinstance(template, Mapping):
        return {fill_text(k, values) if isinstance(k, str) else k: fill_value(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill_value(v, values) for v in template]
    return template
