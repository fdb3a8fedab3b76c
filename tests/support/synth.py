"""The synthesized template of the current sources, built in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SYNTH_SNIPPET = ("from crewhouse.local.synth import STACK_NAME, synthesize; "
                 "print(synthesize() / f'{STACK_NAME}.template.json')")


@cache
def synthesized_template() -> dict[str, Any]:
    """The template (or the cached one, when the sources are unchanged), synthesized in a child process.

    A child process keeps jsii's Node process and the CDK app's module-level state out of pytest's, so a
    re-synth after the sources changed cannot collide with an app built earlier in this process.
    """
    proc = subprocess.run([sys.executable, "-c", SYNTH_SNIPPET], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"synth failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return dict(json.loads(Path(proc.stdout.strip().splitlines()[-1]).read_text()))
