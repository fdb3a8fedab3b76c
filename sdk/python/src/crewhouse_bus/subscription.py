"""Receiving: a long-polling iterator that acks what the consumer finished and nacks what it failed on.

A plain generator cannot tell whether the ``for`` body that it fed raised: the exception never enters it. So
:class:`Subscription` is a context manager: its ``__exit__`` sees the exception and nacks the message in hand,
while a message is acked as soon as the body asks for the next one (or leaves the loop with ``break``).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from crewhouse_bus.errors import BusError
from crewhouse_bus.models import Message

if TYPE_CHECKING:
    from crewhouse_bus.client import BusClient

log = logging.getLogger("crewhouse_bus")


class Subscription:
    """``with client.subscribe(agent_id) as messages: for message in messages: ...``; ``stop()`` ends the loop
    after the current long-poll. Messages received but not yet handed out are released (nack, no delay)."""

    def __init__(self, client: BusClient, agent_id: str, *, wait: int, max: int, nack_delay: int,
                 stop: threading.Event | None = None) -> None:
        self._client = client
        self.agent_id = agent_id
        self._wait = wait
        self._max = max
        self._nack_delay = nack_delay
        self._stopped = stop or threading.Event()
        self._pending: deque[Message] = deque()
        self._in_hand: Message | None = None
        self._iterator: Iterator[Message] | None = None
        self.acked = 0
        self.nacked = 0

    def __enter__(self) -> Iterator[Message]:
        self._iterator = self._messages()
        return self._iterator

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._in_hand is not None:
            if exc_type is None:
                self._settle(self._in_hand, ok=True)
            else:
                self._settle(self._in_hand, ok=False, delay=self._nack_delay)
            self._in_hand = None
        if self._pending:
            self._release(list(self._pending))
            self._pending.clear()
        if self._iterator is not None:
            self._iterator.close()  # type: ignore[attr-defined]
        # The consumer's exception, if any, goes on up: a subscription never swallows it.

    def __iter__(self) -> Iterator[Message]:
        raise TypeError("iterate inside 'with client.subscribe(agent_id) as messages: for message in messages'; "
                        "only the with-block can tell success (ack) from an exception (nack)")

    def stop(self) -> None:
        self._stopped.set()

    def nack_current(self, *, delay_seconds: int | None = None) -> None:
        """Give the message in hand back without raising (it is redelivered after ``delay_seconds``)."""
        if self._in_hand is not None:
            message, self._in_hand = self._in_hand, None
            self._settle(message, ok=False, delay=self._nack_delay if delay_seconds is None else delay_seconds)

    def _messages(self) -> Iterator[Message]:
        while not self._stopped.is_set():
            self._pending.extend(self._client.receive(self.agent_id, wait=self._wait, max=self._max))
            while self._pending and not self._stopped.is_set():
                message = self._pending.popleft()
                self._in_hand = message
                yield message
                # Back here only when the body finished with this message and asked for the next one.
                if self._in_hand is message:
                    self._in_hand = None
                    self._settle(message, ok=True)

    def _settle(self, message: Message, *, ok: bool, delay: int = 0) -> None:
        receipt = message.get("receipt")
        if not receipt:
            return
        verb = "ack" if ok else "nack"
        try:
            if ok:
                outcome = self._client.ack(self.agent_id, [receipt])
            else:
                outcome = self._client.nack(self.agent_id, [receipt], delay_seconds=delay)
        except BusError as error:  # the message comes back after its visibility timeout: at least once holds
            log.warning("could not %s message %s: %s", verb, message.get("id"), error)
            return
        if outcome["failed"]:
            log.warning("the queue refused to %s message %s: %s", verb, message.get("id"), outcome["failed"])
            return
        if ok:
            self.acked += 1
        else:
            self.nacked += 1

    def _release(self, messages: list[Message]) -> None:
        receipts = [receipt for message in messages if (receipt := message.get("receipt"))]
        if not receipts:
            return
        try:
            self._client.nack(self.agent_id, receipts, delay_seconds=0)
        except BusError as error:
            log.warning("could not release %d prefetched messages: %s", len(receipts), error)


def consume_messages(client: BusClient, agent_id: str, handler: Callable[[Message], None], *, wait: int, max: int,
                     stop: threading.Event | None, limit: int | None, nack_delay: int) -> int:
    """The handler-callback form: a handler's exception nacks its message and the loop goes on."""
    handled = 0
    subscription = Subscription(client, agent_id, wait=wait, max=max, nack_delay=nack_delay, stop=stop)
    with subscription as messages:
        for message in messages:
            try:
                handler(message)
            except Exception:
                log.exception("handler failed on message %s; nacked", message.get("id"))
                subscription.nack_current()
                continue
            handled += 1
            if limit is not None and handled >= limit:
                break
    return handled
