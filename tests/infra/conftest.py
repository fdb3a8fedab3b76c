"""One synth of the Crewhouse app per session (placeholder layer, no PyPI), shared by every infra test.

Synth runs cdk-nag as a CDK validation plugin, and a finding that is not acknowledged makes ``app.synth()``
raise ``ValidationFailed``. The fixture records that error instead of raising it, so that ``test_nag`` can
report it (with CDK's validation report) and the template tests fail with the reason rather than a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, cast

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

import crewhouse_cdk.app as crewhouse_app
from crewhouse.local.nested_stacks import nested_template_files, stack_template
from crewhouse.local.push import LOCAL_PUSH_CONTEXT

STACK_NAME = crewhouse_app.STACK_NAME


class RecordingAwsSolutionsChecks(AwsSolutionsChecks):
    """The app's own cdk-nag pack, counting the times CDK's validation invokes it during synth.

    An empty validation report proves nothing if the pack never ran; this count is the evidence that it did.
    """

    runs: ClassVar[list[str]] = []

    def validate(self, context: Any) -> Any:
        report = super().validate(context)
        RecordingAwsSolutionsChecks.runs.append(self.name)
        return report


@dataclass
class Synthesized:
    outdir: Path
    app: cdk.App
    error: BaseException | None
    nag_runs: int
    seconds: float

    @cached_property
    def stack(self) -> cdk.Stack:
        return cdk.Stack.of(self.app.node.find_child(STACK_NAME))

    @cached_property
    def template_path(self) -> Path:
        return self.outdir / self.stack.template_file

    @cached_property
    def template_json(self) -> dict[str, Any]:
        """The stack's template with its nested stacks folded in, as the embedded cloud deploys it: what each
        function may do and every resource of the app, wherever CloudFormation puts it."""
        return stack_template(self.outdir, STACK_NAME)

    @cached_property
    def template_paths(self) -> list[Path]:
        """The stack's own template file and each nested stack's, as CloudFormation receives them."""
        return [self.template_path, *sorted(set(nested_template_files(self.outdir, STACK_NAME).values()))]

    @cached_property
    def template(self) -> Template:
        return Template.from_json(self.template_json)

    def construct(self, path: str) -> IConstruct:
        """The construct at ``path`` below the stack, e.g. ``Storage/IdempotencyTable``."""
        node: IConstruct = self.stack
        for part in path.split("/"):
            node = node.node.find_child(part)
        return node

    def logical_id(self, path: str) -> str:
        """Logical ID of the CloudFormation resource at ``path`` (an L2's default child, or an L1 itself), in the
        stack that holds it (a nested stack's resources keep theirs when the embedded cloud folds them in)."""
        construct = self.construct(path)
        element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
        assert isinstance(element, cdk.CfnElement), f"{path} has no CloudFormation resource"
        return cast(str, cdk.Stack.of(element).resolve(element.logical_id))


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    RecordingAwsSolutionsChecks.runs.clear()
    with pytest.MonkeyPatch.context() as mp:
        # An environment-agnostic template, whatever the developer's shell exports.
        for var in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION", "CREWHOUSE_LAYER"):
            mp.delenv(var, raising=False)
        mp.setattr(crewhouse_app, "AwsSolutionsChecks", RecordingAwsSolutionsChecks)
        started = time.perf_counter()
        # With the embedded cloud's push applications: the push grants are checked (nag, cfn-lint) too.
        app = crewhouse_app.build_app(outdir, layer_mode="skip", context=LOCAL_PUSH_CONTEXT)
        error: BaseException | None = None
        try:
            app.synth()
        except Exception as exc:  # jsii surfaces CDK's ValidationFailed as a RuntimeError
            error = exc
    yield Synthesized(outdir=outdir, app=app, error=error, nag_runs=len(RecordingAwsSolutionsChecks.runs),
                      seconds=time.perf_counter() - started)


@pytest.fixture(scope="session")
def synth_ok(synthesized: Synthesized) -> Synthesized:
    """The synthesis, for tests that need a valid template: fails them with the synth error if there was one."""
    if synthesized.error is not None:
        pytest.fail(f"CDK synth failed, see test_nag: {synthesized.error}", pytrace=False)
    return synthesized


@pytest.fixture(scope="session")
def template(synth_ok: Synthesized) -> Template:
    return synth_ok.template


@pytest.fixture(scope="session")
def template_json(synth_ok: Synthesized) -> dict[str, Any]:
    return synth_ok.template_json


@pytest.fixture(scope="session")
def template_path(synth_ok: Synthesized) -> Path:
    return synth_ok.template_path


@pytest.fixture(scope="session")
def template_paths(synth_ok: Synthesized) -> list[Path]:
    return synth_ok.template_paths
