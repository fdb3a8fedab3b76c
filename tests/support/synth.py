"""The synthesized template of the current sources, built in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# The template with its nested stacks folded in (crewhouse.local.nested_stacks): every function the app deploys,
# whichever stack CloudFormation puts it in, as the embedded cloud deploys them.
SYNTH_SNIPPET = ("import json, tempfile; from crewhouse.local.synth import STACK_NAME, synthesize; "
                 "from crewhouse.local.nested_stacks import stack_template; "
                 "out = tempfile.NamedTemporaryFile('w', suffix='.json', delete=False); "
                 "json.dump(stack_template(synthesize(), STACK_NAME), out); out.close(); print(out.name)")


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
    folded = Path(proc.stdout.strip().splitlines()[-1])
    try:
        return dict(json.loads(folded.read_text()))
    finally:
        folded.unlink(missing_ok=True)


# CDK's own function behind the console's BucketDeployment (crewhouse_cdk.constructs.console): it runs the AWS CLI
# of CDK's layer (``index.handler``) and none of the app's code, so the checks of the app's handlers skip it.
CDK_PROVIDED_FUNCTIONS = ("CustomCDKBucketDeployment",)


def app_functions() -> dict[str, dict[str, Any]]:
    """Logical id -> properties of every Lambda function that runs the app's own handler."""
    return {logical_id: resource["Properties"]
            for logical_id, resource in synthesized_template()["Resources"].items()
            if resource["Type"] == "AWS::Lambda::Function" and "Handler" in resource.get("Properties", {})
            and not logical_id.startswith(CDK_PROVIDED_FUNCTIONS)}
