"""How a context's worker consumes its table's stream: the house settings for every DynamoDB event source."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from crewhouse_cdk.nag import acknowledge


def dead_letter_queue(scope: Construct, construct_id: str, *, of: str) -> sqs.Queue:
    """An encrypted, TLS-only queue kept 14 days, for what ``of`` (a stream processor, rule targets …) gives up on."""
    queue = sqs.Queue(scope, construct_id, enforce_ssl=True, encryption=sqs.QueueEncryption.SQS_MANAGED,
                      retention_period=cdk.Duration.days(14))
    acknowledge(queue, "AwsSolutions-SQS3", f"This queue is itself the dead-letter destination of {of}.")
    return queue


def consume_stream(function: lambda_.IFunction, table: dynamodb.ITable, dead_letters: sqs.IQueue) -> None:
    """Batches of 100 from the start of the stream; a failing batch is bisected and retried 5 times, records
    reported as failed are retried alone, and what still fails is described in ``dead_letters``."""
    function.add_event_source(sources.DynamoEventSource(
        table, starting_position=lambda_.StartingPosition.TRIM_HORIZON, batch_size=100,
        bisect_batch_on_error=True, retry_attempts=5, report_batch_item_failures=True,
        on_failure=sources.SqsDlq(dead_letters),
    ))
