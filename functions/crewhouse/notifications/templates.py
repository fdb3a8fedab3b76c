"""Message templates: Liquid (python-liquid), sandboxed, per locale with a fallback to ``en``.

Liquid has no code: a template reads the mappings and lists it is given (never a Python attribute or method),
and loops, output size and nesting are capped here, so a tenant's template cannot run anything or exhaust the
function. python-liquid is imported on first use (cold start of the API's reads).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from crewhouse.core.errors import ValidationProblem

DEFAULT_LOCALE = "en"
MAX_LOOP_ITERATIONS = 1_000
MAX_OUTPUT_CHARS = 50_000

# key -> locale -> (subject, body). The consumers and senders name these keys; a tenant may override any.
PREDEFINED: dict[str, dict[str, tuple[str, str]]] = {
    "task_reminder": {
        "en": ("Reminder: {{ task.title }}",
               "{{ task.title }}{% if task.due %} is due {{ task.due }}{% endif %}."),
        "de": ("Erinnerung: {{ task.title }}",
               "{{ task.title }}{% if task.due %} ist fällig am {{ task.due }}{% endif %}."),
    },
    "job_succeeded": {
        "en": ("Your {{ job.type | default: 'agent' }} job finished",
               "The {{ job.type | default: 'agent' }} job {{ job.id }} succeeded.{% if result.note_id %} "
               "Its result is in note {{ result.note_id }}.{% endif %}"),
        "de": ("Dein {{ job.type | default: 'Agenten' }}-Auftrag ist fertig",
               "Der Auftrag {{ job.id }} war erfolgreich."),
    },
    "job_failed": {
        "en": ("Your {{ job.type | default: 'agent' }} job failed",
               "The job {{ job.id }} failed{% if error.message %}: {{ error.message }}{% endif %}."),
        "de": ("Dein Auftrag ist fehlgeschlagen",
               "Der Auftrag {{ job.id }} ist fehlgeschlagen{% if error.message %}: {{ error.message }}{% endif %}."),
    },
    "flow_approval_needed": {
        "en": ("Approval needed: {{ flow.name | default: flow.id }}",
               "{{ prompt | default: 'A flow waits for your approval.' }}{% if expires_at %} "
               "It expires {{ expires_at }}.{% endif %}"),
    },
    "agent_offline": {
        "en": ("Agent {{ agent.name | default: agent.id }} is offline",
               "No heartbeat from {{ agent.name | default: agent.id }} since "
               "{{ agent.last_heartbeat_at | default: 'a while' }}."),
    },
    "file_retention_warning": {
        "en": ("{{ count }} of your files will be deleted from {{ delete_after }}",
               "{% if count == 1 %}This file has{% else %}These files have{% endif %} not been opened for a long "
               "time and will be deleted unless opened before the date shown:\n"
               "{% for file in files %}- {{ file.filename }} ({{ file.size }}; last opened "
               "{{ file.last_opened_at | default: 'never' }}; deleted from {{ file.delete_after }})\n{% endfor %}"
               "{% if more > 0 %}… and {{ more }} more.\n{% endif %}Open a file to keep it."),
        "de": ("{{ count }} deiner Dateien werden ab {{ delete_after }} gelöscht",
               "Diese Dateien wurden lange nicht geöffnet und werden gelöscht, wenn sie nicht vorher geöffnet "
               "werden:\n{% for file in files %}- {{ file.filename }} ({{ file.size }}; gelöscht ab "
               "{{ file.delete_after }})\n{% endfor %}{% if more > 0 %}… und {{ more }} weitere.\n{% endif %}"
               "Öffne eine Datei, um sie zu behalten."),
    },
    "digest": {
        "en": ("Your daily digest: {{ count }} notification{% if count != 1 %}s{% endif %}",
               "{% for item in items %}- {{ item.title }}{% if item.link %} ({{ item.link }}){% endif %}\n"
               "{% endfor %}{% if more > 0 %}… and {{ more }} more in your inbox.\n{% endif %}"),
        "de": ("Deine tägliche Übersicht: {{ count }} Benachrichtigung{% if count != 1 %}en{% endif %}",
               "{% for item in items %}- {{ item.title }}{% if item.link %} ({{ item.link }}){% endif %}\n"
               "{% endfor %}{% if more > 0 %}… und {{ more }} weitere im Posteingang.\n{% endif %}"),
    },
    "mention": {
        "en": ("{{ author | default: 'Someone' }} mentioned you",
               "{{ author | default: 'Someone' }} mentioned you{% if where %} in {{ where }}{% endif %}: "
               "{{ excerpt | truncate: 200 }}"),
    },
}


@cache
def _environment() -> Any:
    from liquid import Environment
    from liquid.undefined import Undefined

    class Limited(Environment):
        loop_iteration_limit = MAX_LOOP_ITERATIONS
        output_stream_limit = MAX_OUTPUT_CHARS
        context_depth_limit = 10
        local_namespace_limit = 10_000

    return Limited(undefined=Undefined, autoescape=False)


def _line(source: str, error: Any) -> int | None:
    token = getattr(error, "token", None)
    start = getattr(token, "start_index", None)
    if not isinstance(start, int):
        return None
    if start < 0:  # an unclosed block: the error is at the end of the template
        return source.count("\n") + 1
    return source[:start].count("\n") + 1


def parse(source: str, field: str) -> Any:
    """The compiled template, or a 422 naming the field and the line of the syntax error."""
    from liquid.exceptions import LiquidError

    try:
        return _environment().from_string(source)
    except LiquidError as error:
        line = _line(source, error)
        message = str(getattr(error, "message", None) or str(error).splitlines()[0])
        where = f" on line {line}" if line else ""
        raise ValidationProblem(f"The {field} template has a syntax error{where}: {message}.",
                                slug="template-syntax-error",
                                errors=[{"path": f"body.{field}", "line": line, "message": message,
                                         "type": "template_syntax"}]) from error


def check(subject: str, body: str) -> None:
    parse(subject, "subject")
    parse(body, "body")


def _plain(value: Any) -> Any:
    """Only JSON-like values reach a template (mappings, lists, strings, numbers): nothing with methods."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def render(subject: str, body: str, data: Mapping[str, Any]) -> tuple[str, str]:
    from liquid.exceptions import LiquidError

    values = _plain(data)
    try:
        return (parse(subject, "subject").render(**values).strip(),
                parse(body, "body").render(**values).strip())
    except LiquidError as error:
        raise ValidationProblem(f"The template could not be rendered: {str(error).splitlines()[0]}.",
                                slug="template-render-error") from error


def locale_chain(locale: str | None) -> list[str]:
    """``de-AT`` -> ``de-AT``, ``de``, ``en``."""
    chain: list[str] = []
    if locale:
        parts = locale.split("-")
        chain += ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]
    chain.append(DEFAULT_LOCALE)
    return list(dict.fromkeys(chain))


def predefined(key: str, locale: str | None) -> tuple[str, str, str] | None:
    """The shipped template for ``key`` in the first locale of the chain that has one: (subject, body, locale)."""
    versions = PREDEFINED.get(key)
    if not versions:
        return None
    for candidate in locale_chain(locale):
        if candidate in versions:
            return (*versions[candidate], candidate)
    return None
