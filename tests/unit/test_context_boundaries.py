"""Which context may call which (docs/CONTRIBUTING.md, "Context boundaries").

A domain context reaches another only through that context's public surface: ``wiring`` (its service, built
from its own settings), ``models`` (the shapes it accepts and returns) and ``logic`` (the service's type and
domain rules). Stores, key shapes and settings stay private. Shared libraries (``core``, ``search``,
``sync``, ``llm``, ``tools``) may be imported by anyone; ``local`` (the embedded cloud) by no function code.
Imports inside functions count too: hiding one from the top of a file does not make it allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "functions" / "crewhouse"
DOMAIN = {"platform", "tasks", "notes", "files", "jobs", "chat", "mcp", "tools", "bus", "flows", "crews",
          "tool_registry", "providers", "realtime", "notifications"}
PUBLIC_SURFACE = {"wiring", "models", "logic"}
# Edges that predate the rule, each with what folding it needs; the test fails when one disappears, so the
# list only shrinks.
KNOWN_EXCEPTIONS = {
    ("bus", "crewhouse.platform.personal_tokens"): "agent secrets and tokens share the personal tokens' format",
    ("bus", "crewhouse.platform.settings"): "the bus hashes agent secrets with the platform's token hash key",
    ("files", "crewhouse.tasks.keys"): "attachment targets are keyed by the tasks table's owner key",
    ("jobs", "crewhouse.files.inspection"): "research reads a file's extracted text through the files rules",
    ("jobs", "crewhouse.notes.searching"): "research ranks notes with the notes context's search",
    ("mcp", "crewhouse.tasks.settings"): "the MCP settings extend the tasks settings its tools need",
    ("tools", "crewhouse.files.settings"): "tools receive each context's settings through ToolContext",
    ("tools", "crewhouse.jobs.adapters"): "the jobs service is built by adapters.job_service (its wiring)",
    ("tools", "crewhouse.jobs.settings"): "tools receive each context's settings through ToolContext",
    ("tools", "crewhouse.notes.searching"): "the note search tool calls the notes context's search",
    ("tools", "crewhouse.notes.settings"): "tools receive each context's settings through ToolContext",
    ("tools", "crewhouse.notes.task_links"): "notes turn checklist items into tasks through this adapter",
    ("tools", "crewhouse.tasks.searching"): "the task search tool calls the tasks context's search",
    ("tools", "crewhouse.tasks.settings"): "tools receive each context's settings through ToolContext",
}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("crewhouse.")}


def crossings() -> set[tuple[str, str]]:
    """(context, module of another domain context outside its public surface) for every such import."""
    found: set[tuple[str, str]] = set()
    for path in ROOT.rglob("*.py"):
        context = path.relative_to(ROOT).parts[0]
        if context not in DOMAIN:
            continue
        for module in imported_modules(path):
            parts = module.split(".")
            if len(parts) < 3 or parts[1] == context or parts[1] not in DOMAIN - {"tools"}:
                continue
            submodule = ROOT / parts[1] / parts[2]
            if parts[2] not in PUBLIC_SURFACE and (submodule.is_dir() or submodule.with_suffix(".py").exists()):
                found.add((context, ".".join(parts[:3])))
    return found


def test_contexts_reach_each_other_only_through_their_public_surface() -> None:
    new = crossings() - KNOWN_EXCEPTIONS.keys()
    assert not new, f"import another context's wiring, models or logic instead: {sorted(new)}"


def test_the_known_exceptions_are_still_there() -> None:
    folded = KNOWN_EXCEPTIONS.keys() - crossings()
    assert not folded, f"folded, so remove from KNOWN_EXCEPTIONS: {sorted(folded)}"


def test_function_code_never_imports_the_local_cloud() -> None:
    offenders = sorted(str(path.relative_to(ROOT)) for path in ROOT.rglob("*.py")
                       if path.relative_to(ROOT).parts[0] != "local"
                       and any(m.startswith("crewhouse.local") for m in imported_modules(path)))
    assert not offenders, offenders
