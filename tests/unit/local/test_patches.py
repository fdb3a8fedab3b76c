"""crewhouse.local.patches: loud when the target changed, idempotent, registered, undoable, pinned to one moto."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import moto
import pytest

from crewhouse.local import patches
from crewhouse.local.patches import PatchError

DEV_LOCK = Path(__file__).resolve().parents[3] / "requirements" / "dev.lock"


class Base:
    def inherited(self) -> str:
        return "base"


class Backend(Base):
    def __init__(self) -> None:
        self.mappings: dict[str, Any] = {}

    def take(self, item: str) -> str:
        return item

    @staticmethod
    def parse(text: str) -> str:
        return text


@pytest.fixture(autouse=True)
def own_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test patches into a registry of its own, undone afterwards; the cloud's patches stay as they are."""
    monkeypatch.setattr(patches, "_registry", {})
    yield
    patches.undo_all()


def shout(item: str) -> str:
    return item.upper()


def shouting(self: Backend, item: str) -> str:
    return shout(item)


def test_a_patch_replaces_the_attribute_and_is_registered_with_its_original() -> None:
    original = Backend.take
    record = patches.patch(Backend, "take", shouting, reason="louder", kind="accuracy")

    assert Backend().take("a") == "A"
    assert record in patches.registered()
    assert (record.name, record.attribute, record.reason, record.kind, record.original) == (
        f"{__name__}.Backend.take", "take", "louder", "accuracy", original)


def test_patching_again_with_the_same_replacement_is_a_no_op_and_another_one_is_refused() -> None:
    first = patches.patch(Backend, "take", shouting, reason="louder", kind="speed")
    assert patches.patch(Backend, "take", shouting, reason="louder", kind="speed") is first
    assert patches.registered().count(first) == 1
    with pytest.raises(PatchError, match=r"Backend\.take is already patched"):
        patches.patch(Backend, "take", str.lower, reason="quieter", kind="speed")


def test_wrapping_again_does_not_wrap_the_wrapper() -> None:
    applied: list[Any] = []

    def exclaiming(original: Any) -> Any:
        applied.append(original)
        return lambda self, item: original(self, item) + "!"

    patches.wrap(Backend, "take", exclaiming, reason="emphasis", kind="accuracy")
    record = patches.wrap(Backend, "take", exclaiming, reason="emphasis", kind="accuracy")

    assert Backend().take("a") == "a!"
    assert len(applied) == 1 and record.wrapper is exclaiming
    with pytest.raises(PatchError, match="another wrapper"):
        patches.wrap(Backend, "take", lambda original: original, reason="other", kind="accuracy")


def test_a_missing_target_attribute_fails_loudly_naming_it() -> None:
    with pytest.raises(PatchError, match=rf"{__name__}\.Backend\.renamed_in_moto"):
        patches.patch(Backend, "renamed_in_moto", shouting, reason="gone", kind="accuracy")
    assert not any(p.attribute == "renamed_in_moto" for p in patches.registered())


def test_an_added_attribute_must_be_new_and_undo_removes_it() -> None:
    patches.patch(Backend, "added", property(lambda self: 1), reason="moto lacks it", kind="accuracy",
                  expect="absent")
    assert Backend().added == 1  # type: ignore[attr-defined]
    with pytest.raises(PatchError, match=r"Backend\.take: it exists already"):
        patches.patch(Backend, "take", shouting, reason="moto has it", kind="accuracy", expect="absent")

    assert patches.undo(Backend, "added")
    assert not hasattr(Backend, "added")


def test_an_instance_attribute_is_taken_over_only_while_init_still_sets_it() -> None:
    class Empty:
        def __get__(self, instance: object, owner: type | None = None) -> dict[str, Any]:
            return {}

        def __set__(self, instance: object, value: object) -> None:
            pass

    patches.patch(Backend, "mappings", Empty(), reason="hidden", kind="accuracy", expect="instance_attribute")
    assert Backend().mappings == {}
    with pytest.raises(PatchError, match=r"Backend\.__init__ no longer sets it"):
        patches.patch(Backend, "queue", Empty(), reason="hidden", kind="accuracy", expect="instance_attribute")


def test_undo_restores_the_original_exactly() -> None:
    stored = vars(Backend)["parse"]
    patches.wrap(Backend, "parse", lambda parse: staticmethod(lambda text: parse(text) * 2), reason="twice",
                 kind="speed")
    patches.patch(Backend, "inherited", lambda self: "patched", reason="own", kind="accuracy")
    assert Backend.parse("a") == "aa" and Backend().inherited() == "patched"

    assert patches.undo(Backend, "parse") and patches.undo(Backend, "inherited")
    assert vars(Backend)["parse"] is stored  # the staticmethod itself, not the function it holds
    assert "inherited" not in vars(Backend) and Backend().inherited() == "base"
    assert not patches.undo(Backend, "parse")


def test_undo_all_restores_every_original_and_a_module_can_be_patched() -> None:
    module = sys.modules[__name__]
    patches.patch(module, "shout", str.lower, reason="quieter", kind="speed")
    patches.patch(Backend, "take", shouting, reason="louder", kind="speed")
    assert shout("A") == "a"  # the module global is str.lower now
    patches.undo_all()
    assert shout("a") == "A" and Backend().take("a") == "a"
    assert patches.registered() == []


@pytest.mark.parametrize("reason, kind", [("", "accuracy"), ("why", "style")])
def test_a_patch_needs_a_reason_and_a_kind(reason: str, kind: Any) -> None:
    with pytest.raises(PatchError, match="needs a reason and a kind"):
        patches.patch(Backend, "take", shouting, reason=reason, kind=kind)


def test_another_moto_version_is_refused_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto, "__version__", "9.9.9")
    monkeypatch.delenv(patches.ALLOW_MOTO_VERSION, raising=False)
    with pytest.raises(PatchError, match=rf"moto 9\.9\.9 is installed.*{patches.ALLOW_MOTO_VERSION}=9\.9\.9"):
        patches.patch(Backend, "take", shouting, reason="louder", kind="speed")
    assert Backend().take("a") == "a"

    monkeypatch.setenv(patches.ALLOW_MOTO_VERSION, "9.9.9")
    patches.patch(Backend, "take", shouting, reason="louder", kind="speed")
    assert Backend().take("a") == "A"


def test_the_pinned_moto_is_the_one_the_dev_lock_installs() -> None:
    pins = re.findall(r"^moto==(\S+)", DEV_LOCK.read_text(), flags=re.MULTILINE)
    assert pins == [patches.PINNED_MOTO]
