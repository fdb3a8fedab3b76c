"""Announcing domain events on the ``crewhouse`` EventBridge bus: the one helper for producers whose event is
worth less than the work it reports (live updates, notifications' triggers).

A failed announcement is logged, never raised: the work is done and recorded where its context keeps it (a job's
progress, a chat's messages, a flow's events), so a lost event is only a missed live update. Producers whose
events must not be lost (the tasks and notes stream workers) raise instead, so that the stream retries them.

``announce_many`` puts several events in one ``PutEvents`` call (10 entries a call at most), in the order given:
use it for events that happen together, so that a node's last events cost one request, not one each.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from crewhouse.core.observability import logger

MAX_ENTRIES = 10  # PutEvents takes at most 10 entries a call
Event = tuple[str, Mapping[str, Any]]  # (detail type, detail)


class Announcer:
    """Puts events of one ``source`` on the bus ``bus_name``. ``events`` is an EventBridge client, or a function
    that makes one, called at the first announcement (handlers that rarely announce build no client)."""

    def __init__(self, events: Any, bus_name: str, source: str) -> None:
        self._events = events
        self._factory: Callable[[], Any] | None = None if hasattr(events, "put_events") else events
        self.bus_name = bus_name
        self.source = source

    def _client(self) -> Any:
        if self._factory is not None:
            self._events, self._factory = self._factory(), None
        return self._events

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> bool:
        """One event; False when it was not put (logged)."""
        return self.announce_many([(detail_type, detail)])

    def announce_many(self, events: Sequence[Event]) -> bool:
        """Events in order, 10 a ``PutEvents`` call; False when any was not put (logged)."""
        entries = [{"Source": self.source, "DetailType": detail_type, "EventBusName": self.bus_name,
                    "Detail": json.dumps(detail, default=str)} for detail_type, detail in events]
        ok = True
        for start in range(0, len(entries), MAX_ENTRIES):
            chunk = entries[start:start + MAX_ENTRIES]
            try:
                answer = self._client().put_events(Entries=chunk)
            except Exception:  # never fail the work for its announcement
                logger.warning("event not announced", extra={"detail_types": [e["DetailType"] for e in chunk]},
                               exc_info=True)
                ok = False
                continue
            if answer.get("FailedEntryCount"):
                logger.warning("event refused", extra={"detail_types": [e["DetailType"] for e in chunk],
                                                       "entries": answer.get("Entries")})
                ok = False
        return ok
