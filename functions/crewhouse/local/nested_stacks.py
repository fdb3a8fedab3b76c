"""Nested stacks folded into their parent's template, for the embedded cloud.

CloudFormation allows 500 resources a stack, so later contexts live in a CDK ``NestedStack``. In AWS the parent
creates the child from its template (``AWS::CloudFormation::Stack``), passing references in as parameters and
reading the child's outputs with ``Fn::GetAtt [Child, Outputs.X]``. moto's CloudFormation cannot create a
nested stack from an asset, and the local gateway, persistence and tests read one template; so the child's
resources are put into the parent's template with every parameter and output reference replaced by the
expression it stands for. The result is the template AWS would run, as one stack.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

NESTED_STACK = "AWS::CloudFormation::Stack"


class NestedStackError(ValueError):
    """The nested stack cannot be folded (a logical id clash, or a reference this folding does not know)."""


def _replace(node: Any, replace: Any) -> Any:
    """``node`` with every dict for which ``replace`` returns a value swapped for that value."""
    if isinstance(node, dict):
        swapped = replace(node)
        if swapped is not None:
            return copy.deepcopy(swapped)
        return {key: _replace(value, replace) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace(value, replace) for value in node]
    return node


def _with_parameters(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    names = set(template.get("Parameters", {}))
    missing = names - parameters.keys()
    if missing:
        raise NestedStackError(f"nested stack parameters without a value: {sorted(missing)}")

    def replace(node: dict[str, Any]) -> Any:
        if set(node) == {"Ref"} and node["Ref"] in names:
            return parameters[node["Ref"]]
        if "Fn::Sub" in node:
            text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
            if any("${" + name + "}" in text for name in names):
                raise NestedStackError(f"Fn::Sub over a nested stack parameter: {text[:80]}")
        return None

    return dict(_replace(template, replace))


def _fold_one(parent: dict[str, Any], logical_id: str, child: dict[str, Any]) -> dict[str, Any]:
    resource = parent["Resources"][logical_id]
    child = _with_parameters(child, resource.get("Properties", {}).get("Parameters", {}))
    outputs = {name: output["Value"] for name, output in child.get("Outputs", {}).items()}
    folded = copy.deepcopy(parent)
    del folded["Resources"][logical_id]
    for section in ("Resources", "Conditions", "Mappings"):
        for key, value in child.get(section, {}).items():
            if section == "Resources" and value.get("Type") == "AWS::CDK::Metadata":
                continue
            if key in folded.get(section, {}):
                raise NestedStackError(f"{section} {key} is in both the parent and its nested stack")
            folded.setdefault(section, {})[key] = value

    def replace(node: dict[str, Any]) -> Any:
        attribute = node.get("Fn::GetAtt")
        if set(node) == {"Fn::GetAtt"} and isinstance(attribute, list) and attribute[0] == logical_id:
            name = str(attribute[1]).removeprefix("Outputs.")
            if name not in outputs:
                raise NestedStackError(f"{logical_id} has no output {name}")
            return outputs[name]
        if set(node) == {"Ref"} and node["Ref"] == logical_id:
            raise NestedStackError(f"a Ref to the nested stack {logical_id} itself")
        return None

    folded = dict(_replace(folded, replace))
    for other in folded["Resources"].values():  # the child's resources are created with the parent's now
        depends = other.get("DependsOn")
        if depends == logical_id:
            del other["DependsOn"]
        elif isinstance(depends, list) and logical_id in depends:
            other["DependsOn"] = [d for d in depends if d != logical_id]
    return folded


def _object_key(template_url: Any) -> str:
    """The S3 object key at the end of a nested stack's ``TemplateURL`` (CDK writes an ``Fn::Join``)."""
    if isinstance(template_url, dict) and "Fn::Join" in template_url:
        template_url = template_url["Fn::Join"][1][-1]
    if not isinstance(template_url, str):
        raise NestedStackError(f"a TemplateURL this folding cannot read: {template_url!r}")
    return template_url.rsplit("/", 1)[-1]


def nested_template_files(assembly_dir: Path, stack_name: str) -> dict[str, Path]:
    """The stack's nested templates in the cloud assembly, by the object key the parent's ``TemplateURL``
    names (from the stack's asset manifest: CDK publishes each nested template as a file asset)."""
    manifest_file = assembly_dir / f"{stack_name}.assets.json"
    if not manifest_file.is_file():  # a stack without assets has no nested stack either
        return {}
    manifest = json.loads(manifest_file.read_text())
    files: dict[str, Path] = {}
    for asset in manifest.get("files", {}).values():
        if asset["source"]["path"].endswith(".nested.template.json"):
            for destination in asset["destinations"].values():
                files[destination["objectKey"]] = assembly_dir / asset["source"]["path"]
    return files


def fold_nested_stacks(template: dict[str, Any], files: dict[str, Path]) -> dict[str, Any]:
    """``template`` with each nested stack (and theirs, recursively) folded in; unchanged without any.
    ``files``: the nested templates by object key (:func:`nested_template_files`)."""
    folded = template
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != NESTED_STACK:
            continue
        key = _object_key(resource.get("Properties", {}).get("TemplateURL"))
        if key not in files:
            raise NestedStackError(f"{logical_id}: no nested template {key} in the cloud assembly")
        child = fold_nested_stacks(json.loads(files[key].read_text()), files)
        folded = _fold_one(folded, logical_id, child)
    return folded


def stack_template(assembly_dir: Path, stack_name: str) -> dict[str, Any]:
    """The stack's synthesized template with its nested stacks folded in (what the embedded cloud deploys)."""
    template = json.loads((assembly_dir / f"{stack_name}.template.json").read_text())
    return fold_nested_stacks(template, nested_template_files(assembly_dir, stack_name))


__all__ = ["NestedStackError", "fold_nested_stacks", "nested_template_files", "stack_template"]
