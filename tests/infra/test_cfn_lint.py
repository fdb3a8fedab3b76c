"""cfn-lint over the synthesized template: no errors, no warnings.

Only W3005 (a DependsOn already implied by a Ref/GetAtt) is ignored: CDK itself writes those DependsOn
(a function on its role's default policy), and we cannot remove them. Nothing else may be switched off,
neither here nor by a ``.cfnlintrc`` on the machine nor by ``cfn-lint`` metadata in the template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfnlint.config import ConfigMixIn
from cfnlint.runner import Runner

IGNORED = ["W3005"]
REGIONS = ["us-east-1"]


def run_cfn_lint(template_path: Path) -> tuple[list[str], ConfigMixIn]:
    """cfn-lint's findings on a template (also `make deploy-check`'s), and the configuration it ran with."""
    config = ConfigMixIn(["--template", str(template_path)], ignore_checks=IGNORED, regions=REGIONS)
    findings = [f"{m.rule.id} ({m.rule.severity}) line {m.linenumber}: {m.message}" for m in Runner(config).run()]
    if config.ignore_checks != IGNORED:
        findings.append(f"extra checks ignored by local config: {config.ignore_checks}")
    return findings, config


def test_every_template_passes_cfn_lint(template_paths: list[Path]) -> None:
    """The stack's template and each nested stack's, as CloudFormation receives them."""
    for template_path in template_paths:
        findings, config = run_cfn_lint(template_path)
        # After the run (the template's own cfn-lint config is merged in by then): nothing but W3005 is ignored.
        assert config.ignore_checks == IGNORED, f"extra checks ignored by local config: {config.ignore_checks}"
        assert set(config.include_checks) >= {"E", "W"}
        assert not findings, f"cfn-lint findings in {template_path.name}:\n" + "\n".join(f"  {f}" for f in findings)


def test_template_carries_no_cfn_lint_suppressions(template_json: dict[str, Any]) -> None:
    assert "cfn-lint" not in template_json.get("Metadata", {})
    suppressed = [name for name, resource in template_json["Resources"].items()
                  if "cfn-lint" in resource.get("Metadata", {})]
    assert not suppressed, f"resources that switch cfn-lint checks off: {suppressed}"
