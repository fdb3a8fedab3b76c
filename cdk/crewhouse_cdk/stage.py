"""Stages (issue 21): one deployment of the app per stage (``dev``, ``staging``, ``prod`` or any name), chosen at synth
time with the CDK context ``crewhouse:stage``; every physical name and the stack's name derive from it.

The default stage, ``dev``, keeps today's names (stack ``Crewhouse``, bus ``crewhouse`` …): the embedded cloud, the
tests and an existing dev deployment use them, and CloudFormation cannot rename a stack or a named resource in place.
Every other stage puts ``-<stage>`` into each name (:func:`staged`), so two stages can share an account and a region.
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from constructs import Construct, IConstruct

STAGE_CONTEXT = "crewhouse:stage"
DEFAULT_STAGE = "dev"
STACK_BASE_NAME = "Crewhouse"
PROJECT = "crewhouse"
STAGE_TAGS = ("project", "stage", "context")  # on every taggable resource
# Short enough for the longest derived names (Cognito domain prefixes, IAM-scoped resource prefixes).
_STAGE_PATTERN = re.compile(r"[a-z0-9-]{1,12}")


def validate_stage(stage: str) -> str:
    if not _STAGE_PATTERN.fullmatch(stage) or stage.startswith("-") or stage.endswith("-"):
        raise ValueError(f"{STAGE_CONTEXT} must be 1-12 lowercase letters, digits or inner hyphens, not {stage!r}")
    return stage


def stage_of(scope: Construct) -> str:
    """The stage of ``scope``: the nearest ``crewhouse:stage`` context (a stack sets its own), else ``dev``."""
    return validate_stage(str(scope.node.try_get_context(STAGE_CONTEXT) or DEFAULT_STAGE))


def staged(name: str, stage: str) -> str:
    """``name`` in ``stage``: unchanged for dev; otherwise the stage follows the leading project name
    (``crewhouse-jobs`` → ``crewhouse-prod-jobs``, ``crewhouse/tools`` → ``crewhouse-prod/tools``), so that a
    dev grant on a prefix (``crewhouse-bus-*``) never covers another stage's resources; other names get a suffix."""
    if stage == DEFAULT_STAGE:
        return name
    if name.lower().startswith(PROJECT):
        return f"{name[:len(PROJECT)]}-{stage}{name[len(PROJECT):]}"
    return f"{name}-{stage}"


def staged_name(scope: Construct, name: str) -> str:
    """``name`` as a physical name (or a name prefix) of ``scope``'s stage (:func:`staged`)."""
    return staged(name, stage_of(scope))


def stack_name(stage: str) -> str:
    return staged(STACK_BASE_NAME, stage)


def tag_stage(stack: cdk.Stack, stage: str) -> None:
    """Project and stage tags on every taggable resource of ``stack`` (nested stacks' too), and the ``platform``
    context on anything no capability claims (:func:`tag_context` wins: it is closer to the resource)."""
    tags = cdk.Tags.of(stack)
    tags.add("project", PROJECT)
    tags.add("stage", stage)
    tag_context(stack, "platform")


def tag_context(scope: IConstruct, context: str) -> None:
    """The ``context`` tag (tasks, notes, files …) on every taggable resource of a capability's construct."""
    cdk.Tags.of(scope).add("context", context)
