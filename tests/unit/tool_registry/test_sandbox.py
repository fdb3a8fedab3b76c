"""The code sandbox: the child sees none of the caller's environment, reaches no network (here: a network namespace;
the machine allows unprivileged user namespaces, which the first test asserts), and is killed at its limits."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from crewhouse.tool_registry.sandbox import isolation, run_code


@pytest.fixture
def listening() -> Iterator[int]:
    """A TCP server on the caller's loopback that the caller itself can reach."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    yield port
    server.close()
    for connection in accepted:
        connection.close()


def test_this_machine_gives_the_child_network_and_pid_namespaces() -> None:
    mode, prefix = isolation()
    assert mode == "netns+pidns" and "-rn" in prefix, mode


def test_the_code_cannot_read_the_callers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SECRET", "hunter2")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "parent-credentials")
    source = ("import os\n"
              "def run(input):\n"
              "    try:\n"
              "        parent = open('/proc/%d/environ' % os.getppid(), 'rb').read().decode('latin-1')\n"
              "    except OSError as exc:\n"
              "        parent = type(exc).__name__\n"
              "    return {'env': dict(os.environ), 'parent': parent}\n")
    result = run_code(source, "run", {})
    assert result["ok"], result
    assert set(result["output"]["env"]) <= {"LC_CTYPE"}, result["output"]["env"]  # Python's locale coercion
    assert "hunter2" not in str(result) and "parent-credentials" not in str(result)
    assert result["output"]["parent"] == "FileNotFoundError"  # its own /proc: the caller is not there


def test_the_code_cannot_reach_the_network_that_the_caller_reaches(listening: int) -> None:
    socket.create_connection(("127.0.0.1", listening), timeout=2).close()  # the caller can
    source = ("import socket\n"
              "def run(input):\n"
              "    outcomes = {}\n"
              "    for host in ('127.0.0.1', '1.1.1.1', '169.254.169.254'):\n"
              "        try:\n"
              "            socket.create_connection((host, input['port']), timeout=2).close()\n"
              "            outcomes[host] = 'connected'\n"
              "        except OSError as exc:\n"
              "            outcomes[host] = exc.strerror\n"
              "    return outcomes\n")
    result = run_code(source, "run", {"port": listening})
    assert result["ok"] and result["isolation"] == "netns+pidns", result
    assert "connected" not in result["output"].values(), result["output"]


def test_the_code_is_killed_at_its_wall_clock_limit() -> None:
    started = time.monotonic()
    result = run_code("import time\ndef run(input):\n    time.sleep(60)\n", "run", {}, timeout_seconds=1)
    assert result["error"] == "timeout" and not result["ok"]
    assert time.monotonic() - started < 5


def test_a_busy_loop_is_stopped_too() -> None:
    started = time.monotonic()
    result = run_code("def run(input):\n    while True:\n        pass\n", "run", {}, timeout_seconds=1.5)
    assert result["error"] == "timeout" and time.monotonic() - started < 6


def test_memory_is_capped() -> None:
    result = run_code("def run(input):\n    block = bytearray(400 * 1024 * 1024)\n    return {'n': len(block)}\n",
                      "run", {}, memory_mb=128)
    assert not result["ok"] and "MemoryError" in result["detail"], result


def test_prints_are_logs_and_output_must_be_json() -> None:
    ok = run_code("def run(input):\n    print('working')\n    return {'n': input['n'] * 2}\n", "run", {"n": 21})
    assert ok["ok"] and ok["output"] == {"n": 42} and ok["logs"] == "working\n"
    assert run_code("def run(input):\n    return {1, 2}\n", "run", {})["error"] == "output-not-json"
    raised = run_code("def run(input):\n    raise ValueError('boom')\n", "run", {})
    assert raised["error"] == "code-raised" and raised["detail"] == "ValueError: boom"
    assert run_code("def other(input):\n    return {}\n", "run", {})["error"] == "code-raised"
