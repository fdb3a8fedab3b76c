"""``npm audit`` over every npm lock file of the repository: a high or critical advisory fails unless
``security/audit-allowlist.json`` has an entry for it with a reason and an expiry date that has not passed (an
expired entry fails too, so an exception is looked at again).

``python -m tests.infra.supply_chain`` asks the registry's audit endpoint (it needs the network; an unreachable
endpoint fails rather than passes); the tests in ``test_supply_chain.py`` check the verdict logic offline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ALLOWLIST = ROOT / "security" / "audit-allowlist.json"
NPM_LOCKS = (ROOT / "package-lock.json", ROOT / "console" / "package-lock.json")
BLOCKING = frozenset({"high", "critical"})


class AuditUnavailable(RuntimeError):
    """npm could not produce an audit report (no network, or the registry refused the request)."""


@dataclass(frozen=True)
class Advisory:
    id: str  # the GitHub advisory id (GHSA-…) when npm names one, else npm's numeric source id
    package: str
    severity: str
    title: str


@dataclass(frozen=True)
class Allowance:
    id: str
    reason: str
    expires: dt.date


def npm_lock_files(locks: Iterable[Path] = NPM_LOCKS) -> list[Path]:
    return [lock for lock in locks if lock.is_file()]


def advisories(report: dict[str, Any]) -> list[Advisory]:
    """The advisories of an ``npm audit --json`` report (format 2); a ``via`` that is a package name points at
    another entry of the report, which lists its own advisories."""
    if "vulnerabilities" not in report:
        raise AuditUnavailable(str(report.get("message") or report.get("error") or report)[:300])
    found: dict[tuple[str, str], Advisory] = {}
    for package, entry in report["vulnerabilities"].items():
        for via in entry.get("via", []):
            if not isinstance(via, dict):
                continue
            url = str(via.get("url", ""))
            advisory_id = url.rsplit("/", 1)[-1] if "/advisories/GHSA-" in url else str(via.get("source"))
            found[(advisory_id, package)] = Advisory(advisory_id, str(via.get("name", package)),
                                                     str(via.get("severity", entry.get("severity", ""))),
                                                     str(via.get("title", "")))
    return sorted(found.values(), key=lambda a: (a.id, a.package))


def parse_allowlist(document: dict[str, Any]) -> tuple[list[Allowance], list[str]]:
    """The allow-list's entries, and what is wrong with any of them (each needs an id, a reason and a date)."""
    allowances: list[Allowance] = []
    problems: list[str] = []
    for number, entry in enumerate(document.get("advisories", []), start=1):
        advisory_id, reason = str(entry.get("id") or "").strip(), str(entry.get("reason") or "").strip()
        try:
            expires = dt.date.fromisoformat(str(entry.get("expires")))
        except ValueError:
            problems.append(f"allow-list entry {number} ({advisory_id or 'no id'}): expires is not a YYYY-MM-DD date")
            continue
        if not advisory_id or not reason:
            problems.append(f"allow-list entry {number}: needs both an advisory id and a reason")
            continue
        allowances.append(Allowance(advisory_id, reason, expires))
    return allowances, problems


def verdict(found: Iterable[Advisory], allowances: Iterable[Allowance], today: dt.date) -> list[str]:
    """Problems: each blocking advisory without a current allowance, and each allowance past its date."""
    allowances = list(allowances)
    current = {a.id for a in allowances if a.expires >= today}
    problems = [f"allow-list entry {a.id} expired on {a.expires.isoformat()} ({a.reason})"
                for a in allowances if a.expires < today]
    problems += [f"{a.severity} advisory {a.id} in {a.package}: {a.title}" for a in found
                 if a.severity in BLOCKING and a.id not in current]
    return problems


def npm_audit(lock: Path) -> dict[str, Any]:
    """``npm audit`` of one lock file (the lock only: no node_modules needed). Its exit status says only whether
    something was found, so the report decides."""
    proc = subprocess.run(["npm", "audit", "--json", "--package-lock-only", "--audit-level=high"], cwd=lock.parent,
                          capture_output=True, text=True, timeout=120, check=False)
    try:
        return dict(json.loads(proc.stdout))
    except json.JSONDecodeError as exc:
        raise AuditUnavailable(f"npm audit wrote no JSON (exit {proc.returncode}): {proc.stderr[-300:]}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--allowlist", type=Path, default=ALLOWLIST)
    args = parser.parse_args(argv)
    allowances, problems = parse_allowlist(json.loads(args.allowlist.read_text()))
    found: list[Advisory] = []
    for lock in npm_lock_files():
        try:
            found += advisories(npm_audit(lock))
        except AuditUnavailable as exc:
            problems.append(f"{lock.relative_to(ROOT)}: npm audit unavailable: {exc}")
    problems += verdict(found, allowances, dt.date.today())
    print(f"npm audit: {len(npm_lock_files())} lock files, {len(found)} advisories, "
          f"{sum(a.severity in BLOCKING for a in found)} high or critical")
    for problem in problems:
        print(f"  PROBLEM {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
