"""Supply chain (issue 21): the licence, and the npm audit's verdict with its allow-list (tests.infra.supply_chain),
checked offline on synthetic ``npm audit --json`` reports; ``python -m tests.infra.supply_chain`` asks the registry."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra import supply_chain
from tests.infra.supply_chain import Advisory, Allowance, AuditUnavailable, advisories, parse_allowlist, verdict

TODAY = dt.date(2026, 12, 4)
GHSA = "GHSA-abcd-efgh-ijkl"


def report(*entries: tuple[str, str, list[Any]]) -> dict[str, Any]:
    """An ``npm audit --json`` report (format 2) with ``(package, severity, via)`` entries."""
    return {"auditReportVersion": 2, "vulnerabilities": {
        package: {"name": package, "severity": severity, "isDirect": False, "via": via, "effects": [],
                  "range": "*", "nodes": [f"node_modules/{package}"], "fixAvailable": True}
        for package, severity, via in entries}, "metadata": {}}


def advisory(package: str, severity: str, ghsa: str = GHSA, source: int = 1099999) -> dict[str, Any]:
    return {"source": source, "name": package, "dependency": package, "title": f"bad {package}",
            "url": f"https://github.com/advisories/{ghsa}", "severity": severity, "range": "<2.0.0"}


def test_the_licence_is_mit_for_crewhouse_contributors() -> None:
    text = (supply_chain.ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 Crewhouse contributors" in text
    assert "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND" in text


def test_a_high_advisory_fails_the_audit() -> None:
    found = advisories(report(("lodash", "high", [advisory("lodash", "high")])))
    assert found == [Advisory(GHSA, "lodash", "high", "bad lodash")]
    assert verdict(found, [], TODAY) == [f"high advisory {GHSA} in lodash: bad lodash"]


def test_critical_fails_while_moderate_and_low_pass() -> None:
    found = advisories(report(("a", "critical", [advisory("a", "critical", "GHSA-aaaa-aaaa-aaaa")]),
                              ("b", "moderate", [advisory("b", "moderate", "GHSA-bbbb-bbbb-bbbb")]),
                              ("c", "low", [advisory("c", "low", "GHSA-cccc-cccc-cccc")])))
    assert [p.split(" in ")[0] for p in verdict(found, [], TODAY)] == ["critical advisory GHSA-aaaa-aaaa-aaaa"]


def test_a_package_vulnerable_through_another_counts_that_ones_advisory_once() -> None:
    found = advisories(report(("parent", "high", ["child"]), ("child", "high", [advisory("child", "high")])))
    assert found == [Advisory(GHSA, "child", "high", "bad child")]


def test_an_advisory_without_a_github_id_is_named_by_npms_id() -> None:
    via = {**advisory("x", "high"), "url": "https://npmjs.com/advisories/1234", "source": 1234}
    assert [a.id for a in advisories(report(("x", "high", [via])))] == ["1234"]


def test_a_current_allowance_lets_the_advisory_through() -> None:
    found = advisories(report(("lodash", "high", [advisory("lodash", "high")])))
    allowed = [Allowance(GHSA, "not reachable from the console's code", TODAY)]  # still valid on its last day
    assert verdict(found, allowed, TODAY) == []


def test_an_expired_allowance_fails_even_without_the_advisory() -> None:
    found = advisories(report(("lodash", "high", [advisory("lodash", "high")])))
    expired = [Allowance(GHSA, "waiting for a fix", TODAY - dt.timedelta(days=1))]
    problems = verdict(found, expired, TODAY)
    assert problems == [f"allow-list entry {GHSA} expired on 2026-12-03 (waiting for a fix)",
                        f"high advisory {GHSA} in lodash: bad lodash"]
    assert verdict([], expired, TODAY) == problems[:1]


@pytest.mark.parametrize("entry, problem", [
    ({"id": GHSA, "reason": "", "expires": "2027-01-01"}, "needs both an advisory id and a reason"),
    ({"id": "", "reason": "why", "expires": "2027-01-01"}, "needs both an advisory id and a reason"),
    ({"id": GHSA, "reason": "why"}, "expires is not a YYYY-MM-DD date"),
    ({"id": GHSA, "reason": "why", "expires": "next year"}, "expires is not a YYYY-MM-DD date"),
])
def test_an_allowance_needs_an_id_a_reason_and_a_date(entry: dict[str, str], problem: str) -> None:
    allowances, problems = parse_allowlist({"advisories": [entry]})
    assert allowances == []
    assert len(problems) == 1 and problem in problems[0]


def test_an_unreachable_audit_endpoint_is_an_error_not_a_pass() -> None:
    refused = {"message": "405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk",
               "statusCode": 405}
    with pytest.raises(AuditUnavailable, match="405"):
        advisories(refused)


def test_the_repositorys_allow_list_is_valid_and_current() -> None:
    allowances, problems = parse_allowlist(json.loads(supply_chain.ALLOWLIST.read_text()))
    assert problems == []
    assert [a for a in allowances if a.expires < dt.date.today()] == [], "expired allow-list entries"


def test_the_audit_covers_every_npm_lock(tmp_path: Path) -> None:
    locks = sorted(p for p in supply_chain.ROOT.glob("*/package-lock.json") if "node_modules" not in p.parts)
    assert set(supply_chain.npm_lock_files()) == {supply_chain.ROOT / "package-lock.json", *locks}
    assert supply_chain.npm_lock_files([tmp_path / "package-lock.json"]) == []
