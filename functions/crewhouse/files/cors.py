"""The files bucket's CORS rule, as a CloudFormation custom resource (``Custom::FilesBucketCors``).

The web console uploads straight to the files bucket from its CloudFront origin, so the bucket needs a CORS rule
naming that origin. The rule cannot be a property of the bucket: the console's distribution sends a CSP that names
the bucket, so the bucket would depend on the distribution and the distribution on the bucket. This resource
depends on both and sets the rule once they exist (``crewhouse_cdk.constructs.storage.FilesBucketCors``).

Create and Update put the rule the resource's properties give (``BucketName``, ``CorsRules`` in S3's shape); Delete
removes the bucket's CORS configuration. CloudFormation hands properties over as strings: ``MaxAgeSeconds`` is
turned back into an integer.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger()
LIST_KEYS = ("AllowedOrigins", "AllowedMethods", "AllowedHeaders", "ExposeHeaders")


def cors_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules as S3's PutBucketCors takes them (CloudFormation passes every scalar as a string)."""
    shaped = []
    for rule in rules:
        entry: dict[str, Any] = {key: [str(v) for v in rule[key]] for key in LIST_KEYS if rule.get(key)}
        if rule.get("ID"):
            entry["ID"] = str(rule["ID"])
        if rule.get("MaxAgeSeconds") is not None:
            entry["MaxAgeSeconds"] = int(rule["MaxAgeSeconds"])
        shaped.append(entry)
    return shaped


def apply(request_type: str, properties: dict[str, Any], s3: Any) -> None:
    bucket = str(properties["BucketName"])
    if request_type == "Delete":
        s3.delete_bucket_cors(Bucket=bucket)
        return
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": cors_rules(properties["CorsRules"])})


def respond(event: dict[str, Any], status: str, reason: str, physical_id: str) -> None:
    body = json.dumps({"Status": status, "Reason": reason[:500], "PhysicalResourceId": physical_id,
                       "StackId": event["StackId"], "RequestId": event["RequestId"],
                       "LogicalResourceId": event["LogicalResourceId"]}).encode()
    url = str(event["ResponseURL"])
    if not url.startswith("https://"):  # CloudFormation's presigned S3 URL; nothing else is answered
        raise ValueError("ResponseURL is not an https URL")
    request = urllib.request.Request(url, data=body, method="PUT",
                                     headers={"content-type": "", "content-length": str(len(body))})
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any, *, s3: Any = None) -> None:
    request_type = str(event["RequestType"])
    properties = event.get("ResourceProperties", {})
    physical_id = str(event.get("PhysicalResourceId") or f"{properties.get('BucketName', 'bucket')}-cors")
    try:
        if s3 is None:
            import boto3  # here, not at import: handler modules keep heavy packages out of their import

            s3 = boto3.client("s3")
        apply(request_type, properties, s3)
    except Exception as error:
        logger.exception("CORS rule not applied", extra={"request_type": request_type})
        # A failed Delete must not hold the stack (the bucket is retained anyway).
        status = "SUCCESS" if request_type == "Delete" else "FAILED"
        respond(event, status, f"{type(error).__name__}: {error}", physical_id)
        return
    logger.info("CORS rule applied", extra={"request_type": request_type, "bucket": properties.get("BucketName")})
    respond(event, "SUCCESS", "", physical_id)
