"""How an agent job asks a model: the wire format shared by the job types (writing) and the offline
provider (reading).

A job request is a plain Converse request that any model understands, with two conventions:

- the system prompt's first line is a tag naming the job and its options as JSON, e.g.
  ``[crewhouse-job:summarize] {"length": "short"}``; natural-language instructions follow;
- the user message holds the material in tagged sections: ``<source n="1" kind="note" ref="…"
  title="…">…</source>`` for each source, and ``<brief>``, ``<topic>``, ``<statistics>`` … for the rest.

Real models read the sections as context; the offline provider parses them to answer deterministically.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any

_TAG = re.compile(r"^\[crewhouse-job:([a-z_]+)\][ \t]*(\{.*\})?[ \t]*$")
_SOURCE = re.compile(r"<source ([^>]*)>\n(.*?)\n</source>", re.DOTALL)
_SECTION = re.compile(r"<([a-z_]+)((?: [a-z_]+=\"[^\"]*\")*)>\n(.*?)\n</\1>", re.DOTALL)
_ATTRIBUTE = re.compile(r'([a-z_]+)="([^"]*)"')


@dataclass(frozen=True)
class SourceBlock:
    number: int
    kind: str
    ref: str
    title: str
    text: str


@dataclass(frozen=True)
class JobRequest:
    job: str
    options: dict[str, Any]
    sections: dict[str, str] = field(default_factory=dict)
    sources: list[SourceBlock] = field(default_factory=list)


def system_prompt(job: str, options: dict[str, Any], instructions: str) -> list[dict[str, Any]]:
    """The Converse ``system`` blocks of a job request: the tag line, then the instructions."""
    return [{"text": f"[crewhouse-job:{job}] {json.dumps(options, sort_keys=True)}\n{instructions.strip()}"}]


def _body(name: str, text: str) -> str:
    # A closing tag inside the text would end the section early; a space defuses it.
    return text.replace(f"</{name}>", f"</ {name}>").strip("\n")


def section(name: str, text: str, **attributes: str | int) -> str:
    attrs = "".join(f' {key}="{html.escape(str(value), quote=True)}"' for key, value in attributes.items())
    return f"<{name}{attrs}>\n{_body(name, text)}\n</{name}>"


def source_block(number: int, kind: str, ref: str, title: str, text: str) -> str:
    return section("source", text, n=number, kind=kind, ref=ref, title=title)


def parse_request(system: list[dict[str, Any]] | None, user_text: str) -> JobRequest | None:
    """The job request in a system prompt and user message; None when the request is not a job's."""
    first_block = next((b.get("text", "") for b in system or [] if b.get("text")), "")
    match = _TAG.match(first_block.split("\n", 1)[0])
    if match is None:
        return None
    try:
        options = json.loads(match.group(2)) if match.group(2) else {}
    except json.JSONDecodeError:
        options = {}
    sources = []
    for index, (raw_attributes, text) in enumerate(_SOURCE.findall(user_text), 1):
        attrs = {k: html.unescape(v) for k, v in _ATTRIBUTE.findall(raw_attributes)}
        number = int(attrs["n"]) if attrs.get("n", "").isdigit() else index
        sources.append(SourceBlock(number, attrs.get("kind", "text"), attrs.get("ref", ""), attrs.get("title", ""),
                                   text))
    sections = {name: text for name, _, text in _SECTION.findall(_SOURCE.sub("", user_text)) if name != "source"}
    return JobRequest(match.group(1), options if isinstance(options, dict) else {}, sections, sources)


def format_number(value: float | int | None) -> str:
    """A statistic as the tables and the narratives write it: whole numbers plain, others to 4 decimals."""
    if value is None:
        return "n/a"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.4f}".rstrip("0").rstrip(".")
