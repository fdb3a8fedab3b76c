"""Cold-start benchmark: every deployed handler module imports within 1.15x a bare FastAPI+Mangum app.

The handlers come from the synthesized template (every ``AWS::Lambda::Function``'s ``Handler``), never from
a hand-written list, so a new context's functions are measured as soon as the CDK app deploys them. Handlers
that share a module (two workers in one file) share one measurement: the import is the cold-start cost.

Each module is imported in a fresh interpreter (``python -c``), timed around the ``import`` statement only,
so interpreter start-up is excluded. Handler modules and the baseline (``bare_fastapi_mangum.py``) share
one environment and run interleaved, in a rotating order: 7 to 9 rounds; ``CREWHOUSE_BENCH_RUNS=<n>`` fixes
the count. Two ratios are printed per module: the median over rounds of (module / baseline of the same
round), and best of rounds over best of rounds (the least disturbed import of each: noise only ever adds).
``import + first invocation`` of the platform API handler is printed for context only.

Two clocks are read around each import: wall time (``perf_counter``) and the process's CPU time
(``process_time``). On an idle machine they agree within a few percent; on a busy one wall time swings by 2x
while CPU time stays closer (a busy sibling hyperthread still slows it). ``CREWHOUSE_BENCH_CLOCK=wall`` uses
wall time instead of CPU time (use it on a dedicated, quiet machine).

What is asserted, and why two levels:
- the **target** (1.15x, the issues' budget) is printed per module as PASS or OVER, from the best-of-rounds
  ratio. Handlers sit at 1.05-1.14x on an idle machine, within the ~10 % that a loaded CI machine moves a
  ratio, so a red suite on the target would report the machine, not the code;
- the **ceiling** (1.5x) fails the test: a real regression (a heavy package imported at module level, such as
  the X-Ray SDK, boto3's resource layer or Pillow, costs 0.3x and more) fails on any machine;
- two exact guards, independent of timing: ``test_handler_modules_import_no_heavy_package`` lists what no
  handler may import at module level, and ``test_handler_modules_import_few_modules_beyond_the_baseline``
  counts the modules each import loads beyond its baseline's (``sys.modules``, the same on every machine).

The table is printed even without ``-s``. Run the benchmark alone (not under ``-n``):

    .venv/bin/pytest tests/bench/test_cold_start.py -q

The timing test carries the ``timing`` marker: ``make test`` deselects it and runs the exact guards beside the
other tiers, because a CI machine busy with them moved a handler's best-of-3 ratio from 1.2x to 1.5x with no
code change (measured); ``make bench`` runs it at full size, alone.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.bench.size import by_size
from tests.support.synth import app_functions

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
EVENTS = ROOT / "events"

BASELINE = "bare_fastapi_mangum"  # a module, like a handler's; its Lambda handler is ``handler``
# Handlers that serve MCP are held to a bare MCP server instead (the SDK's own import is most of the cost).
MCP_BASELINE = "bare_mcp_mangum"
MCP_HANDLERS = ("crewhouse.mcp.",)
TARGET = 1.15  # the issues' budget: printed per module (PASS / OVER)
CEILING = 1.5  # asserted: a regression, not machine noise (see the module docstring)
# Packages no handler may import at module level (each costs tens of ms or more; they load on first use).
HEAVY_AT_IMPORT = ("aws_xray_sdk", "boto3.resources", "moto", "aws_cdk", "jsii", "PIL", "trafilatura",
                   "dateparser", "pytesseract", "pypdfium2", "markdown_it", "nh3", "httpx", "jsonschema", "lxml",
                   "crewhouse.local", "crewhouse.llm.bedrock", "crewhouse.llm.openai_compatible")
MCP_ALLOWED = ("httpx",)  # the MCP SDK's own transport; bare_mcp_mangum imports it too
# Modules a handler's import may load beyond its baseline's: handlers load 70-81 today (their context, core,
# Powertools' logger and router). A growing import graph shows here (the X-Ray SDK alone adds 64); heavy
# packages with few modules (Pillow 10, lxml 8) are named in HEAVY_AT_IMPORT instead.
MODULES_BEYOND_BASELINE = 110
# At least 7 rounds: fewer let machine noise move a median by ~0.07. A small run (by hand) takes 3.
MAX_RUNS, MIN_RUNS = by_size((3, 3), (9, 7))
FIXED_RUNS = os.environ.get("CREWHOUSE_BENCH_RUNS")
MEASURE_SECONDS = 40.0  # the rounds' share of the benchmark's time on a 2-core machine
CLOCK = os.environ.get("CREWHOUSE_BENCH_CLOCK", "cpu")  # which clock the verdicts use: cpu or wall
FIRST_INVOCATION_RUNS = by_size(1, 3)
# Printed for context, not asserted: the HTTP API handler answering GET /health.
FIRST_INVOCATION = ("crewhouse.platform.api.handler", EVENTS / "platform-health.json")
TIMEOUT = 120

IMPORT_SNIPPET = """\
import sys, time
before = len(sys.modules)
t, c = time.perf_counter(), time.process_time()
import {module} as m
wall, cpu = time.perf_counter() - t, time.process_time() - c
loaded = len(sys.modules) - before
missing = [attr for attr in {attrs!r} if not callable(getattr(m, attr, None))]
heavy = [w for w in {watched!r} if any(n == w or n.startswith(w + ".") for n in sys.modules)]
print("BENCH", wall, cpu, loaded, ",".join(missing) or "-", ",".join(heavy) or "-")
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




def template_handlers() -> list[str]:
    """Every distinct ``Handler`` of the synthesized template's Lambda functions."""
    return sorted({properties["Handler"] for properties in app_functions().values()})


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


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float
    modules: int  # modules the import loaded (exact)
    heavy: tuple[str, ...] = ()  # the HEAVY_AT_IMPORT packages the import loaded


def watched_packages(module: str) -> list[str]:
    """The ``HEAVY_AT_IMPORT`` packages ``module`` must not load at import."""
    allowed = MCP_ALLOWED if module.startswith(MCP_HANDLERS) else ()
    return [name for name in HEAVY_AT_IMPORT if name not in allowed]


def time_import(module: str, attrs: Sequence[str]) -> Sample:
    """Seconds to import ``module`` in a fresh interpreter; asserts each of ``attrs`` is a callable of it."""
    wall, cpu, loaded, missing, heavy = run_snippet(IMPORT_SNIPPET.format(module=module, attrs=list(attrs),
                                                                  watched=watched_packages(module)))
    assert missing == "-", f"{module} has no callable {missing}, yet the template names it as a handler"
    return Sample(float(wall), float(cpu), int(loaded), () if heavy == "-" else tuple(heavy.split(",")))


def rotations(items: Sequence[str], rounds: int) -> Iterator[str]:
    """Every item once per round, the order rotated each round (drift and ordering effects cancel)."""
    for r in range(rounds):
        shift = r % len(items)
        yield from [*items[shift:], *items[:shift]]


@dataclass(frozen=True)
class Row:
    module: str
    attrs: list[str]
    median_ms: float  # of the verdicts' clock
    best_ms: float
    paired_ratio: float  # median over rounds of module / baseline of the same round
    best_ratio: float  # best of rounds / the baseline's best of rounds: what the verdicts use

    @property
    def meets_target(self) -> bool:
        return self.best_ratio <= TARGET

    @property
    def within_ceiling(self) -> bool:
        return self.best_ratio <= CEILING

    @property
    def verdict(self) -> str:
        return "PASS" if self.meets_target else "OVER" if self.within_ceiling else "FAIL"


def make_row(module: str, attrs: list[str], samples: list[Sample], baseline: list[Sample]) -> Row:
    def clock(sample: Sample) -> float:
        return sample.wall if CLOCK == "wall" else sample.cpu

    mine, base = [clock(s) for s in samples], [clock(b) for b in baseline]
    paired = statistics.median(m / b for m, b in zip(mine, base, strict=True))
    return Row(module, attrs, statistics.median(mine) * 1000, min(mine) * 1000, paired, min(mine) / min(base))


def rounds_for(round_seconds: float) -> int:
    """How many rounds: ``CREWHOUSE_BENCH_RUNS`` if set, else as many as fit ``MEASURE_SECONDS`` (7..9)."""
    if FIXED_RUNS:
        return max(MIN_RUNS, int(FIXED_RUNS))
    return max(MIN_RUNS, min(MAX_RUNS, int(MEASURE_SECONDS / max(round_seconds, 1e-3))))


def table(rows: list[Row], bases: Sequence[Row], runs: int) -> str:
    width = max(len(r.module) for r in [*bases, *rows])
    python = sys.version.split()[0]
    lines = [f"cold start: import time in a fresh interpreter ({CLOCK} clock), {runs} interleaved rounds, "
             f"Python {python}; target {TARGET:.2f}x, ceiling {CEILING:.2f}x",
             f"{'module':<{width}}  {'median ms':>9}  {'best ms':>8}  {'paired x':>8}  {'best x':>6}  "
             f"result  handlers"]
    for row in [*bases, *rows]:
        result = "base" if row in bases else row.verdict
        lines.append(f"{row.module:<{width}}  {row.median_ms:>9.1f}  {row.best_ms:>8.1f}  {row.paired_ratio:>8.2f}  "
                     f"{row.best_ratio:>6.2f}  {result:<6}  {', '.join(row.attrs)}")
    lines.append("paired x = median over rounds of (module / baseline of the same round); best x = best of rounds / "
                 f"baseline's best (the verdict); modules serving MCP are measured against {MCP_BASELINE}")
    return "\n".join(lines)


def importtime_self_us(module: str) -> dict[str, int]:
    """``python -X importtime -c "import <module>"``: self time in microseconds of every module imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], cwd=ROOT,
                          env=bench_environment(), capture_output=True, text=True, timeout=TIMEOUT, check=False)
    times: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            self_us, _cumulative, imported = line.removeprefix("import time:").split("|")
            times[imported.strip()] = int(self_us)
    return times


def import_offenders(modules: Sequence[str], top: int = 12) -> str:
    """For each module: what it imports beyond the baseline, by ``-X importtime`` self time (for a FAIL)."""
    base = importtime_self_us(BASELINE)
    reports = []
    for module in modules:
        extra = {name: us for name, us in importtime_self_us(module).items() if name not in base}
        ranked = sorted(extra.items(), key=lambda item: -item[1])[:top]
        listing = "\n".join(f"    {us / 1000:7.1f} ms  {name}" for name, us in ranked)
        reports.append(f"  {module}: {len(extra)} modules beyond the baseline, {sum(extra.values()) / 1000:.1f} ms "
                       f"self time; top:\n{listing}")
    return "\n".join(reports)


# --- the benchmark ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def handlers() -> list[str]:
    found = template_handlers()
    assert found, "the synthesized template has no Lambda function with a Handler"
    return found


@pytest.fixture(scope="module")
def subjects(handlers: list[str]) -> dict[str, list[str]]:
    """Every module measured: the two baselines, then each handler module with its handler attributes."""
    return {BASELINE: ["handler"], MCP_BASELINE: ["handler"], **by_module(handlers)}


@dataclass(frozen=True)
class WarmUp:
    samples: dict[str, Sample]  # one import of each subject: not timed, but it tells what each loads
    seconds: float


@pytest.fixture(scope="module")
def warm_up(subjects: dict[str, list[str]]) -> WarmUp:
    """One import of each module before any is timed: byte-code caches written, files in the page cache."""
    started = time.perf_counter()
    samples = {module: time_import(module, attrs) for module, attrs in subjects.items()}
    return WarmUp(samples, time.perf_counter() - started)


def baseline_of(module: str) -> str:
    return MCP_BASELINE if module.startswith(MCP_HANDLERS) else BASELINE


@pytest.mark.timing
def test_handler_modules_import_within_budget_of_bare_fastapi(subjects: dict[str, list[str]], warm_up: WarmUp,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert CLOCK in ("cpu", "wall"), f"CREWHOUSE_BENCH_CLOCK must be cpu or wall, not {CLOCK!r}"
    runs = rounds_for(warm_up.seconds)
    samples: dict[str, list[Sample]] = {module: [] for module in subjects}
    for module in rotations(list(subjects), runs):
        samples[module].append(time_import(module, subjects[module]))

    bases = [make_row(base, subjects[base], samples[base], samples[base]) for base in (BASELINE, MCP_BASELINE)]
    rows = [make_row(module, attrs, samples[module], samples[baseline_of(module)])
            for module, attrs in subjects.items() if module not in (BASELINE, MCP_BASELINE)]
    report = table(rows, bases, runs)
    over = [r for r in rows if not r.meets_target]
    with capsys.disabled():
        print("\n" + report)
        print(f"{len(rows) - len(over)} of {len(rows)} handler modules meet the {TARGET:.2f}x target"
              + (f"; over it: {', '.join(f'{r.module} {r.best_ratio:.2f}x' for r in over)}" if over else ""))
    failing = [r for r in rows if not r.within_ceiling]
    if failing:
        offenders = import_offenders([r.module for r in failing])
        pytest.fail(f"{len(failing)} handler module(s) over the {CEILING}x cold-start ceiling ({CLOCK} time):\n"
                    f"{report}\n"
                    f"python -X importtime, modules not imported by the baseline:\n{offenders}")


def test_handler_modules_import_no_heavy_package(warm_up: WarmUp) -> None:
    """Exact, timing-free guard of the cold start: heavy packages load on first use, never at import."""
    loaded = {module: sample.heavy for module, sample in warm_up.samples.items()
              if sample.heavy and module not in (BASELINE, MCP_BASELINE)}
    assert not loaded, f"handler modules importing heavy packages at module level: {loaded}"


def test_handler_modules_import_few_modules_beyond_the_baseline(warm_up: WarmUp,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Exact, timing-free: what each import loads beyond its baseline, counted in ``sys.modules``."""
    beyond = {module: sample.modules - warm_up.samples[baseline_of(module)].modules
              for module, sample in warm_up.samples.items() if module not in (BASELINE, MCP_BASELINE)}
    with capsys.disabled():
        print(f"\nmodules loaded beyond the baseline (budget {MODULES_BEYOND_BASELINE}): " +
              ", ".join(f"{module} {count}" for module, count in sorted(beyond.items(), key=lambda kv: -kv[1])))
    over = {module: count for module, count in beyond.items() if count > MODULES_BEYOND_BASELINE}
    assert not over, (f"handler modules loading more than {MODULES_BEYOND_BASELINE} modules beyond the baseline "
                      f"at import: {over}\n{import_offenders(list(over))}")


def test_import_and_first_invocation_for_context(handlers: list[str], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Printed, not asserted: import + first GET /health of the platform handler vs the bare app's GET /."""
    handler, event_file = FIRST_INVOCATION
    assert handler in handlers, f"{handler} is not deployed"
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

    lines = [f"import + first invocation, wall time, median of {FIRST_INVOCATION_RUNS} (context only, not asserted):"]
    base_total = statistics.median(t for _, t in results[f"{BASELINE}.handler"]) * 1000
    for name, path in (("bare_fastapi_mangum", "GET /"), (split_handler(handler)[0], "GET /health")):
        key = f"{BASELINE}.handler" if name == "bare_fastapi_mangum" else handler
        import_ms = statistics.median(i for i, _ in results[key]) * 1000
        total_ms = statistics.median(t for _, t in results[key]) * 1000
        lines.append(f"  {name:<24} {path:<12} import {import_ms:7.1f} ms  first response "
                     f"{total_ms - import_ms:6.1f} ms  total {total_ms:7.1f} ms  ({total_ms / base_total:.2f}x)")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
