"""cdk-nag (AwsSolutions) runs at synth through CDK's validation framework; nothing it finds may go unacknowledged,
and every acknowledgment must say why.

Where the records are (aws-cdk-lib 2.275, cdk-nag 3.0.2):

* ``Validations.of(c).acknowledge(id, reason)`` adds construct metadata of type ``aws:cdk:acknowledged-rules``,
  ``{"Annotation::<id>": reason}``. Synth writes a stack's construct metadata to the cloud assembly (the stack
  artifact's ``metadata`` in ``manifest.json`` or its ``additionalMetadataFile``): that is the audit record.
* cdk-nag drops findings acknowledged on the resource or an ancestor before it reports, so
  ``validation-report.json`` (CDK writes it whenever a validation plugin is registered) lists exactly the
  unacknowledged findings, errors and warnings alike. Findings acknowledged through CDK's own namespaced IDs
  (``AwsSolutions::...``) would instead show up under ``suppressedViolations``, with their reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import crewhouse_cdk.app as crewhouse_app
from tests.infra.conftest import Synthesized

ACKNOWLEDGED_RULES = "aws:cdk:acknowledged-rules"  # == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
NAG_PLUGIN = "AwsSolutions"
VALIDATION_REPORT = "validation-report.json"


def assembly_metadata(assembly_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Construct metadata the cloud assembly recorded, by construct path, over every stack (nested too)."""
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    entries: dict[str, list[dict[str, Any]]] = {}
    for artifact in manifest.get("artifacts", {}).values():
        if artifact.get("type") == "aws:cloudformation:stack":
            sources = [artifact.get("metadata", {})]
            if "additionalMetadataFile" in artifact:
                sources.append(json.loads((assembly_dir / artifact["additionalMetadataFile"]).read_text()))
            for source in sources:
                for path, items in source.items():
                    entries.setdefault(path, []).extend(items)
        elif artifact.get("type") == "cdk:cloud-assembly":
            for path, items in assembly_metadata(assembly_dir / artifact["properties"]["directoryName"]).items():
                entries.setdefault(path, []).extend(items)
    return entries


def recorded_acknowledgments(synthesized: Synthesized) -> dict[tuple[str, str], str]:
    """``(construct path, rule id) -> reason`` for every acknowledgment in the cloud assembly."""
    return {
        (path, rule): reason
        for path, items in assembly_metadata(synthesized.outdir).items()
        for item in items if item["type"] == ACKNOWLEDGED_RULES
        for rule, reason in item["data"].items()
    }


def format_violations(report: dict[str, Any]) -> str:
    lines = []
    for v in report.get("violations", []):
        where = ", ".join(c.get("constructPath", "?") for c in v.get("violatingConstructs", []))
        lines.append(f"  {v.get('severity')} {v['ruleName']} at {where}: {v.get('description', '')}")
    return "\n".join(lines)


def test_synth_succeeds_with_nag_enabled(synthesized: Synthesized) -> None:
    assert synthesized.error is None, f"CDK synth failed:\n{synthesized.error}"
    assert synthesized.template_path.is_file()


def test_nag_plugin_ran_during_synth(synthesized: Synthesized) -> None:
    assert synthesized.nag_runs >= 1, (
        "CDK never invoked the AwsSolutions pack: build_app must register "
        "cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(...)) (crewhouse_cdk.app.AwsSolutionsChecks)"
    )


def test_validation_report_has_no_unacknowledged_findings(synthesized: Synthesized) -> None:
    report_path = synthesized.outdir / VALIDATION_REPORT
    assert report_path.is_file(), f"CDK writes {VALIDATION_REPORT} whenever a validation plugin is registered"
    report = json.loads(report_path.read_text())
    assert report["title"] == "Validation Report"
    plugin_reports = report["pluginReports"]

    nag_reports = [r for r in plugin_reports if r["pluginName"] == NAG_PLUGIN]
    findings = [v for r in nag_reports for v in r.get("violations", [])]
    assert not findings, "unacknowledged AwsSolutions findings (fix them, or acknowledge with a reason):\n" + "\n".join(
        format_violations(r) for r in nag_reports
    )
    failed = [r["pluginName"] for r in plugin_reports if r.get("conclusion") != "success"]
    assert not failed, f"validation plugins concluded failure: {failed}"
    unexplained = [
        f"{s['ruleName']} at {[c.get('constructPath') for c in s.get('violatingConstructs', [])]}"
        for r in plugin_reports for s in r.get("suppressedViolations") or []
        if not (s.get("reason") or "").strip()
    ]
    assert not unexplained, f"findings suppressed without a reason: {unexplained}"


def test_every_acknowledgment_in_the_assembly_has_a_reason(synthesized: Synthesized) -> None:
    acknowledgments = recorded_acknowledgments(synthesized)
    # Crewhouse acknowledges some findings (e.g. the public /health route): none recorded means we read the wrong place.
    assert acknowledgments, f"no {ACKNOWLEDGED_RULES} metadata found in the cloud assembly"
    missing = [f"{rule} at {path}" for (path, rule), reason in acknowledgments.items()
               if not isinstance(reason, str) or not reason.strip()]
    assert not missing, f"acknowledgments without a reason: {missing}"


def test_every_acknowledgment_is_recorded_in_the_assembly(synthesized: Synthesized) -> None:
    """Acknowledgments on constructs outside a stack (the App itself) apply to every stack yet would reach no
    stack's metadata: none may escape the audit record."""
    in_tree = {
        (construct.node.path, rule)
        for construct in synthesized.app.node.find_all()
        for entry in construct.node.metadata if entry.type == ACKNOWLEDGED_RULES
        for rule in entry.data
    }
    recorded = {(path.lstrip("/"), rule) for path, rule in recorded_acknowledgments(synthesized)}
    assert in_tree, "no acknowledgments in the construct tree"
    assert in_tree <= recorded, f"acknowledged outside any stack (acknowledge inside it): {in_tree - recorded}"


def test_no_unacknowledged_cdk_warnings_or_errors(synthesized: Synthesized) -> None:
    """What ``cdk synth --strict`` would refuse: warning and error annotations left in the assembly."""
    annotations = [
        f"{entry['type']} at {path}: {entry.get('data')}"
        for path, items in assembly_metadata(synthesized.outdir).items()
        for entry in items if entry["type"] in ("aws:cdk:warning", "aws:cdk:error")
    ]
    assert not annotations, "\n".join(annotations)


def test_a_synth_for_a_real_account_and_region_has_no_unacknowledged_findings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``cdk synth`` with credentials resolves partition, region and account, so cdk-nag writes literal ARNs in its
    findings: an acknowledgment written with ``<AWS::Region>`` would no longer match (use ``nag_arn``)."""
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "123456789012")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-west-1")
    app = crewhouse_app.build_app(tmp_path, layer_mode="skip")
    try:
        app.synth()
    except Exception as exc:  # jsii surfaces CDK's ValidationFailed as a RuntimeError
        report = json.loads((tmp_path / VALIDATION_REPORT).read_text())
        pytest.fail("findings of an account-bound synth:\n" + "\n".join(
            format_violations(r) for r in report["pluginReports"]) + f"\n{exc}", pytrace=False)
