"""GuardDuty Malware Protection for S3, emulated: moto has no GuardDuty malware protection plans at all.

The CloudFormation provider for ``AWS::GuardDuty::MalwareProtectionPlan`` (see :mod:`crewhouse.local.cfn_providers`)
records each plan here. After S3 reports an object created under a protected bucket and prefix, a scan runs
on a small thread pool, as GuardDuty's does, off the request: the object counts as infected when it contains
the EICAR anti-virus test string, else as clean. The result is tagged on the object
(``GuardDutyMalwareScanStatus``, when the plan's tagging is enabled) and put on the default event bus as
GuardDuty's "GuardDuty Malware Protection Object Scan Result" event.

A test can hold scans (:func:`hold_scans`, then :func:`release_scans`) to order a scan's result after the work it
races, as GuardDuty's seconds-long scans are ordered in AWS.

Not covered: real malware signatures, size and file-type limits (``UNSUPPORTED``), KMS-encrypted objects.
Call :func:`install` in the process that runs the moto server.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from crewhouse.local import patches

logger = logging.getLogger(__name__)

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_THREAT = "EICAR-Test-File (not a virus)"
DETAIL_TYPE = "GuardDuty Malware Protection Object Scan Result"
SCAN_TAG = "GuardDutyMalwareScanStatus"


@dataclass(frozen=True)
class Plan:
    plan_id: str
    bucket: str
    prefixes: tuple[str, ...]
    tagging: bool
    region: str
    account: str

    @property
    def arn(self) -> str:
        return f"arn:aws:guardduty:{self.region}:{self.account}:malware-protection-plan/{self.plan_id}"

    def protects(self, bucket: str, key: str) -> bool:
        return bucket == self.bucket and (not self.prefixes or any(key.startswith(p) for p in self.prefixes))


_plans: dict[str, Plan] = {}
_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_pending: set[Future[None]] = set()
_original_send_event: Any = None


def register_plan(properties: dict[str, Any], region: str, account: str) -> Plan:
    bucket_spec = (properties.get("ProtectedResource") or {}).get("S3Bucket") or {}
    tagging = ((properties.get("Actions") or {}).get("Tagging") or {}).get("Status") == "ENABLED"
    plan = Plan(plan_id=uuid.uuid4().hex[:20], bucket=str(bucket_spec.get("BucketName", "")),
                prefixes=tuple(bucket_spec.get("ObjectPrefixes") or ()), tagging=tagging, region=region,
                account=account)
    with _lock:
        _plans[plan.plan_id] = plan
    return plan


def forget_plan(plan_id: str) -> None:
    with _lock:
        _plans.pop(plan_id, None)


def plans() -> list[Plan]:
    with _lock:
        return list(_plans.values())


def verdict(data: bytes) -> tuple[str, list[str]]:
    """``(scanResultStatus, threat names)`` for the bytes."""
    return ("THREATS_FOUND", [EICAR_THREAT]) if EICAR in data else ("NO_THREATS_FOUND", [])


def scan_result_event(plan: Plan, key: str, etag: str, version_id: str | None, status: str,
                      threats: list[str]) -> dict[str, Any]:
    """The ``Detail`` of GuardDuty's scan-result event."""
    return {
        "schemaVersion": "1.0",
        "scanStatus": "COMPLETED",
        "resourceType": "S3_OBJECT",
        "s3ObjectDetails": {"bucketName": plan.bucket, "objectKey": key, "eTag": etag, "versionId": version_id,
                            "s3Throttled": False},
        "scanResultDetails": {"scanResultStatus": status, "threats": [{"name": t} for t in threats] or None},
    }


def _scan(plan: Plan, bucket: Any, key: Any) -> None:
    from crewhouse.local import eventbridge

    status, threats = verdict(bytes(key.value))
    if plan.tagging:
        from moto.s3.models import s3_backends

        backend = s3_backends[plan.account]["aws"]
        backend.put_object_tagging(key, {**backend.tagger.get_tag_dict_for_resource(key.arn), SCAN_TAG: status})
    client = eventbridge.endpoint_client("events", eventbridge.resolve_endpoint(eventbridge._endpoint_url),
                                         plan.region, plan.account)
    client.put_events(Entries=[{
        "Source": "aws.guardduty", "DetailType": DETAIL_TYPE, "Resources": [plan.arn], "EventBusName": "default",
        "Detail": json.dumps(scan_result_event(plan, key.name, key.etag.strip('"'), key.version_id, status,
                                               threats))}])


_released = threading.Event()
_released.set()
HOLD_LIMIT_SECONDS = 60.0  # a hold never outlives a forgotten release by more than this


def hold_scans() -> None:
    """Scans started from now wait (up to ``HOLD_LIMIT_SECONDS``) until :func:`release_scans`."""
    _released.clear()


def release_scans() -> None:
    _released.set()


def _run(plan: Plan, bucket: Any, key: Any) -> None:
    try:
        _released.wait(HOLD_LIMIT_SECONDS)
        _scan(plan, bucket, key)
    except Exception:
        logger.exception("malware scan of s3://%s/%s failed", plan.bucket, key.name)


def _send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
    global _executor
    _original_send_event(account_id, event_name, bucket, key)
    if "ObjectCreated" not in str(getattr(event_name, "value", event_name)):
        return
    for plan in plans():
        if plan.protects(bucket.name, key.name):
            with _lock:
                if _executor is None:
                    _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="crewhouse-guardduty")
                future = _executor.submit(_run, plan, bucket, key)
                _pending.add(future)
            future.add_done_callback(_pending.discard)


def install() -> None:
    """Scan objects created in protected buckets (idempotent)."""
    global _original_send_event
    from moto.s3 import notifications

    _original_send_event = patches.patch(
        notifications, "send_event", _send_event, kind="accuracy",
        reason="scans objects created in buckets a GuardDuty malware protection plan protects, tagging them and "
               "sending the scan result event (moto has no malware protection)").original


def drain(timeout: float = 10.0) -> bool:
    from concurrent.futures import wait

    with _lock:
        pending = {f for f in _pending if not f.done()}
    if not pending:
        return True
    _, not_done = wait(pending, timeout=timeout)
    return not not_done
