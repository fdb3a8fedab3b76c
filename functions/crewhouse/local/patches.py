"""The one way the local cloud changes moto's private code: :func:`patch` and :func:`wrap`, with a registry.

A patch replaces an attribute moto does not promise to keep, so each one here states why it exists and of which
kind it is: ``accuracy`` (moto then behaves as AWS does) or ``speed`` (the emulator only gets faster; without it
the answers are the same). Installing fails loudly when moto no longer has what a patch replaces, installing
twice is a no-op (never a wrapper around a wrapper), and :func:`undo` / :func:`undo_all` put the originals back.
:func:`registered` lists every patch installed; ``functions/crewhouse/local/README.md`` shows the embedded
cloud's list (:func:`markdown_table`) and a test keeps the two equal.

The patches were written against moto :data:`PINNED_MOTO` (``requirements/dev.lock`` pins the same, a test checks
it); with another moto installed nothing is patched until the patches are reviewed, or until
``CREWHOUSE_ALLOW_MOTO_VERSION`` names that version to try them as they are.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

PINNED_MOTO = "5.2.5"
ALLOW_MOTO_VERSION = "CREWHOUSE_ALLOW_MOTO_VERSION"

Kind = Literal["accuracy", "speed"]
KINDS: tuple[Kind, ...] = ("accuracy", "speed")
# What the target holds before the patch: the attribute (moto's own code, replaced or wrapped), nothing (the patch
# adds it), or nothing on the class while each instance gets it in __init__ (a class-level data descriptor then
# takes it over).
Expect = Literal["attribute", "absent", "instance_attribute"]
Target = type | ModuleType

ABSENT: Any = object()  # what Patch.stored is when the target had no attribute of its own


class PatchError(RuntimeError):
    """A patch cannot be installed as written: moto changed underneath it, or two patches claim one attribute."""


@dataclass(frozen=True)
class Patch:
    target: Target
    attribute: str
    replacement: Any
    original: Any  # what the attribute gave before (None when absent): what a replacement calls on to
    reason: str
    kind: Kind
    wrapper: Callable[[Any], Any] | None  # wrap()'s factory; None for patch()
    stored: Any = field(repr=False)  # the target's own entry, which undo puts back (ABSENT: none, undo deletes)

    @property
    def name(self) -> str:
        return f"{qualname(self.target)}.{self.attribute}"


_registry: dict[tuple[Target, str], Patch] = {}
_lock = threading.RLock()


def qualname(target: Target) -> str:
    if isinstance(target, ModuleType):
        return target.__name__
    return f"{target.__module__}.{target.__qualname__}"


def check_moto_version() -> None:
    """Raise unless the installed moto is the one the patches were written for (or the one allowed)."""
    import moto

    installed = moto.__version__
    if installed in (PINNED_MOTO, os.environ.get(ALLOW_MOTO_VERSION)):
        return
    raise PatchError(
        f"moto {installed} is installed, but the local cloud's patches were written for moto {PINNED_MOTO}: review "
        f"them (functions/crewhouse/local/README.md lists them) and update PINNED_MOTO, or set "
        f"{ALLOW_MOTO_VERSION}={installed} to try them as they are")


def patch(target: Target, attribute: str, replacement: Any, *, reason: str, kind: Kind,
          expect: Expect = "attribute") -> Patch:
    """Set ``target.attribute`` to ``replacement`` and register it. Again with the same replacement: a no-op
    returning the same record; with another one: :class:`PatchError`."""
    with _lock:
        existing = _registry.get((target, attribute))
        if existing is None:
            return _install(target, attribute, lambda _: replacement, None, reason, kind, expect)
        if existing.replacement is not replacement:
            raise PatchError(f"{existing.name} is already patched with another replacement ({existing.reason})")
        return existing


def wrap(target: Target, attribute: str, wrapper: Callable[[Any], Any], *, reason: str, kind: Kind,
         expect: Expect = "attribute") -> Patch:
    """Set ``target.attribute`` to ``wrapper(original)`` and register it. Again with the same wrapper: a no-op
    returning the same record (never a wrapper around the wrapper); with another one: :class:`PatchError`."""
    with _lock:
        existing = _registry.get((target, attribute))
        if existing is None:
            return _install(target, attribute, wrapper, wrapper, reason, kind, expect)
        if existing.wrapper != wrapper:  # != rather than `is not`: bound methods are made anew on each access
            raise PatchError(f"{existing.name} is already patched by another wrapper ({existing.reason})")
        return existing


def _install(target: Target, attribute: str, make: Callable[[Any], Any], wrapper: Callable[[Any], Any] | None,
             reason: str, kind: Kind, expect: Expect) -> Patch:
    name = f"{qualname(target)}.{attribute}"
    if not reason.strip() or kind not in KINDS:
        raise PatchError(f"{name}: a patch needs a reason and a kind out of {KINDS}")
    _check_expectation(target, attribute, expect, name)
    check_moto_version()
    original = getattr(target, attribute, None)
    record = Patch(target, attribute, make(original), original, reason, kind, wrapper,
                   vars(target).get(attribute, ABSENT))
    setattr(target, attribute, record.replacement)
    _registry[(target, attribute)] = record
    return record


def _check_expectation(target: Target, attribute: str, expect: Expect, name: str) -> None:
    present = hasattr(target, attribute)
    if expect == "attribute" and not present:
        raise PatchError(f"cannot patch {name}: it does not exist (moto changed; review the patch)")
    if expect != "attribute" and present:
        raise PatchError(f"cannot add {name}: it exists already (moto may now do what the patch adds; review it)")
    if expect == "instance_attribute":
        init_code = getattr(getattr(target, "__init__", None), "__code__", None)
        if attribute not in getattr(init_code, "co_names", ()):
            raise PatchError(f"cannot take over {name}: {qualname(target)}.__init__ no longer sets it "
                             f"(moto changed; review the patch)")


def undo(target: Target, attribute: str) -> bool:
    """Put the original of ``target.attribute`` back; False when it was not patched. Instances made meanwhile
    keep what the patch gave them (a descriptor's instances have no attribute of their own)."""
    with _lock:
        record = _registry.pop((target, attribute), None)
        if record is None:
            return False
        if record.stored is not ABSENT:
            setattr(target, attribute, record.stored)
        elif attribute in vars(target):
            delattr(target, attribute)
        return True


def undo_all() -> None:
    """Put every original back, the latest patch first."""
    with _lock:
        for target, attribute in reversed(list(_registry)):
            undo(target, attribute)


def registered() -> list[Patch]:
    """Every patch installed, in the order of installation."""
    with _lock:
        return list(_registry.values())


def markdown_table(entries: Iterable[Patch]) -> str:
    """The patches by kind, as the README lists them."""
    titles = {"accuracy": "Accuracy: moto then behaves as AWS does",
              "speed": "Speed: the emulator is faster, its answers are the same"}
    lines: list[str] = []
    for kind in KINDS:
        chosen = sorted((e for e in entries if e.kind == kind), key=lambda e: (qualname(e.target), e.attribute))
        lines += [f"### {titles[kind]} ({len(chosen)})", "", "| Target | Attribute | Why |", "| --- | --- | --- |"]
        lines += [f"| `{qualname(e.target)}` | `{e.attribute}` | {e.reason.replace('|', '&#124;')} |"
                  for e in chosen]
        lines.append("")
    return "\n".join(lines)
