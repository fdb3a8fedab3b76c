"""The meter's own rules, without a cloud."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from crewhouse.local import lambda_runtime
from tests.cost.meter import Meter


def test_an_invocation_begun_inside_a_reading_is_listed_even_when_it_ends_after_stop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A schedule that fires just before stop() makes its calls inside the reading; the reading must name the
    # function, or the cost test cannot tell the scheduled run from the operation it measures.
    release = threading.Event()

    def slow_handler(*_args: Any) -> tuple[Any, bool]:
        release.wait(10)
        return None, False

    monkeypatch.setattr(lambda_runtime, "invoke_in_process", slow_handler)
    meter = Meter("http://127.0.0.1:9")
    context = SimpleNamespace(function_name="Crewhouse-Sweep", memory_limit_in_mb="256")
    with meter.installed():
        meter.start()
        worker = threading.Thread(target=lambda_runtime.invoke_in_process, args=("h.handler", {}, {}, context))
        worker.start()
        while meter.in_flight == 0:
            time.sleep(0.001)
        threading.Timer(0.2, release.set).start()
        reading = meter.stop()
        worker.join(5)
    assert [i.function for i in reading.invocations] == ["Crewhouse-Sweep"]
    assert reading.running == 0


def test_an_invocation_begun_before_a_reading_is_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    monkeypatch.setattr(lambda_runtime, "invoke_in_process", lambda *_args: (release.wait(10), False))
    meter = Meter("http://127.0.0.1:9")
    context = SimpleNamespace(function_name="Crewhouse-Earlier", memory_limit_in_mb="256")
    with meter.installed():
        worker = threading.Thread(target=lambda_runtime.invoke_in_process, args=("h.handler", {}, {}, context))
        worker.start()
        while meter.in_flight == 0:
            time.sleep(0.001)
        meter.start()
        reading = meter.stop()  # returns at once: the invocation is not the reading's
        release.set()
        worker.join(5)
    assert reading.invocations == []
