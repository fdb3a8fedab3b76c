"""Agents' inboxes after a restart of the embedded cloud.

Local persistence keeps DynamoDB items but not queues or topics (:mod:`crewhouse.local.persistence`), while the
bus creates an SQS inbox per external agent and SNS topics per tenant at run time. So after a restore, every
external agent of the bus table gets its inbox, broadcast subscription and topic subscriptions made again
(through the bus's own :class:`~crewhouse.bus.mailboxes.Mailboxes`), and its record and subscription items point
at them. Messages that were waiting are not kept, as the README says for every queue. In AWS queues persist.
"""

from __future__ import annotations

import logging
from typing import Any

from crewhouse.local.deploy import DeployedStack

log = logging.getLogger(__name__)
BUS_TABLE_PREFIX = "BusBusTable"


def _bus_table(stack: DeployedStack) -> str | None:
    names = [physical for logical, physical in stack.resources.items() if logical.startswith(BUS_TABLE_PREFIX)]
    return names[0] if names else None


def reprovision_inboxes(stack: DeployedStack, endpoint_url: str, region: str) -> int:
    """Recreate the inboxes of the restored external agents; returns how many."""
    import boto3

    from crewhouse.bus.mailboxes import Mailboxes
    from crewhouse.bus.settings import BusSettings
    from crewhouse.core.table import Table

    table_name = _bus_table(stack)
    if table_name is None:
        return 0
    settings = BusSettings(aws_region=region, aws_endpoint_url=endpoint_url, bus_table=table_name)
    clients = {service: boto3.client(service, region_name=region, endpoint_url=endpoint_url,
                                     aws_access_key_id="test", aws_secret_access_key="test")
               for service in ("dynamodb", "sqs", "sns")}
    mailboxes = Mailboxes(clients["sqs"], clients["sns"], settings)
    table = Table(clients["dynamodb"], table_name)
    # Start-up housekeeping, not a request path: a Scan is what this is.
    pages = clients["dynamodb"].get_paginator("scan").paginate(
        TableName=table_name, FilterExpression="SK = :agent AND kind = :external",
        ExpressionAttributeValues={":agent": {"S": "AGENT"}, ":external": {"S": "external"}})
    from crewhouse.core.dynamo import ItemCodec

    codec, count = ItemCodec(), 0
    for page in pages:
        for raw in page.get("Items", []):
            record = codec.load(raw)
            made = mailboxes.provision(record["tenant_id"], record["agent_id"],
                                       max_deliveries=int(record["max_deliveries"]),
                                       visibility_timeout_seconds=int(record["visibility_timeout_seconds"]),
                                       retention_seconds=int(record["message_retention_seconds"]))
            table.update((record["PK"], "AGENT"), "SET queue_url = :q, dead_letter_queue_url = :d, "
                         "broadcast_subscription_arn = :b",
                         values={":q": made["queue_url"], ":d": made["dead_letter_queue_url"],
                                 ":b": made["broadcast_subscription_arn"]})
            for subscription in table.query_all(_subscriptions(record["PK"])):
                arn = mailboxes.subscribe(record["tenant_id"], subscription["topic"], made["queue_url"],
                                          subscription.get("filter") or {})
                table.update((record["PK"], subscription["SK"]), "SET subscription_arn = :arn",
                             values={":arn": arn})
            count += 1
    if count:
        log.info("bus: %d agents' inboxes made again after the restore", count)
    return count


def _subscriptions(pk: str) -> Any:
    from crewhouse.core import table as t

    return t.starting_with(pk, "SUB#")
