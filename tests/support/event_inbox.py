"""What producers put on the ``crewhouse`` event bus, in ``mock_aws``: a rule for some sources whose target is an
SQS queue, read back as the EventBridge events (``detail-type``, ``source``, ``detail``) the rule delivered."""

from __future__ import annotations

import json
from typing import Any

import boto3


def event_inbox(*sources: str, bus: str = "crewhouse") -> str:
    """A queue that receives every event of ``sources`` on ``bus``; its URL."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    name = "events-" + "-".join(s.replace(".", "-") for s in sources)
    url = sqs.create_queue(QueueName=name[:80])["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events", region_name="us-east-1")
    events.put_rule(Name=name[:64], EventBusName=bus, EventPattern=json.dumps({"source": list(sources)}))
    events.put_targets(Rule=name[:64], EventBusName=bus, Targets=[{"Id": "inbox", "Arn": arn}])
    return str(url)


def sent_events(url: str) -> list[dict[str, Any]]:
    """The events the queue received since the last call (and takes them out)."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
