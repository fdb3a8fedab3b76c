"""us-east-1 on-demand list prices (first tier, no free tier), and a meter reading turned into US dollars.

Taken 2026-12-04 from stored copies of the pages named below (the search tool's "pages" corpus; there is no
live internet here). ``CONFIRMED`` says whether the stored page itself showed the number; the others came from
third-party pages that quote AWS's page, and are marked so. Check them against the AWS page before relying on
them for a budget that matters.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.cost.meter import Reading

TAKEN = "2026-12-04"


@dataclass(frozen=True)
class Price:
    dollars: float  # per one unit
    unit: str
    source: str
    confirmed: bool  # the number was on the AWS page as stored (else: a third-party page quoting it)
    note: str = ""


def per_million(dollars: float) -> float:
    return dollars / 1_000_000


def per_thousand(dollars: float) -> float:
    return dollars / 1_000


PRICES: dict[str, Price] = {
    "dynamodb_read_unit": Price(
        per_million(0.125), "on-demand read request unit", "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        False, "AWS's stored pricing pages were older (provisioned only); $0.125/M from "
               "https://airbyte.com/data-engineering-resources/dynamodb-pricing (after the Nov 2024 cut)"),
    "dynamodb_write_unit": Price(
        per_million(0.625), "on-demand write request unit", "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        False, "$0.625/M from https://airbyte.com/data-engineering-resources/dynamodb-pricing"),
    "lambda_request": Price(
        per_million(0.20), "invocation", "https://aws.amazon.com/lambda/pricing/", False,
        "the stored AWS page lost its table; $0.20/M from https://cloudchipr.com/blog/aws-lambda-pricing"),
    "lambda_gb_second_arm64": Price(
        0.0000133334, "GB-second (arm64, first 7.5 billion GB-s a month)", "https://aws.amazon.com/lambda/pricing/",
        False, "from https://cloudchipr.com/blog/aws-lambda-pricing (Arm, first tier)"),
    "http_api_request": Price(
        per_million(1.00), "HTTP API request (first 300 million a month, per 512 KB)",
        "https://aws.amazon.com/api-gateway/pricing/", False,
        "from https://www.learnaws.org/2021/01/10/api-gateway-pricing/ (US East, first 300 million)"),
    "sqs_request": Price(
        per_million(0.40), "standard queue request (64 KiB unit)", "https://aws.amazon.com/sqs/pricing/", False,
        "from https://cloudburn.io/blog/amazon-sqs-pricing (us-east-1, March 2026)"),
    "sns_publish": Price(
        per_million(0.50), "standard topic publish (64 KiB unit)", "https://aws.amazon.com/sns/pricing/", False,
        "not found in the stored pages; the list price as last known (unconfirmed here)"),
    "s3_put": Price(
        per_thousand(0.005), "S3 Standard PUT, COPY, POST, LIST request", "https://aws.amazon.com/s3/pricing/",
        False, "from https://c3x.dev/blog/s3-request-fees-explained"),
    "s3_get": Price(
        per_thousand(0.0004), "S3 Standard GET, HEAD, SELECT request", "https://aws.amazon.com/s3/pricing/",
        False, "from https://c3x.dev/blog/s3-request-fees-explained"),
    "eventbridge_event": Price(
        per_million(1.00), "custom event published (64 KiB unit)", "https://aws.amazon.com/eventbridge/pricing/",
        False, "from https://cloudburn.io/blog/amazon-eventbridge-pricing (us-east-1, March 2026)"),
    "stepfunctions_transition": Price(
        per_thousand(0.025), "standard workflow state transition", "https://aws.amazon.com/step-functions/pricing/",
        True, "US East (N. Virginia) row of the state transitions pricing table"),
    "secretsmanager_call": Price(
        0.05 / 10_000, "API call", "https://aws.amazon.com/secrets-manager/pricing/", False,
        "$0.05 per 10,000 calls from https://hivebook.wiki/wiki/aws-secrets-manager-rotated-secrets-dynamic-db-"
        "credentials-kms"),
    "kms_request": Price(
        0.03 / 10_000, "symmetric key request (Encrypt, Decrypt, GenerateDataKey)", "https://aws.amazon.com/kms/pricing/",
        False, "the stored AWS page showed only the free tier; $0.03 per 10,000 from "
               "https://www.wring.co/blog/aws-kms-pricing-guide"),
    "ses_email": Price(
        per_thousand(0.10), "outbound e-mail (one recipient)", "https://aws.amazon.com/ses/pricing/", False,
        "from https://www.acecloudinterviews.com/tutorials/aws/ses/ (data transfer of large e-mails not counted)"),
}

S3_GET_OPERATIONS = {"GetObject", "HeadObject", "SelectObjectContent", "GetObjectTagging", "GetObjectAttributes"}
S3_FREE_OPERATIONS = {"DeleteObject", "DeleteObjects", "AbortMultipartUpload"}
# Services whose requests are billed through another line (capacity, transitions, invocations) or not at all.
# Cognito (cognito-idp) is billed per monthly active user, not per request, so it stays named as unpriced.
NOT_PER_REQUEST = {"dynamodb", "states", "lambda", "sqs", "sns", "events", "s3", "secretsmanager", "kms", "email"}


def _p(name: str) -> float:
    return PRICES[name].dollars


def lines(reading: Reading) -> dict[str, float]:
    """Dollars of one reading by price line."""
    gb_seconds = sum(i.memory_mb / 1024 * i.ms / 1000 for i in reading.invocations)
    s3 = {name.split(":", 1)[1]: count for name, count in reading.requests.items() if name.startswith("s3:")}
    return {
        "dynamodb": reading.read_units * _p("dynamodb_read_unit") + reading.write_units * _p("dynamodb_write_unit"),
        "lambda": len(reading.invocations) * _p("lambda_request") + gb_seconds * _p("lambda_gb_second_arm64"),
        "apigateway": reading.api_requests * _p("http_api_request"),
        "sqs": reading.payload_units["sqs"] * _p("sqs_request"),
        "sns": reading.payload_units["sns"] * _p("sns_publish"),
        "events": reading.payload_units["events"] * _p("eventbridge_event"),
        "s3": sum(count * (0.0 if op in S3_FREE_OPERATIONS else _p("s3_get") if op in S3_GET_OPERATIONS
                           else _p("s3_put")) for op, count in s3.items()),
        "states": reading.transitions * _p("stepfunctions_transition"),
        "secretsmanager": reading.by_service()["secretsmanager"] * _p("secretsmanager_call"),
        "kms": reading.by_service()["kms"] * _p("kms_request"),
        "email": reading.requests.get("email:SendEmail", 0) * _p("ses_email"),
    }


def dollars(reading: Reading) -> float:
    """US dollars one metered operation costs at the list prices above."""
    return sum(lines(reading).values())


def unpriced(reading: Reading) -> list[str]:
    """Services the reading used that no price line covers (named in the report, not silently zero)."""
    return sorted(s for s in reading.by_service() if s not in NOT_PER_REQUEST)
