"""What the local pollers (SQS and DynamoDB stream event sources, the scheduler) share: their thread, their
idle backoff, waking when moto takes in work, and the batches they have in flight.

A poll round costs several requests to the emulator, so a poller polls fast only while there is work and
backs off while there is none (Lambda's own pollers long-poll for the same reason). Moto tells the pollers
when work arrives (a message sent, a stream record written, a schedule made), so a new message is delivered
at once instead of at the next idle round: the backoff only paces retries and delayed messages.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

log = logging.getLogger(__name__)

IDLE_CEILING = 0.5  # seconds between rounds once nothing has arrived for a while


def next_wait(delivered: int, current: float, floor: float, ceiling: float = IDLE_CEILING) -> float:
    """The pause before the next round: back to ``floor`` after work, doubling up to ``ceiling`` when idle."""
    if delivered:
        return floor
    return min(max(current, floor) * 2, max(ceiling, floor))


class Wakeups:
    """The pollers to wake when the emulator takes in something for them (any number of pollers)."""

    def __init__(self) -> None:
        self._events: weakref.WeakSet[threading.Event] = weakref.WeakSet()
        self._lock = threading.Lock()

    def subscribe(self) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._events.add(event)
        return event

    def notify(self) -> None:
        with self._lock:
            events = list(self._events)
        for event in events:
            event.set()


class PollingThread:
    """Runs ``poll_round`` on a daemon thread: at once when woken, soon again while rounds deliver, backing
    off to ``ceiling`` while they do not."""

    def __init__(self, name: str, poll_round: Callable[[], int], *, interval: float,
                 ceiling: float = IDLE_CEILING, wakeups: Wakeups | None = None) -> None:
        self.name = name
        self.interval = interval
        self.ceiling = ceiling
        self.last_delivery = 0.0  # monotonic time of the last round that delivered anything
        self._poll_round = poll_round
        self._wake = wakeups.subscribe() if wakeups else threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (no-op when already running)."""
        if self.alive:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Run a round now (e.g. a batch finished: its mapping may have more waiting)."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread after the round in progress."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%s did not stop within %ss", self.name, timeout)
            self._thread = None

    def _run(self) -> None:
        pause = self.interval
        while not self._stopping.is_set():
            self._wake.clear()  # before the round: what arrives during it wakes the next one
            delivered = 0
            try:
                delivered = self._poll_round()
            except Exception:  # the thread must outlive any single bad round
                log.exception("%s: poll round failed", self.name)
            if delivered:
                self.last_delivery = time.monotonic()
            pause = next_wait(delivered, pause, self.interval, self.ceiling)
            self._wake.wait(pause)


class InflightBatches:
    """At most one batch in flight per key (a mapping), on a bounded thread pool."""

    def __init__(self, max_concurrency: int, thread_name_prefix: str, label: str,
                 on_done: Callable[[], None] | None = None) -> None:
        self.max_concurrency = max_concurrency
        self._on_done = on_done
        self._prefix = thread_name_prefix
        self._label = label
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[int]] = {}
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, key: str, work: Callable[..., int], *args: Any) -> None:
        """Start ``work`` for ``key`` unless a batch of that key is still running."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix=self._prefix)
            if key not in self._inflight:
                future = self._inflight[key] = self._executor.submit(work, *args)
                if self._on_done is not None:
                    future.add_done_callback(self._after)

    def _after(self, future: Future[int]) -> None:
        """A batch that delivered something may have left more behind it: say so (an empty one does not)."""
        if self._on_done is not None and not future.cancelled() and future.exception() is None and future.result():
            self._on_done()

    def wait(self, timeout: float) -> None:
        with self._lock:
            pending = list(self._inflight.values())
        if timeout > 0 and pending:
            wait(pending, timeout=timeout)

    def harvest(self) -> int:
        """Collect finished batches; returns how many items they delivered."""
        with self._lock:
            done = {key: future for key, future in self._inflight.items() if future.done()}
            for key in done:
                del self._inflight[key]
        delivered = 0
        for future in done.values():
            if future.cancelled():
                continue
            if (exc := future.exception()) is not None:
                log.error("%s batch delivery crashed", self._label, exc_info=exc)
                continue
            delivered += future.result()
        return delivered

    def shutdown(self) -> None:
        """Wait for batches already running; those not started are dropped."""
        with self._lock:
            executor, self._executor = self._executor, None
            self._inflight.clear()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


class TimedCache:
    """One value, fetched again once it is older than ``seconds`` (or when asked to)."""

    def __init__(self, seconds: float, fetch: Callable[[], Any]) -> None:
        self.seconds = seconds
        self._fetch = fetch
        self._value: Any = None
        self._at = float("-inf")

    def get(self, *, fresh: bool = False) -> Any:
        now = time.monotonic()
        if fresh or now - self._at >= self.seconds:
            self._value, self._at = self._fetch(), now
        return self._value
