"""The files context in the synthesized template: bucket events, lifecycle, GuardDuty Malware Protection,
bucket policies, rules, routes and least-privilege grants."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import Synthesized
from tests.infra.test_stack import as_list, grants, props, render, resources, role_of, role_statements

PATHS = {
    "bucket": "Storage/FilesBucket",
    "table": "Files/FilesTable",
    "tasks_table": "Tasks/TasksTable",
    "notes_table": "Notes/NotesTable",
    "search_table": "Storage/SearchIndexTable",
    "read_fn": "Files/FilesRead/Function",
    "upload_fn": "Files/FilesUpload/Function",
    "parts_fn": "Files/FilesParts/Function",
    "manage_fn": "Files/FilesManage/Function",
    "created_fn": "Files/ObjectCreated/Function",
    "scan_fn": "Files/ScanResult/Function",
    "deleted_fn": "Files/TargetDeleted/Function",
    "stream_fn": "Files/FilesStream/Function",
    "sweep_fn": "Files/RetentionSweep/Function",
    "sweep_schedule": "Files/RetentionSweepSchedule",
    "sweep_scheduler_role": "Files/RetentionSchedulerRole",
    "plan": "Files/MalwareProtectionPlan",
    "guardduty_role": "Files/MalwareProtectionRole",
    "created_rule": "Files/ObjectCreatedRule",
    "scan_rule": "Files/ScanResultRule",
    "deleted_rule": "Files/TargetDeletedRule",
}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
API_FNS = ("read_fn", "upload_fn", "parts_fn", "manage_fn")


@pytest.fixture(scope="module")
def ids(synth_ok: Synthesized) -> dict[str, str]:
    return {name: synth_ok.logical_id(path) for name, path in PATHS.items()}


def rendered_grants(template_json: dict[str, Any], function_id: str) -> set[tuple[str, str]]:
    role = role_of(template_json, function_id)
    return {(action, render(resource)) for action, resource in grants(role_statements(template_json, role))
            if action not in XRAY}


def test_bucket_sends_events_to_eventbridge_without_a_custom_resource(template_json: dict[str, Any],
                                                                       ids: dict[str, str]) -> None:
    assert props(template_json, ids["bucket"])["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    assert not resources(template_json, "Custom::S3BucketNotifications")


def test_bucket_lifecycle_expires_quarantine_and_deleted_versions(template_json: dict[str, Any],
                                                                  ids: dict[str, str]) -> None:
    rules = {r.get("Prefix", ""): r for r in props(template_json, ids["bucket"])["LifecycleConfiguration"]["Rules"]}
    assert rules[""]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rules["quarantine/"]["ExpirationInDays"] == 30
    assert rules["uploads/"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rules["thumbnails/"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    assert all(r["Status"] == "Enabled" for r in rules.values())
    bucket = props(template_json, ids["bucket"])
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                         "IgnorePublicAcls": True, "RestrictPublicBuckets": True}


def test_bucket_policy_is_tls_only_and_never_serves_infected_or_quarantined_bytes(
        template_json: dict[str, Any], ids: dict[str, str]) -> None:
    (policy,) = [p["Properties"]["PolicyDocument"]["Statement"] for p in
                 resources(template_json, "AWS::S3::BucketPolicy").values()
                 if p["Properties"]["Bucket"] == {"Ref": ids["bucket"]}]
    assert all(s["Effect"] == "Deny" for s in policy), "the files bucket grants nothing through its policy"
    tls = [s for s in policy if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
    assert tls and tls[0]["Action"] == "s3:*"
    infected = next(s for s in policy if s.get("Sid") == "DenyReadingInfectedObjects")
    assert infected["Condition"]["StringEquals"] == {
        "s3:ExistingObjectTag/GuardDutyMalwareScanStatus": "THREATS_FOUND"}
    exempt = {render(a) for a in infected["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]}
    assert exempt == {f"${{{role_of(template_json, ids['scan_fn'])}.Arn}}",
                      f"${{{role_of(template_json, ids['created_fn'])}.Arn}}", f"${{{ids['guardduty_role']}.Arn}}"}
    quarantine = next(s for s in policy if s.get("Sid") == "DenyReadingQuarantine")
    assert quarantine["Condition"] == {"StringEquals": {"s3:ExistingObjectTag/crewhouse-quarantine": "true"}}
    assert set(as_list(quarantine["Action"])) == {"s3:GetObject", "s3:GetObjectVersion"}


def test_guardduty_malware_protection_scans_and_tags_uploads(template_json: dict[str, Any],
                                                             ids: dict[str, str]) -> None:
    plan = props(template_json, ids["plan"])
    assert plan["ProtectedResource"] == {"S3Bucket": {"BucketName": {"Ref": ids["bucket"]},
                                                      "ObjectPrefixes": ["uploads/"]}}
    assert plan["Actions"] == {"Tagging": {"Status": "ENABLED"}}
    assert plan["Role"] == {"Fn::GetAtt": [ids["guardduty_role"], "Arn"]}
    trust = props(template_json, ids["guardduty_role"])["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "malware-protection-plan.guardduty.amazonaws.com"}
    granted = {(a, render(r)) for a, r in grants(role_statements(template_json, ids["guardduty_role"]))}
    bucket = f"${{{ids['bucket']}.Arn}}"
    assert ("s3:PutObjectTagging", f"{bucket}/uploads/*") in granted
    assert ("s3:GetObject", f"{bucket}/uploads/*") in granted
    assert ("s3:PutBucketNotification", bucket) in granted
    assert ("s3:PutObject", f"{bucket}/malware-protection-resource-validation-object") in granted
    rules = {r for a, r in granted if a.startswith("events:")}
    assert rules == {"arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
                     "DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3*"}
    assert not [g for g in granted if g[1] == "*" or g[0].endswith(":*")]


def test_rules_route_s3_guardduty_and_domain_events(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    created = props(template_json, ids["created_rule"])
    assert created.get("EventBusName", "default") == "default"  # S3 and GuardDuty publish to the default bus
    assert created["EventPattern"] == {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {
        "bucket": {"name": [{"Ref": ids["bucket"]}]}, "object": {"key": [{"prefix": "uploads/"}]}}}
    assert created["Targets"][0]["Arn"] == {"Fn::GetAtt": [ids["created_fn"], "Arn"]}
    assert "DeadLetterConfig" in created["Targets"][0]
    scan = props(template_json, ids["scan_rule"])
    assert scan.get("EventBusName", "default") == "default"
    assert scan["EventPattern"]["detail-type"] == ["GuardDuty Malware Protection Object Scan Result"]
    assert scan["EventPattern"]["source"] == ["aws.guardduty"]
    assert scan["Targets"][0]["Arn"] == {"Fn::GetAtt": [ids["scan_fn"], "Arn"]}
    deleted = props(template_json, ids["deleted_rule"])
    assert deleted["EventBusName"] == {"Ref": next(k for k in resources(template_json, "AWS::Events::EventBus"))}
    assert deleted["EventPattern"] == {"source": ["crewhouse.tasks", "crewhouse.notes"],
                                       "detail-type": ["task.deleted", "note.deleted"]}


def test_routes_reach_the_files_functions(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    """Which function serves which route is tests/infra/test_http_routes.py's; here: every /files path has a route
    (derived from the routers: the upload's POST and the list's GET of /files split the path)."""
    routes = {p["RouteKey"] for p in (r["Properties"] for r in resources(template_json,
                                                                         "AWS::ApiGatewayV2::Route").values())}
    assert {"GET /files", "ANY /files", "ANY /files/{file_id}/parts", "GET /files/quota"} <= routes
    assert not {key for key in routes if key.startswith(("GET /files/{proxy+}", "ANY /files/{proxy+}"))}


def test_workers_environment_sets_textract_and_the_malware_gate(template_json: dict[str, Any],
                                                               ids: dict[str, str]) -> None:
    for name in (*API_FNS, "created_fn", "scan_fn"):
        env = props(template_json, ids[name])["Environment"]["Variables"]
        assert env["OCR_PROVIDER"] == "textract" and env["MALWARE_SCAN_REQUIRED"] == "true"
        assert env["FILES_BUCKET"] == {"Ref": ids["bucket"]}
        assert env["NOTES_TABLE"] == {"Ref": ids["notes_table"]}


def test_api_roles_are_least_privilege(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    bucket, tasks = f"${{{ids['bucket']}.Arn}}", f"${{{ids['tasks_table']}.Arn}}"
    notes, files = f"${{{ids['notes_table']}.Arn}}", f"${{{ids['table']}.Arn}}"
    uploads, thumbnails = f"{bucket}/uploads/*", f"{bucket}/thumbnails/*"
    s3 = {name: {g for g in rendered_grants(template_json, ids[name]) if g[0].startswith("s3:")} for name in API_FNS}
    # Presigned URLs carry the signer's permissions: each function signs only what its routes hand out.
    assert s3["read_fn"] == {("s3:GetObject", uploads), ("s3:GetObject", thumbnails)}  # downloads, thumbnails
    # Aborting an upload deletes its key too (found by the embedded cloud's IAM check).
    assert s3["upload_fn"] == {(a, uploads) for a in ("s3:PutObject", "s3:AbortMultipartUpload",
                                                       "s3:ListMultipartUploadParts", "s3:DeleteObject")}
    assert s3["parts_fn"] == {(a, uploads) for a in ("s3:PutObject", "s3:ListMultipartUploadParts")}
    assert s3["manage_fn"] == {("s3:AbortMultipartUpload", uploads), ("s3:DeleteObject", uploads),
                               ("s3:DeleteObject", thumbnails)}
    for name in API_FNS:
        granted = rendered_grants(template_json, ids[name])
        assert not [g for g in granted if g[1] == "*"], name
        tables = {r for a, r in granted if a.startswith("dynamodb:")}
        # Every API function checks the caller's membership: GetItem on the platform table, nothing more.
        memberships = {(a, r) for a, r in granted if "PlatformTable" in r}
        assert {a for a, _ in memberships} == {"dynamodb:GetItem"}, name
        tables -= {r for _, r in memberships}
        # Every API function charges its caller's rate-limit bucket: UpdateItem on that table, nothing more.
        buckets = {(a, r) for a, r in granted if "RateLimitTable" in r}
        assert {a for a, _ in buckets} == {"dynamodb:UpdateItem"}, name
        tables -= {r for _, r in buckets}
        assert tables <= {files, f"{files}/index/*", tasks, notes} | {r for r in tables if "Idempotency" in r}, name
        # A task's or note's attachments list: only the function that attaches and detaches may change it.
        targets = {a for a, r in granted if r in (tasks, notes)}
        assert targets == ({"dynamodb:GetItem", "dynamodb:UpdateItem"} if name == "manage_fn" else set()), name
        writes = {a for a, r in granted if r == files and a in ("dynamodb:PutItem", "dynamodb:UpdateItem",
                                                                 "dynamodb:DeleteItem")}
        # Reads only record that a file was opened (retention): UpdateItem, no PutItem or DeleteItem.
        assert writes == {"dynamodb:UpdateItem"} if name == "read_fn" else writes, name


def test_workers_touch_only_their_prefixes(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    bucket = f"${{{ids['bucket']}.Arn}}"
    created = rendered_grants(template_json, ids["created_fn"])
    assert {r for a, r in created if a.startswith("s3:")} == {f"{bucket}/uploads/*", f"{bucket}/thumbnails/*",
                                                             f"{bucket}/quarantine/*"}
    assert ("s3:PutObject", f"{bucket}/uploads/*") not in created  # it reads uploads, never rewrites them
    assert {a for a, r in created if r == "*"} == {"textract:DetectDocumentText",
                                                   "textract:StartDocumentTextDetection",
                                                   "textract:GetDocumentTextDetection"}
    scan = rendered_grants(template_json, ids["scan_fn"])
    assert not [g for g in scan if g[1] == "*"]
    assert ("s3:PutObject", f"{bucket}/quarantine/*") in scan and ("s3:PutObject", f"{bucket}/uploads/*") not in scan
    deleted = rendered_grants(template_json, ids["deleted_fn"])
    assert {a for a, r in deleted if a.startswith("s3:")} == {"s3:DeleteObject", "s3:AbortMultipartUpload"}
    stream = rendered_grants(template_json, ids["stream_fn"])
    assert not [g for g in stream if g[0].startswith("s3:")]
    search = f"${{{ids['search_table']}.Arn}}"
    assert {r for a, r in stream if a in ("dynamodb:PutItem", "dynamodb:BatchWriteItem")} == {search}


def test_the_last_opened_index_projects_only_what_retention_reads(template_json: dict[str, Any],
                                                                  ids: dict[str, str]) -> None:
    indexes = {i["IndexName"]: i for i in props(template_json, ids["table"])["GlobalSecondaryIndexes"]}
    opened = indexes["GSI2"]
    assert [k["AttributeName"] for k in opened["KeySchema"]] == ["GSI2PK", "GSI2SK"]
    assert opened["Projection"]["ProjectionType"] == "INCLUDE"  # no OCR text copied into the index
    assert set(opened["Projection"]["NonKeyAttributes"]) == {"id", "filename", "size", "status", "last_opened_at",
                                                             "warned_for"}


def test_the_retention_sweep_runs_daily_with_least_privilege(template_json: dict[str, Any],
                                                             ids: dict[str, str]) -> None:
    schedule = props(template_json, ids["sweep_schedule"])
    assert schedule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert render(schedule["Target"]["Arn"]) == render({"Fn::GetAtt": [ids["sweep_fn"], "Arn"]})
    assert render(schedule["Target"]["RoleArn"]) == render({"Fn::GetAtt": [ids["sweep_scheduler_role"], "Arn"]})
    invoker = {(a, render(r)) for a, r in grants(role_statements(template_json, ids["sweep_scheduler_role"]))}
    assert {a for a, _ in invoker} == {"lambda:InvokeFunction"}
    env = props(template_json, ids["sweep_fn"])["Environment"]["Variables"]
    assert env["RETENTION_SWEEP_HOUR"] == "3"
    assert props(template_json, ids["sweep_fn"])["Timeout"] == 900

    bucket, files = f"${{{ids['bucket']}.Arn}}", f"${{{ids['table']}.Arn}}"
    tasks, notes = f"${{{ids['tasks_table']}.Arn}}", f"${{{ids['notes_table']}.Arn}}"
    granted = rendered_grants(template_json, ids["sweep_fn"])
    assert {g for g in granted if g[0].startswith("s3:")} == {
        ("s3:DeleteObject", f"{bucket}/uploads/*"), ("s3:AbortMultipartUpload", f"{bucket}/uploads/*"),
        ("s3:DeleteObject", f"{bucket}/thumbnails/*")}
    assert {g for g in granted if g[0].startswith("dynamodb:")} == {
        ("dynamodb:Query", f"{files}/index/GSI1"), ("dynamodb:Query", f"{files}/index/GSI2"),
        ("dynamodb:GetItem", files), ("dynamodb:UpdateItem", files), ("dynamodb:DeleteItem", files),
        ("dynamodb:GetItem", tasks), ("dynamodb:UpdateItem", tasks),
        ("dynamodb:GetItem", notes), ("dynamodb:UpdateItem", notes)}
    assert {a for a, _ in granted if a.startswith("events:")} == {"events:PutEvents"}
    assert not [g for g in granted if g[1] == "*"]  # no Scan, no PutItem, nothing account-wide
