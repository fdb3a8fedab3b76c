"""Reading a synthesized cloud assembly (cdk.out): the stack template, and the directory of each function's
code and each layer (CDK stages an asset as ``asset.<hash>`` and references it by ``<hash>.zip``)."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, cast

from crewhouse.local.nested_stacks import nested_template_files, stack_template


@dataclass(frozen=True)
class Assembly:
    outdir: Path
    stack: str = "Crewhouse"

    @cached_property
    def template_path(self) -> Path:
        manifest = json.loads((self.outdir / "manifest.json").read_text())
        return self.outdir / manifest["artifacts"][self.stack]["properties"]["templateFile"]

    @cached_property
    def template(self) -> dict[str, Any]:
        """The stack's template with its nested stacks folded in (every function and state machine)."""
        return stack_template(self.outdir, self.stack)

    @cached_property
    def template_paths(self) -> list[Path]:
        """The stack's template file and each nested stack's."""
        return [self.template_path, *sorted(set(nested_template_files(self.outdir, self.stack).values()))]

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.template["Resources"].items() if r["Type"] == kind}

    @cached_property
    def functions(self) -> dict[str, dict[str, Any]]:
        return self.resources("AWS::Lambda::Function")

    @cached_property
    def layers(self) -> dict[str, dict[str, Any]]:
        return self.resources("AWS::Lambda::LayerVersion")

    def asset_dir(self, s3_key: str) -> Path:
        path = self.outdir / f"asset.{s3_key.removesuffix('.zip')}"
        archive = path.with_name(f"{path.name}.zip")  # an asset CDK ships as a built zip (its AWS CLI layer)
        if not path.is_dir() and archive.is_file():
            path = path.with_name(f"{path.name}.unzipped")
            if not path.is_dir():
                with zipfile.ZipFile(archive) as zf:
                    zf.extractall(path)
        assert path.is_dir(), f"no staged asset for {s3_key} in {self.outdir}"
        return path

    def prebuilt(self, s3_key: str) -> bool:
        """An asset CDK ships as a built zip (its AWS CLI layer), not one built from this repository."""
        return (self.outdir / f"asset.{s3_key.removesuffix('.zip')}.zip").is_file()

    def code_dir(self, function: str) -> Path:
        return self.asset_dir(self.functions[function]["Properties"]["Code"]["S3Key"])

    def layer_ids(self, function: str) -> list[str]:
        return [ref["Ref"] for ref in self.functions[function]["Properties"].get("Layers", [])]

    def layer_dir(self, layer: str) -> Path:
        return self.asset_dir(self.layers[layer]["Properties"]["Content"]["S3Key"])

    def handler(self, function: str) -> str:
        return cast(str, self.functions[function]["Properties"]["Handler"])


def unzipped_size(path: Path) -> int:
    """Bytes of every file below ``path`` (what Lambda counts against its 250 MB unzipped limit)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def zipped_size(path: Path, scratch: Path) -> int:
    """Bytes of ``path`` deflated into a zip, as CDK uploads it (the file is removed afterwards)."""
    archive = scratch / f"{path.name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for root, _, files in os.walk(path):
            for name in sorted(files):
                file = Path(root, name)
                zf.write(file, file.relative_to(path))
    size = archive.stat().st_size
    archive.unlink()
    return size
