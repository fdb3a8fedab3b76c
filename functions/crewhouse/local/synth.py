"""Synthesize the CDK app for the embedded cloud, cached by the hash of everything that shapes it.

A synth costs 10+ s (jsii starts Node), so ``crewhouse local`` reuses the cloud assembly while the CDK
code, the function code, the state machines and pyproject.toml are unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
INPUTS = ("cdk", "functions", "statemachines")
STACK_NAME = "Crewhouse"


def source_fingerprint(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    files = [root / "pyproject.toml"]
    for folder in INPUTS:
        files.extend(p for p in (root / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
                     and p.suffix != ".pyc" and "crewhouse/local" not in p.as_posix())
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    from crewhouse.local.push import LOCAL_PUSH_CONTEXT

    digest.update(repr(sorted(LOCAL_PUSH_CONTEXT.items())).encode())  # the context the local synth passes
    return digest.hexdigest()[:20]


def synthesize(cache_root: Path = ROOT / "build" / "local-assembly", *, force: bool = False) -> Path:
    """The cloud assembly directory for the current sources (layer skipped: the venv provides it)."""
    target = cache_root / source_fingerprint()
    if not force and (target / f"{STACK_NAME}.template.json").exists():
        return target
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from crewhouse.local.push import LOCAL_PUSH_CONTEXT
    from crewhouse_cdk.app import build_app

    # Several processes may synthesize at once (parallel tests): each stages its own directory.
    staging = cache_root / f".staging-{os.getpid()}-{target.name}"
    shutil.rmtree(staging, ignore_errors=True)
    build_app(staging, layer_mode="skip", context=LOCAL_PUSH_CONTEXT).synth()
    for old in cache_root.iterdir():
        if old.name != target.name and not old.name.startswith(".staging-"):
            shutil.rmtree(old, ignore_errors=True)
    try:
        staging.rename(target)
    except OSError:  # another process finished first: its assembly is the same
        shutil.rmtree(staging, ignore_errors=True)
    return target
