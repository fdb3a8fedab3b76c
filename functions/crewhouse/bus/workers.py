"""The bus's background functions: the offline sweep (an EventBridge Scheduler rate schedule)."""

from __future__ import annotations

import json
import time
from typing import Any

from crewhouse.bus.agents_store import DynamoAgents
from crewhouse.bus.settings import BusSettings
from crewhouse.core.aws import aws_client
from crewhouse.core.observability import logger
from crewhouse.core.settings import load_settings
from crewhouse.core.table import Table

EVENT_SOURCE = "crewhouse.bus"


def sweep(store: DynamoAgents, events: Any, event_bus: str, now_ms: int) -> list[str]:
    """Mark every online agent whose heartbeat is overdue offline and announce ``agent.offline`` once per
    transition: the conditional update lets one sweep win, and a heartbeat that came meanwhile wins over both."""
    went_offline = []
    for record in store.overdue(now_ms):
        if not store.mark_offline(record):
            continue
        went_offline.append(record["agent_id"])
        events.put_events(Entries=[{
            "Source": EVENT_SOURCE, "DetailType": "agent.offline", "EventBusName": event_bus,
            "Detail": json.dumps({"tenant_id": record["tenant_id"], "agent_id": record["agent_id"],
                                  "name": record["name"], "last_heartbeat_at": record.get("last_heartbeat_at")}),
        }])
    return went_offline


@logger.inject_lambda_context(clear_state=True)
def sweep_offline(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = load_settings(BusSettings)
    store = DynamoAgents(Table(aws_client("dynamodb", settings), settings.bus_table))
    offline = sweep(store, aws_client("events", settings), settings.event_bus_name, int(time.time() * 1000))
    logger.info("offline sweep", extra={"went_offline": len(offline)})
    return {"went_offline": offline}
