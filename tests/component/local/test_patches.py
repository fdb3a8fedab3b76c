"""The embedded cloud's patches of moto: all registered with a reason and a kind, listed in the local README,
installed once however often the cloud installs them, and undone exactly."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from crewhouse.local import eventbridge, patches
from crewhouse.local.cloud import EmbeddedCloud, LocalCloudConfig
from tests.support.moto_server import free_port

README = Path(__file__).resolve().parents[3] / "functions" / "crewhouse" / "local" / "README.md"
PATCH_LIST = re.compile(r"(?<=<!-- patches:begin -->\n).*(?=<!-- patches:end -->)", re.DOTALL)


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    """A cloud whose patches are installed (no server needed); afterwards only what it added is undone."""
    before = {(p.target, p.attribute) for p in patches.registered()}
    with pytest.MonkeyPatch.context() as restore:
        restore.setattr(eventbridge, "_endpoint_url", eventbridge._endpoint_url)  # install() points it at this cloud
        cloud = EmbeddedCloud(LocalCloudConfig(aws_port=free_port(), api_port=free_port()))
        cloud.install_patches()
        yield cloud
        for record in patches.registered():
            if (record.target, record.attribute) not in before:
                patches.undo(record.target, record.attribute)


def test_every_patch_is_registered_with_a_reason_and_a_kind_and_is_in_place(cloud: EmbeddedCloud) -> None:
    installed = patches.registered()
    assert len(installed) > 40
    for record in installed:
        assert record.reason.strip() and record.kind in patches.KINDS, record.name
        assert vars(record.target)[record.attribute] is record.replacement, f"{record.name} was replaced again"


def test_installing_again_changes_nothing(cloud: EmbeddedCloud) -> None:
    installed = patches.registered()
    cloud.install_patches()
    assert patches.registered() == installed
    assert all(vars(p.target)[p.attribute] is p.replacement for p in installed)


def test_the_readme_lists_exactly_the_registered_patches(cloud: EmbeddedCloud) -> None:
    text = README.read_text()
    expected = patches.markdown_table(patches.registered())
    if os.environ.get("CREWHOUSE_WRITE_PATCH_LIST"):
        README.write_text(PATCH_LIST.sub(expected, text))
        text = README.read_text()
    listed = PATCH_LIST.search(text)
    assert listed is not None, f"{README} has no patches:begin/end markers"
    assert listed.group(0) == expected, "the README's list is out of date: rerun with CREWHOUSE_WRITE_PATCH_LIST=1"


def test_undo_puts_every_original_back_and_the_cloud_can_patch_again(cloud: EmbeddedCloud) -> None:
    installed = patches.registered()
    for record in installed:
        assert patches.undo(record.target, record.attribute)
        assert vars(record.target).get(record.attribute, patches.ABSENT) is record.stored, record.name

    cloud.install_patches()
    assert sorted(p.name for p in patches.registered()) == sorted(p.name for p in installed)
