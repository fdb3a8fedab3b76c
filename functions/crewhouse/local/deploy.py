"""Deploy the app's own synthesized CDK template into the embedded cloud, as ``cdk deploy`` would.

Covers three gaps of moto's CloudFormation:
- assets: the CLI publishes them to the bootstrap bucket; here each asset directory is zipped and
  uploaded, and the bootstrap version parameter is created;
- state machines lose ``DefinitionSubstitutions``: they are folded into the definition with ``Fn::Join``;
- DynamoDB ``TimeToLiveSpecification`` is not applied: it is set with the API after the stack is up.
- S3 buckets lose ``NotificationConfiguration.EventBridgeConfiguration`` and ``VersioningConfiguration``
  (moto's ``FakeBucket.create_from_cloudformation_json`` applies only encryption and tags): both are set with
  the API after the stack is up, so S3 sends "Object Created" events to EventBridge and keeps versions.
- the web console's ``Custom::CDKBucketDeployment`` is left out: its handler copies the bundle with the AWS CLI
  of a Lambda layer, which the local runtime cannot run, and ``crewhouse local`` serves the console itself.
- the files bucket's ``Custom::FilesBucketCors`` is left out too: it names the CloudFront origin, and locally the
  console is served on the gateway's origin; :func:`apply_files_cors` sets the template's rule for that origin.
Resource types moto lacks entirely are provided by :mod:`crewhouse.local.cfn_providers`; nested stacks are folded
into the parent's template first (:mod:`crewhouse.local.nested_stacks`).
"""

from __future__ import annotations

import copy
import io
import json
import re
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crewhouse.local import endpoint
from crewhouse.local.endpoint import local_client
from crewhouse.local.nested_stacks import stack_template
from crewhouse_cdk.constructs.storage import FILES_CORS_RESOURCE_TYPE
from crewhouse_cdk.stage import STAGE_TAGS

TemplateTransform = Callable[[dict[str, Any]], dict[str, Any]]

ACCOUNT_ID = "123456789012"
BOOTSTRAP_QUALIFIER = "hnb659fds"
BOOTSTRAP_VERSION = "30"
# Resource types the embedded cloud does not create (see the module docstring); nothing refers to them.
LEFT_OUT = ("AWS::CDK::Metadata", "Custom::CDKBucketDeployment", FILES_CORS_RESOURCE_TYPE)


@dataclass(frozen=True)
class DeployedStack:
    name: str
    outputs: dict[str, str]
    resources: dict[str, str]  # logical id -> physical id
    template: dict[str, Any]


def _zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def _fill(text: str, region: str) -> str:
    return (text.replace("${AWS::AccountId}", ACCOUNT_ID).replace("${AWS::Region}", region)
            .replace("${AWS::Partition}", "aws"))


def _asset_body(source: Path, packaging: str | None) -> bytes:
    if packaging == "zip":
        return _zip_directory(source)
    if source.suffix == ".zip":
        # A zip CDK ships prebuilt: the console deployment's 22 MB AWS CLI layer (about 2 s to upload), whose
        # handler never runs here (its custom resource is LEFT_OUT). An empty archive stands in for it.
        buffer = io.BytesIO()
        zipfile.ZipFile(buffer, "w").close()
        return buffer.getvalue()
    return source.read_bytes()


def publish_assets(assembly_dir: Path, stack_name: str, region: str) -> int:
    """Upload the stack's file assets where its template expects them; returns how many."""
    s3 = local_client("s3")
    local_client("ssm").put_parameter(Name=f"/cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version",
                                      Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True)
    manifest = json.loads((assembly_dir / f"{stack_name}.assets.json").read_text())
    published = 0
    for asset in manifest.get("files", {}).values():
        source = assembly_dir / asset["source"]["path"]
        body = _asset_body(source, asset["source"].get("packaging"))
        for destination in asset["destinations"].values():
            bucket = _fill(destination["bucketName"], region)
            try:
                s3.head_bucket(Bucket=bucket)
            except Exception:
                s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key=_fill(destination["objectKey"], region), Body=body)
            published += 1
    return published


def prepare_template(template: dict[str, Any]) -> dict[str, Any]:
    """The template as moto's CloudFormation can take it (see the module docstring)."""
    prepared = copy.deepcopy(template)
    prepared.pop("Rules", None)  # CheckBootstrapVersion: the bootstrap is ours
    prepared.get("Parameters", {}).pop("BootstrapVersion", None)
    resources = prepared["Resources"]
    for logical_id in [k for k, r in resources.items() if r["Type"] in LEFT_OUT]:
        del resources[logical_id]
    for resource in resources.values():
        props = resource.get("Properties", {})
        _drop_stage_tags(props)
        if resource["Type"] == "AWS::StepFunctions::StateMachine" and "DefinitionSubstitutions" in props:
            props["DefinitionString"] = substituted(props["DefinitionString"], props.pop("DefinitionSubstitutions"))
    return prepared


def _drop_stage_tags(props: dict[str, Any]) -> None:
    """Without the stage's cost-allocation tags (crewhouse_cdk.stage): moto's CloudFormation reads some types' tags
    in another shape (a KMS key's as TagKey/TagValue, failing the stack), and nothing local reads them."""
    for name in [n for n in props if n.endswith("Tags")]:
        tags = props[name]
        if isinstance(tags, list):
            tags = [t for t in tags if not (isinstance(t, dict) and t.get("Key") in STAGE_TAGS)]
        elif isinstance(tags, dict):
            tags = {k: v for k, v in tags.items() if k not in STAGE_TAGS}
        if tags:
            props[name] = tags
        else:
            del props[name]


def substituted(definition: Any, substitutions: dict[str, Any]) -> Any:
    """``${Name}`` placeholders replaced by their values, as an ``Fn::Join`` moto resolves.

    Not ``Fn::Sub``: moto runs its mappings through ``string.Template``, which turns the ``$$`` of ASL context
    paths (``$$.Task.Token``) into ``$``.
    """
    if not isinstance(definition, str):
        return definition
    pattern = re.compile(r"\$\{(" + "|".join(re.escape(k) for k in substitutions) + r")\}")
    parts: list[Any] = []
    position = 0
    for match in pattern.finditer(definition):
        parts.extend([definition[position:match.start()], substitutions[match.group(1)]])
        position = match.end()
    parts.append(definition[position:])
    return {"Fn::Join": ["", parts]}


def _one_shot_client(service: str) -> Any:
    """A client of the embedded cloud without a read timeout or retries (for a request that must run once)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(service, region_name=endpoint.region(), endpoint_url=endpoint.endpoint_url(),
                                          aws_access_key_id="test", aws_secret_access_key="test",
                                          config=Config(read_timeout=900, retries={"total_max_attempts": 1}))


def _wait_for_stack(cloudformation: Any, stack_name: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if status.endswith("_COMPLETE") and "ROLLBACK" not in status:
            return dict(stack)
        if "FAILED" in status or "ROLLBACK" in status or time.monotonic() > deadline:
            events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
            reasons = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}" for e in events
                       if e.get("ResourceStatusReason")]
            raise RuntimeError(f"stack {stack_name} ended {status}: {reasons[:5]}")
        time.sleep(0.1)


def apply_time_to_live(template: dict[str, Any], resources: dict[str, str]) -> list[str]:
    dynamodb = local_client("dynamodb")
    enabled = []
    for logical_id, resource in template["Resources"].items():
        spec = resource.get("Properties", {}).get("TimeToLiveSpecification")
        if resource["Type"] == "AWS::DynamoDB::Table" and spec and spec.get("Enabled"):
            table = resources[logical_id]
            dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": spec["AttributeName"]})
            enabled.append(table)
    return enabled


def apply_bucket_configuration(template: dict[str, Any], resources: dict[str, str]) -> list[str]:
    """EventBridge notifications and versioning of the template's buckets; returns the buckets changed."""
    s3 = local_client("s3")
    changed = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::S3::Bucket":
            continue
        props = resource.get("Properties", {})
        bucket = resources[logical_id]
        eventbridge = props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {})
        if eventbridge.get("EventBridgeEnabled") in (True, "true"):
            s3.put_bucket_notification_configuration(Bucket=bucket,
                                                     NotificationConfiguration={"EventBridgeConfiguration": {}})
            changed.append(bucket)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            changed.append(bucket)
    return sorted(set(changed))


def apply_files_cors(stack: DeployedStack, origins: list[str]) -> list[str]:
    """The template's CORS rules of the files bucket (``Custom::FilesBucketCors``, left out of the deploy), for
    the local console's ``origins`` instead of the CloudFront one; returns the buckets changed. moto answers the
    browser's preflight from the bucket's rules, so uploads from any other origin are refused, as in AWS."""
    s3 = local_client("s3")
    changed = []
    for resource in stack.template["Resources"].values():
        if resource["Type"] != FILES_CORS_RESOURCE_TYPE:
            continue
        props = resource["Properties"]
        bucket = props["BucketName"]
        if isinstance(bucket, dict):  # {"Ref": <the bucket's logical id>} once the nested stacks are folded in
            bucket = stack.resources[bucket["Ref"]]
        rules = [{**rule, "AllowedOrigins": origins} for rule in props["CorsRules"]]
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
        changed.append(bucket)
    return changed


def deploy_stack(assembly_dir: Path, stack_name: str, region: str,
                 transform: TemplateTransform | None = None) -> DeployedStack:
    """Publish assets, create the stack, and apply what moto's CloudFormation leaves out.

    ``transform`` edits a copy of the synthesized template first (tests deploy e.g. a role without a grant)."""
    from crewhouse.local import cfn_providers

    cfn_providers.install()
    template = stack_template(assembly_dir, stack_name)
    if transform is not None:
        template = transform(copy.deepcopy(template))
    publish_assets(assembly_dir, stack_name, region)
    cloudformation = local_client("cloudformation")
    # moto creates the whole stack inside the CreateStack request. On a busy machine (test tiers side by side)
    # that can outlast botocore's 60 s read timeout, and its retry then fails with AlreadyExistsException:
    # this one request waits as long as it takes, and is never retried.
    _one_shot_client("cloudformation").create_stack(
        StackName=stack_name, TemplateBody=json.dumps(prepare_template(template)),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
    stack = _wait_for_stack(cloudformation, stack_name)
    paginator = cloudformation.get_paginator("list_stack_resources")
    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for page in paginator.paginate(StackName=stack_name) for r in page["StackResourceSummaries"]
    }
    apply_time_to_live(template, resources)
    apply_bucket_configuration(template, resources)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return DeployedStack(name=stack_name, outputs=outputs, resources=resources, template=template)



__all__ = ["DeployedStack", "apply_files_cors", "deploy_stack", "prepare_template", "publish_assets"]
