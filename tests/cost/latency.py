"""AWS latency on paper: an operation's ordered AWS requests turned into the overhead they add in AWS.

Each request kind has a typical warm, same-region latency. A few are published figures, the rest are stated
assumptions (``SOURCES`` says which); none was measured here. Sequential steps add up; a group that runs in parallel
costs its slowest member. The embedded cloud's wall times say nothing about AWS (one interpreter emulates every
service), so this is the figure to reason with, and the request counts the meter asserts are its inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# Typical latency in ms of one request (or one piece of AWS machinery) from a warm caller in the same region.
LATENCY_MS: dict[str, float] = {
    "dynamodb:GetItem": 5.0, "dynamodb:PutItem": 5.0, "dynamodb:UpdateItem": 5.0, "dynamodb:Query": 5.0,
    "dynamodb:BatchWriteItem": 8.0, "dynamodb:TransactWriteItems": 10.0,
    "sqs:SendMessage": 10.0,
    "sqs:poll": 20.0,  # the event source mapping's long poll hands the message to the function
    "lambda:invoke": 15.0,  # a warm function's invoke round trip (request in, handler started, answer out)
    "states:StartExecution": 30.0,
    "states:transition": 20.0,  # Step Functions entering the next state of a Standard workflow
    "states:SendTaskSuccess": 20.0,
    "events:PutEvents": 20.0,
}

SOURCES: dict[str, str] = {
    "dynamodb": "AWS re:Post knowledge center, 'DynamoDB high latency' "
                "(https://repost.aws/knowledge-center/dynamodb-high-latency): GetItem, PutItem and most atomic "
                "operations average single-digit milliseconds; 5 ms taken, 8 ms for a batch and 10 ms for a "
                "transaction (two phases) are assumptions.",
    "sqs": "'Low latency (< 10 ms on publish and receive)', course notes quoting AWS "
           "(https://massipssa.github.io/Docs/docs/cloud/aws/Collection/sqs); 10 ms taken. The poller's 20 ms "
           "hand-over is an assumption.",
    "lambda": "A warm start starts the handler in about 1-2 ms (https://imarck.dev/blog/art_1_lambda_latency, "
              "after AWS's 'Operating Lambda: Performance optimization' series); 15 ms for the invoke round trip "
              "is an assumption.",
    "states": "No published per-transition latency; 20 ms a transition, 30 ms for StartExecution and 20 ms for "
              "SendTaskSuccess are assumptions.",
    "events": "No published PutEvents latency; 20 ms is an assumption.",
}

Step = str | tuple[str, ...]  # one request, or requests made in parallel


def expected_overhead_ms(steps: Iterable[Step]) -> float:
    """The steps' expected latency: sequential steps summed, each parallel group's slowest member."""
    total = 0.0
    for step in steps:
        group = (step,) if isinstance(step, str) else step
        total += max((_latency(name) for name in group), default=0.0)
    return total


def request_names(calls: Sequence[tuple[str, float, float]]) -> list[str]:
    """A meter reading's ordered calls (``Reading.calls``) as request names, table and caller left out."""
    return [call.split(" ", 1)[0] for call, _reads, _writes in calls]


def _latency(name: str) -> float:
    if name in LATENCY_MS:
        return LATENCY_MS[name]
    raise KeyError(f"no latency for {name!r}: add it to LATENCY_MS with its source")


# The agent-job pipeline from the submit request to the job reading "succeeded", on its critical path (the
# bookkeeping after that point, admitting the next job and emitting job.succeeded, is left out), for a
# summarize job: three progress reports, each announced for live updates (events:PutEvents). The model step and
# the result note's own writes are not AWS overhead of the pipeline and are left out too.
JOB_BEFORE: list[Step] = [
    # submit: authorizer's membership read, create (job + line entry), line head, admit, send, line head again
    "dynamodb:GetItem", "dynamodb:TransactWriteItems", "dynamodb:Query", "dynamodb:TransactWriteItems",
    "sqs:SendMessage", "dynamodb:Query",
    "sqs:poll", "lambda:invoke", "dynamodb:GetItem", "states:StartExecution",  # dispatcher
    "states:transition", "lambda:invoke", "dynamodb:UpdateItem",  # MarkRunning
    "states:transition", "lambda:invoke", "dynamodb:UpdateItem",  # RunAgent: begin the attempt
    *["dynamodb:UpdateItem", "events:PutEvents"] * 3,  # progress written and announced, each report
    "states:SendTaskSuccess",
    "states:transition", "lambda:invoke", "dynamodb:UpdateItem",  # StoreResult: storing (then the note)
    "states:transition", "lambda:invoke", "dynamodb:UpdateItem",  # MarkSucceeded: the job reads succeeded
]
JOB_AFTER: list[Step] = [
    # submit: authorizer's membership read, the line is empty, create holding its slots, send
    "dynamodb:GetItem", "dynamodb:Query", "dynamodb:TransactWriteItems", "sqs:SendMessage",
    "sqs:poll", "lambda:invoke", "states:StartExecution",  # dispatcher
    "states:transition", "lambda:invoke", "dynamodb:UpdateItem",  # RunAgent: the first attempt starts the run
    # a 10 s model step: one progress write (at most one per 5 s), three announcements
    "events:PutEvents", "events:PutEvents", "dynamodb:UpdateItem", "events:PutEvents",
    "states:SendTaskSuccess",
    "states:transition", "lambda:invoke", "dynamodb:UpdateItem",  # StoreResult: storing (then the note)
    "dynamodb:TransactWriteItems",  # succeeded and the slots given back, one transaction
]
