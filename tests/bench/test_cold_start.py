"""Cold-start benchmark: every deployed handler module imports within 1.15x a bare FastAPI+Mangum app.

The handlers come from the synthesized template (every ``AWS::Lambda::Function``'s ``Handler``), never from
a hand-written list, so a new context's functions are measured as soon as the CDK app deploys them. Handlers
that share a module (two workers in one file) share one measurement: the import is the cold-start cost.

Each module is imported in a fresh interpreter (``python -c``), timed around the ``import`` statement only,
so interpreter start-up is excluded. Handler modules and the baseline (``bare_fastapi_mangum.py``) share
one environment and run interleaved, in a rotating order, ``CREWHOUSE_BENCH_RUNS`` rounds (default 7). The
asserted ratio is the median over rounds of (module / baseline of the same round), which cancels drift
better than a ratio of medians (also printed). ``import + first invocation`` of the platform API handler is
printed for context only.

The table is printed even without ``-s``. Numbers are only meaningful on a quiet machine: run the benchmark
alone (not under ``-n``, not next to other heavy jobs):

    .venv/bin/pytest tests/bench -q
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
EVENTS = ROOT / "events"

BASELINE = "bare_fastapi_mangum"  # a module, like a handler's; its Lambda handler is ``handler``
BUDGET = 1.15
RUNS = max(3, int(os.environ.get("CREWHOUSE_BENCH_RUNS", "7")))
FIRST_INVOCATION_RUNS = 3
# Printed for context, not asserted: the HTTP API handler answering GET /health.
FIRST_INVOCATION = ("crewhouse.platform.api.handler", EVENTS / "platform-health.json")
TIMEOUT = 120

SYNTH_SNIPPET = ("from crewhouse.local.synth import STACK_NAME, synthesize; "
                 "print(synthesize() / f'{STACK_NAME}.template.json')")

IMPORT_SNIPPET = """\
import time
t = time.perf_counter()
import {module} as m
elapsed = time.perf_counter() - t
missing = [attr for attr in {attrs!r} if not callable(getattr(m, attr, None))]
print("BENCH", elapsed, ",".join(missing) or "-")
"""

FIRST_INVOCATION_SNIPPET = """\
import json, sys, time
event = json.loads(open(sys.argv[1]).read())

class Context:
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "2026/01/01/[$LATEST]bench"
    def get_remaining_time_in_millis(self): return 30000

t = time.perf_counter()
import {module} as m
imported = time.perf_counter() - t
result = m.{attr}(event, Context())
total = time.perf_counter() - t
print("BENCH", imported, total, result.get("statusCode"))
"""


# --- discovery --------------------------------------------------------------------------------------------


def synthesized_template() -> dict[str, Any]:
    """The template of the current sources, synthesized (or taken from the cache) in a child process.

    A child process keeps jsii's Node process and the CDK app's module-level state out of pytest's, so a
    re-synth after the sources changed cannot collide with an app built earlier in this process.
    """
    proc = subprocess.run([sys.executable, "-c", SYNTH_SNIPPET], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"synth failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return dict(json.loads(Path(proc.stdout.strip().splitlines()[-1]).read_text()))


def template_handlers() -> list[str]:
    """Every distinct ``Handler`` of the synthesized template's Lambda functions."""
    handlers = {
        resource["Properties"]["Handler"]
        for resource in synthesized_template()["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function" and "Handler" in resource.get("Properties", {})
    }
    return sorted(handlers)


def split_handler(handler: str) -> tuple[str, str]:
    module, _, attr = handler.rpartition(".")
    return module, attr


def by_module(handlers: Sequence[str]) -> dict[str, list[str]]:
    """Handler module -> its handler attributes."""
    modules: dict[str, list[str]] = {}
    for handler in handlers:
        module, attr = split_handler(handler)
        modules.setdefault(module, []).append(attr)
    return modules


# --- measurement ------------------------------------------------------------------------------------------


def bench_environment() -> dict[str, str]:
    """One environment for baseline and handlers: no inherited Python, AWS or Powertools knobs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "POWERTOOLS_", "MOTO_"))}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    env["PYTHONPATH"] = str(BENCH_DIR)  # the baseline imports as a top-level module, like a handler would
    return env


def run_snippet(code: str, *args: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; the fields of its ``BENCH`` line."""
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=bench_environment(),
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        raise AssertionError(f"benchmark subprocess failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return lines[-1].split()[1:]


def time_import(module: str, attrs: Sequence[str]) -> float:
    """Seconds to import ``module`` in a fresh interpreter; asserts each of ``attrs`` is a callable of it."""
    seconds, missing = run_snippet(IMPORT_SNIPPET.format(module=module, attrs=list(attrs)))
    assert missing == "-", f"{module} has no callable {missing}, yet the template names it as a handler"
    return float(seconds)


def rotations(items: Sequence[str], rounds: int) -> Iterator[str]:
    """Every item once per round, the order rotated each round (drift and ordering effects cancel)."""
    for r in range(rounds):
        shift = r % len(items)
        yield from [*items[shift:], *items[:shift]]


@dataclass(frozen=True)
class Row:
    module: str
    attrs: list[str]
    median_ms: float
    min_ms: float
    ratio: float  # median over rounds of module / baseline of the same round: what is asserted
    ratio_of_medians: float

    @property
    def ok(self) -> bool:
        return self.ratio <= BUDGET


def table(baseline: Row, rows: list[Row]) -> str:
    width = max(len(r.module) for r in [baseline, *rows])
    python = sys.version.split()[0]
    lines = [f"cold start: import time in a fresh interpreter, {RUNS} interleaved rounds, Python {python}",
             f"{'module':<{width}}  {'median ms':>9}  {'min ms':>7}  {'ratio':>6}  {'med/med':>7}  "
             f"{'budget':>6}  result  handlers"]
    for row in [baseline, *rows]:
        result = "base" if row is baseline else "PASS" if row.ok else "FAIL"
        budget = "" if row is baseline else f"{BUDGET:.2f}"
        lines.append(f"{row.module:<{width}}  {row.median_ms:>9.1f}  {row.min_ms:>7.1f}  {row.ratio:>6.2f}  "
                     f"{row.ratio_of_medians:>7.2f}  {budget:>6}  {result:<6}  {', '.join(row.attrs)}")
    lines.append("ratio = median over rounds of (module / baseline of the same round); med/med = median ms ratio")
    return "\n".join(lines)


def import_offenders(module: str, top: int = 12) -> str:
    """``-X importtime``: the modules ``module`` imports beyond the baseline, by self time (for a FAIL)."""

    def self_times(name: str) -> dict[str, int]:
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {name}"], cwd=ROOT,
                              env=bench_environment(), capture_output=True, text=True, timeout=TIMEOUT, check=False)
        times: dict[str, int] = {}
        for line in proc.stderr.splitlines():
            if line.startswith("import time:") and "self [us]" not in line:
                self_us, _cumulative, imported = line.removeprefix("import time:").split("|")
                times[imported.strip()] = int(self_us)
        return times

    base = self_times(BASELINE)
    extra = {name: us for name, us in self_times(module).items() if name not in base}
    ranked = sorted(extra.items(), key=lambda item: -item[1])[:top]
    listing = "\n".join(f"    {us / 1000:7.1f} ms  {name}" for name, us in ranked)
    return (f"  {module}: {len(extra)} modules beyond the baseline, {sum(extra.values()) / 1000:.1f} ms "
            f"self time; top:\n{listing}")


# --- the benchmark ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def handlers() -> list[str]:
    found = template_handlers()
    assert found, "the synthesized template has no Lambda function with a Handler"
    return found


def test_handler_modules_import_within_budget_of_bare_fastapi(handlers: list[str],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    subjects = {BASELINE: ["handler"], **by_module(handlers)}
    for module, attrs in subjects.items():  # warm-up, untimed: byte-code caches written, files in page cache
        time_import(module, attrs)
    samples: dict[str, list[float]] = {module: [] for module in subjects}
    for module in rotations(list(subjects), RUNS):
        samples[module].append(time_import(module, subjects[module]))

    def row(module: str) -> Row:
        ms = [s * 1000 for s in samples[module]]
        paired = statistics.median(t / b for t, b in zip(samples[module], samples[BASELINE], strict=True))
        return Row(module, subjects[module], statistics.median(ms), min(ms), paired,
                   statistics.median(ms) / (statistics.median(samples[BASELINE]) * 1000))

    baseline = row(BASELINE)
    rows = [row(module) for module in subjects if module != BASELINE]
    report = table(baseline, rows)
    with capsys.disabled():
        print("\n" + report)

    failing = [r for r in rows if not r.ok]
    if failing:
        offenders = "\n".join(import_offenders(r.module) for r in failing)
        with capsys.disabled():
            print(offenders)
        pytest.fail(f"{len(failing)} handler module(s) over the {BUDGET}x cold-start budget:\n{report}\n"
                    f"python -X importtime, modules not imported by the baseline:\n{offenders}")


def test_import_and_first_invocation_for_context(handlers: list[str], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Printed, not asserted: import + first GET /health of the platform handler vs the bare app's GET /."""
    handler, event_file = FIRST_INVOCATION
    if handler not in handlers:
        pytest.skip(f"{handler} is not deployed")
    bare_event: dict[str, Any] = json.loads(event_file.read_text())
    bare_event["rawPath"] = bare_event["requestContext"]["http"]["path"] = "/"
    bare_event["routeKey"] = bare_event["requestContext"]["routeKey"] = "GET /"
    bare_file = tmp_path / "bare-root.json"
    bare_file.write_text(json.dumps(bare_event))

    subjects = {f"{BASELINE}.handler": bare_file, handler: event_file}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in subjects}
    for name in rotations(list(subjects), FIRST_INVOCATION_RUNS):
        module, attr = split_handler(name)
        imported, total, status = run_snippet(FIRST_INVOCATION_SNIPPET.format(module=module, attr=attr),
                                              str(subjects[name]))
        assert status == "200", f"{name} answered {status}"
        results[name].append((float(imported), float(total)))

    lines = [f"import + first invocation, median of {FIRST_INVOCATION_RUNS} (context only, not asserted):"]
    base_total = statistics.median(t for _, t in results[f"{BASELINE}.handler"]) * 1000
    for name, path in (("bare_fastapi_mangum", "GET /"), (split_handler(handler)[0], "GET /health")):
        key = f"{BASELINE}.handler" if name == "bare_fastapi_mangum" else handler
        import_ms = statistics.median(i for i, _ in results[key]) * 1000
        total_ms = statistics.median(t for _, t in results[key]) * 1000
        lines.append(f"  {name:<24} {path:<12} import {import_ms:7.1f} ms  first response "
                     f"{total_ms - import_ms:6.1f} ms  total {total_ms:7.1f} ms  ({total_ms / base_total:.2f}x)")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
