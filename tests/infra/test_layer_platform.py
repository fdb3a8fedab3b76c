"""The layer lock resolves for Lambda's platform: pip, with the very options the layer build uses, finds a
wheel for Python 3.13 on aarch64 manylinux (≤ 2_34) for every locked package, and its hash is in the lock.
Nothing is installed (``--dry-run``); it asks PyPI, as ``make synth`` does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from crewhouse_cdk.layer import LAMBDA_PLATFORMS, LAYER_LOCK, normalize, pip_command, read_lock


def wheel_tags(filename: str) -> tuple[str, str, str]:
    """(python, abi, platform) tags of a wheel file name."""
    assert filename.endswith(".whl"), f"not a wheel: {filename}"
    python, abi, platform = filename.removesuffix(".whl").split("-")[-3:]
    return python, abi, platform


def test_every_locked_package_has_a_lambda_wheel_with_a_locked_hash(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    command = [*pip_command(LAYER_LOCK, tmp_path / "python"), "--dry-run", "--ignore-installed",
               "--report", str(report_path)]

    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)

    assert result.returncode == 0, result.stderr[-3000:]
    lock = read_lock(LAYER_LOCK)
    chosen = {normalize(item["metadata"]["name"]): item for item in json.loads(report_path.read_text())["install"]}
    assert set(chosen) == set(lock)
    for name, item in chosen.items():
        assert item["metadata"]["version"] == lock[name].version, name
        assert f"sha256:{item['download_info']['archive_info']['hashes']['sha256']}" in lock[name].hashes, name
        python, abi, platforms = wheel_tags(item["download_info"]["url"].rsplit("/", 1)[1])
        # CPython 3.13 itself, pure Python 3, or the stable ABI (abi3) of an older 3.x.
        fits = "cp313" in python.split(".") or "py3" in python.split(".") or abi == "abi3"
        assert fits and abi in ("none", "abi3", "cp313"), f"{name}: {python}-{abi}"
        assert platforms == "any" or set(platforms.split(".")) & set(LAMBDA_PLATFORMS), f"{name}: {platforms}"
    # The reason for several --platform tags: pillow's aarch64 cp313 wheels are manylinux_2_28 only.
    assert "manylinux_2_28_aarch64" in chosen["pillow"]["download_info"]["url"]
