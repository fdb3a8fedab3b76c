from crewhouse.local import patches
from crewhouse.local.polling import next_wait


def test_work_resets_to_the_floor_and_idleness_doubles_up_to_the_ceiling() -> None:
    assert next_wait(3, 0.4, 0.05) == 0.05
    waits = [0.05]
    for _ in range(6):
        waits.append(next_wait(0, waits[-1], 0.05, 0.5))
    assert waits == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5, 0.5]


def test_a_floor_above_the_ceiling_wins() -> None:
    assert next_wait(0, 1.0, 1.0, 0.5) == 1.0


def test_a_poller_waits_out_its_backoff_unless_it_is_woken() -> None:
    import threading

    from crewhouse.local.polling import PollingThread, Wakeups

    rounds = [threading.Event(), threading.Event()]
    arrivals = Wakeups()

    def poll_round() -> int:
        next(r for r in [*rounds, threading.Event()] if not r.is_set()).set()
        return 0

    loop = PollingThread("test-poller", poll_round, interval=30.0, ceiling=30.0, wakeups=arrivals)
    loop.start()
    try:
        assert rounds[0].wait(5)
        assert not rounds[1].wait(0.3)  # idle: the next round is 30 s away
        arrivals.notify()
        assert rounds[1].wait(5)  # woken: at once
    finally:
        loop.stop(timeout=5)
    assert not loop.alive


def test_a_finished_batch_wakes_the_poller_only_when_it_delivered() -> None:
    from crewhouse.local.polling import InflightBatches

    calls: list[str] = []
    batches = InflightBatches(2, "test-batch", "test", on_done=lambda: calls.append("woken"))
    batches.submit("a", lambda: 0)
    batches.wait(5)
    batches.submit("b", lambda: 3)
    batches.wait(5)
    assert batches.harvest() == 3
    batches.shutdown()
    assert calls == ["woken"]


def test_a_timed_cache_fetches_again_when_stale_or_asked() -> None:
    from crewhouse.local.polling import TimedCache

    fetched: list[int] = []

    def fetch() -> int:
        fetched.append(1)
        return len(fetched)

    cache = TimedCache(3600, fetch)
    assert cache.get() == 1
    assert cache.get() == 1
    assert cache.get(fresh=True) == 2
    assert TimedCache(0, fetch).get() == 3


def test_a_patched_method_notifies_after_it_ran_and_patching_twice_notifies_once() -> None:
    from crewhouse.local.polling import Wakeups

    seen: list[str] = []

    class Backend:
        def take(self, item: str) -> str:
            seen.append(item)
            return item.upper()

    arrivals = Wakeups()
    woken = arrivals.subscribe()
    arrivals.notify_after(Backend, "take", reason="test")
    arrivals.notify_after(Backend, "take", reason="test")
    notifications: list[bool] = []
    original_notify = arrivals.notify

    def counting_notify() -> None:
        notifications.append(woken.is_set())  # the call has run before the notice goes out
        original_notify()

    arrivals.notify = counting_notify  # type: ignore[method-assign]
    try:
        assert Backend().take("a") == "A"
        assert seen == ["a"] and notifications == [False] and woken.is_set()
    finally:
        patches.undo(Backend, "take")  # the registry lists the cloud's patches, not this test's
