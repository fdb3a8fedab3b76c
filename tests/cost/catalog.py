"""What a metered row is: the operation's requests (``run``), its unmetered preparation (``prepare``) and the
OpenAPI operations it covers. Rows live in ``tests/cost/operations/<domain>.py`` (each module's ``METERED``);
``tests/cost/test_operation_costs.py`` runs and budgets them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from crewhouse.local.cloud import EmbeddedCloud
from tests.cost.meter import Meter

Effect = Callable[[], bool] | None
"""Asks whether the operation's asynchronous work is done (None: nothing to wait for beyond what settles)."""


@dataclass
class Context:
    cloud: EmbeddedCloud
    api: httpx.Client
    meter: Meter
    headers: dict[str, str]  # the cost user's (a tenant's owner)
    state: dict[str, Any]  # prerequisites made once (agents, a task, a note …), by the rows' helpers


@dataclass(frozen=True)
class Metered:
    name: str  # the table's row
    routes: tuple[str, ...]  # the OpenAPI operations it covers ("POST /tasks"); () for a background flow
    run: Callable[[Context, Any], Effect]  # the metered part: its requests, their statuses asserted
    prepare: Callable[[Context], Any] | None = None  # unmetered, before each run; its result is run's 2nd argument
    headline: bool = False  # budget-checked in `make test` too; every row runs in `make bench` and `make cost`
    scheduled_runs: int = 0  # invocations of scheduled functions the row makes itself (more: a sweep ran by chance)
