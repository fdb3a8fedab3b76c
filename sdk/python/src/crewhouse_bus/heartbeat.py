"""The heartbeat loop: keeps an agent ``online`` from a daemon thread while its process does its work."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("crewhouse_bus")


class HeartbeatLoop:
    """Beats at once, then every ``interval`` seconds until :meth:`stop`. A failed beat is logged and the loop
    goes on: a bus that is briefly down must not kill the agent (it shows ``offline`` after two intervals)."""

    def __init__(self, beat: Callable[[], Any], interval: float) -> None:
        if interval <= 0:
            raise ValueError("the heartbeat interval must be positive")
        self._beat = beat
        self.interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crewhouse-bus-heartbeat", daemon=True)
        self.beats = 0
        self.failures = 0
        self.last_error: Exception | None = None

    def start(self) -> HeartbeatLoop:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stopped.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> HeartbeatLoop:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._beat()
                self.beats += 1
            except Exception as error:
                self.failures += 1
                self.last_error = error
                log.warning("heartbeat failed: %s", error)
            if self._stopped.wait(self.interval):
                return
