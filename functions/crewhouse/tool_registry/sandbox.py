"""The code tools' sandbox: user Python runs in a child process with no environment, capped resources and, where
the machine allows, no network.

In AWS this module is the handler of its own Lambda (``crewhouse.tool_registry.sandbox.handler``): 256 MB,
10 s, a role that may only write its logs, in a VPC with isolated subnets and no endpoints, so nothing it runs can
reach any network or any AWS API (cdk/crewhouse_cdk/constructs/tool_registry.py). The registry invokes it with
``lambda:InvokeFunction``. Locally (and wherever ``SANDBOX_FUNCTION`` is unset) the registry calls
:func:`run_code` in its own process; either way :func:`run_code` starts the child the same way:

* **environment:** empty (``env={}``; Python may add ``LC_CTYPE`` when it coerces the C locale): no credentials,
  no ``AWS_*``, nothing of the caller's; the interpreter runs isolated (``-I -S``: no ``PYTHON*`` variables, no
  site-packages, so only the standard library can be imported);
* **resources:** ``RLIMIT_CPU`` (CPU seconds, the kernel kills with SIGXCPU/SIGKILL), ``RLIMIT_AS`` (address
  space = the tool's memory), ``RLIMIT_FSIZE`` (files it writes, 8 MiB), no core files; a wall-clock timeout
  kills its whole process group (a sleeping or blocked child uses no CPU);
* **network:** with ``unshare -rn --pid --fork --mount-proc`` (util-linux; unprivileged user namespaces) the child
  gets a network namespace of its own with only a down loopback: it cannot connect anywhere, the caller's
  loopback included, and a PID namespace with its own ``/proc``, so it cannot see the caller's processes (nor read
  ``/proc/<parent>/environ``). :func:`isolation` probes once which of these works here (falling back to
  ``unshare -rn``, then to ``os.unshare`` on Python 3.12+, then to nothing) and every result reports what applied.
  In the Lambda sandbox user namespaces are usually not allowed: there the VPC without routes is the network
  barrier, and the parent's environment (credentials of a role allowed only to write logs) is readable through
  ``/proc`` by the child.
* **not isolated locally:** the file system (the child runs as the same user in a fresh temporary working
  directory and may read what that user may read, e.g. the code checkout), CPU time of other processes, and,
  without namespaces, the network and ``/proc``.

The result is JSON: ``{"ok": true, "output": …}`` or ``{"ok": false, "error", "detail"}``, plus ``isolation``,
``duration_ms`` and the first 4 KiB of what the code printed (``logs``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from functools import cache
from typing import Any

MIB = 1024 * 1024
FILE_LIMIT_BYTES = 8 * MIB
MAX_OUTPUT_BYTES = 1 * MIB
LOG_BYTES = 4096
RESULT_MARK = "\x1e__crewhouse_result__"
DEFAULT_TIMEOUT, DEFAULT_MEMORY_MB = 5.0, 256

# Runs in the child: reads the request from stdin, prints the result on the last line (the code's own prints go
# to a buffer and come back as logs).
CHILD = r"""
import io, json, sys
request = json.loads(sys.stdin.read())
logs = io.StringIO()
real = sys.stdout
sys.stdout = sys.stderr = logs
try:
    namespace = {"__name__": "crewhouse_tool"}
    exec(compile(request["source"], "<tool>", "exec"), namespace)
    entry = namespace.get(request["entry"])
    if not callable(entry):
        raise NameError("the source defines no function " + repr(request["entry"]))
    output = entry(request["input"])
    try:
        result = {"ok": True, "output": json.loads(json.dumps(output, allow_nan=False))}
    except (TypeError, ValueError) as exc:
        result = {"ok": False, "error": "output-not-json", "detail": "the output is not JSON: " + str(exc)}
except BaseException as exc:
    result = {"ok": False, "error": "code-raised", "detail": type(exc).__name__ + ": " + str(exc)[:2000]}
result["logs"] = logs.getvalue()[-LOG_BYTES:]
real.write(MARK + json.dumps(result) + "\n")
real.flush()
""".replace("LOG_BYTES", str(LOG_BYTES)).replace("MARK", repr(RESULT_MARK))


def _works(command: list[str], preexec: Any = None) -> bool:
    try:
        done = subprocess.run([*command, sys.executable, "-I", "-S", "-c", "pass"], env={}, capture_output=True,
                              timeout=10, check=False, preexec_fn=preexec)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _unshare_in_child() -> None:
    os.unshare(os.CLONE_NEWUSER | os.CLONE_NEWNET)  # type: ignore[attr-defined,unused-ignore]


@cache
def isolation() -> tuple[str, tuple[str, ...]]:
    """``(mode, command prefix)``: ``netns+pidns`` / ``netns`` (the unshare tool), ``netns-os`` (os.unshare in
    the child), or ``none``."""
    unshare = shutil.which("unshare") or next((p for p in ("/usr/bin/unshare", "/bin/unshare") if os.path.exists(p)),
                                              None)
    if unshare:
        for mode, prefix in (("netns+pidns", [unshare, "-rn", "--pid", "--fork", "--mount-proc"]),
                             ("netns", [unshare, "-rn"])):
            if _works(prefix):
                return mode, tuple(prefix)
    if hasattr(os, "unshare") and _works([], _unshare_in_child):
        return "netns-os", ()
    return "none", ()


def _limits(cpu_seconds: int, memory_bytes: int, mode: str) -> Any:
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT_BYTES, FILE_LIMIT_BYTES))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if mode == "netns-os":
            _unshare_in_child()

    return apply


def run_code(source: str, entry: str, arguments: Any, *, timeout_seconds: float = DEFAULT_TIMEOUT,
             memory_mb: int = DEFAULT_MEMORY_MB) -> dict[str, Any]:
    """Run ``entry(arguments)`` of ``source`` in a sandboxed child process; never raises for the code's faults."""
    mode, prefix = isolation()
    request = json.dumps({"source": source, "entry": entry, "input": arguments})
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crewhouse-tool-") as workdir:
        try:
            process = subprocess.Popen(
                [*prefix, sys.executable, "-I", "-S", "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env={}, cwd=workdir, start_new_session=True, close_fds=True,
                preexec_fn=_limits(max(1, math.ceil(timeout_seconds)), memory_mb * MIB, mode))
        except OSError as exc:
            return _result({"ok": False, "error": "sandbox-failed", "detail": f"the sandbox did not start: {exc}"},
                           mode, started)
        try:
            out, err = process.communicate(request.encode(), timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            _kill(process)
            return _result({"ok": False, "error": "timeout",
                            "detail": f"the code was stopped after {timeout_seconds:g} s"}, mode, started)
    return _result(_parse(out, err, process.returncode), mode, started)


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def _parse(out: bytes, err: bytes, returncode: int) -> dict[str, Any]:
    text = out[-(MAX_OUTPUT_BYTES + LOG_BYTES * 2):].decode("utf-8", "replace")
    position = text.rfind(RESULT_MARK)
    if position >= 0:
        try:
            parsed: dict[str, Any] = json.loads(text[position + len(RESULT_MARK):])
            return parsed
        except ValueError:
            pass
    if returncode < 0:
        name = signal.Signals(-returncode).name
        why = "its CPU time ran out" if name in ("SIGXCPU", "SIGKILL") else f"it got {name}"
        return {"ok": False, "error": "killed", "detail": f"the code was stopped: {why}"}
    tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    if "MemoryError" in tail[0]:
        return {"ok": False, "error": "memory", "detail": "the code ran out of memory"}
    return {"ok": False, "error": "code-failed", "detail": f"the code exited ({returncode}) without a result: "
            f"{tail[0][:500]}"}


def _result(result: dict[str, Any], mode: str, started: float) -> dict[str, Any]:
    return {**result, "isolation": mode, "duration_ms": int((time.monotonic() - started) * 1000)}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The sandbox Lambda: ``{"source", "entry", "input", "timeout_seconds", "memory_mb"}`` -> the result."""
    return run_code(str(event.get("source") or ""), str(event.get("entry") or "run"), event.get("input"),
                    timeout_seconds=min(float(event.get("timeout_seconds") or DEFAULT_TIMEOUT), 8.0),
                    memory_mb=min(int(event.get("memory_mb") or DEFAULT_MEMORY_MB), DEFAULT_MEMORY_MB))
