"""What the local pollers (SQS and DynamoDB stream event sources, the scheduler) share: their thread, their
idle backoff, waking when moto takes in work, the batches they have in flight, and keeping moto from invoking
event source mappings itself.

A poll round costs several requests to the emulator, so a poller polls fast only while there is work and
backs off while there is none (Lambda's own pollers long-poll for the same reason). Moto tells the pollers
when work arrives (a message sent, a stream record written, a schedule made), so a new message is delivered
at once instead of at the next idle round: the backoff only paces retries and delayed messages.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Self

from botocore.exceptions import BotoCoreError, ClientError

from crewhouse.local import patches

log = logging.getLogger(__name__)

IDLE_CEILING = 0.5  # seconds between rounds once nothing has arrived for a while
MAPPINGS_CACHE_SECONDS = 1.0  # how stale the background rounds' list of event source mappings may be


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

    def notify_after(self, owner: type, *method_names: str, reason: str) -> None:
        """Make moto's ``owner.<method>`` notify these pollers each time it has run (idempotent)."""
        for name in method_names:
            # speed: without the notice a poller still finds the work, at its next (backed-off) round
            patches.wrap(owner, name, self._notifying, reason=reason, kind="speed")

    def _notifying(self, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def notifying(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            self.notify()
            return result

        return notifying


class _NoSynchronousMappings:
    """Class-level data descriptor for moto's ``lambda_event_source_mappings`` of queues and tables.

    Reads give a fresh empty dict and writes are dropped, so moto finds no mapping to invoke synchronously and
    ``create_event_source_mapping`` registers into a throwaway dict. Being a *data* descriptor, it also wins over
    the attribute already stored in the ``__dict__`` of instances created before the patch.
    """

    def __get__(self, instance: object, owner: type | None = None) -> dict[str, Any]:
        return {}

    def __set__(self, instance: object, value: object) -> None:
        pass


_NO_SYNCHRONOUS_MAPPINGS = _NoSynchronousMappings()


def hide_synchronous_mappings(owner: type, reason: str) -> None:
    """Hide the private copy of event source mappings that moto's ``owner`` instances invoke synchronously
    (idempotent); the Lambda backend still stores each mapping, where the pollers read them."""
    patches.patch(owner, "lambda_event_source_mappings", _NO_SYNCHRONOUS_MAPPINGS, reason=reason, kind="accuracy",
                  expect="instance_attribute")


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
        self._max_concurrency = max_concurrency
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
                self._executor = ThreadPoolExecutor(self._max_concurrency, thread_name_prefix=self._prefix)
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


class EventSourcePoller:
    """The shape the SQS and DynamoDB stream pollers share: a polling thread woken by ``wakeups``, the
    mappings listed at most once a second by the background rounds, one batch in flight per mapping.

    Use :meth:`start`/:meth:`stop` for a background daemon thread, or :meth:`poll_once` for deterministic
    tests. Subclasses list their mappings (:meth:`_list_mappings`) and hand batches out (:meth:`_hand_out`).
    """

    def __init__(self, name: str, endpoint_url: str, *, interval: float, max_concurrency: int,
                 wakeups: Wakeups, longest_batch_seconds: float) -> None:
        self.endpoint_url = endpoint_url
        self._longest_batch = longest_batch_seconds
        self._mappings = TimedCache(MAPPINGS_CACHE_SECONDS, self._list_mappings)
        self._loop = PollingThread(f"crewhouse-{name}-poller", lambda: self._round(0.0), interval=interval,
                                   wakeups=wakeups)
        self._batches = InflightBatches(max_concurrency, f"crewhouse-{name}-batch", name, on_done=self._loop.wake)

    @property
    def last_delivery(self) -> float:
        """Monotonic time of the last round that delivered anything."""
        return self._loop.last_delivery

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the background polling thread (no-op when already running)."""
        self._loop.start()

    def stop(self) -> None:
        """Stop polling and wait for batches already handed to a function (those not started are dropped)."""
        self._loop.stop()
        self._batches.shutdown()

    def poll_once(self, timeout: float | None = None) -> int:
        """Run one round (mappings listed afresh) and wait up to ``timeout`` s (default: the longest batch)
        for its batches; returns the items delivered.

        Batches still running at the timeout keep going and are counted by a later round. Meant for tests,
        without :meth:`start` (the background thread would count some deliveries itself).
        """
        return self._round(self._longest_batch if timeout is None else timeout, fresh=True)

    def _round(self, timeout: float, fresh: bool = False) -> int:
        delivered = self._batches.harvest()
        try:
            listed = self._mappings.get(fresh=fresh)
        except (BotoCoreError, ClientError) as exc:
            log.warning("Could not list event source mappings on %s: %s", self.endpoint_url, exc)
            listed = None
        self._hand_out(listed)
        self._batches.wait(timeout)
        return delivered + self._batches.harvest()

    def _list_mappings(self) -> list[Any]:
        raise NotImplementedError

    def _hand_out(self, listed: list[Any] | None) -> None:
        """Submit a batch per mapping to ``self._batches``; ``listed`` is None when listing failed."""
        raise NotImplementedError
