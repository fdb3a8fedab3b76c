"""Nested stacks folded into the parent's template for the embedded cloud (crewhouse.local.nested_stacks):
a small CDK app whose nested stack reads a parent resource and whose parent reads a nested output, synthesized,
folded and deployed into moto's CloudFormation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from moto import mock_aws

from crewhouse.local.deploy import prepare_template
from crewhouse.local.nested_stacks import NestedStackError, fold_nested_stacks, nested_template_files, stack_template


@pytest.fixture(scope="module")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("nested.out")
    app = cdk.App(outdir=str(outdir))
    parent = cdk.Stack(app, "Parent")
    table = dynamodb.Table(parent, "Table", partition_key=dynamodb.Attribute(
        name="PK", type=dynamodb.AttributeType.STRING), billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST)
    child = cdk.NestedStack(parent, "Child")
    grandchild = cdk.NestedStack(child, "Grandchild")
    queue = sqs.Queue(child, "Queue", queue_name=cdk.Fn.join("-", [table.table_name, "queue"]))
    deep = sqs.Queue(grandchild, "Deep", queue_name=cdk.Fn.join("-", [queue.queue_name, "deep"]))
    ssm.StringParameter(parent, "QueueUrl", parameter_name="/nested/queue-url", string_value=queue.queue_url)
    ssm.StringParameter(parent, "DeepName", parameter_name="/nested/deep-name", string_value=deep.queue_name)
    app.synth()
    return outdir


def types(template: dict[str, Any]) -> list[str]:
    return sorted(r["Type"] for r in template["Resources"].values())


def test_the_folded_template_holds_every_stacks_resources_and_no_nested_stack(assembly: Path) -> None:
    parent = json.loads((assembly / "Parent.template.json").read_text())
    assert "AWS::CloudFormation::Stack" in types(parent)
    folded = stack_template(assembly, "Parent")
    assert "AWS::CloudFormation::Stack" not in types(folded)
    assert types(folded).count("AWS::SQS::Queue") == 2
    assert "referenceto" not in json.dumps(folded)  # every nested stack parameter replaced by its value
    assert "Outputs." not in json.dumps(folded["Resources"])


def test_the_folded_template_deploys_with_every_reference_resolved(assembly: Path) -> None:
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name="us-east-1")
        cloudformation.create_stack(StackName="Parent",
                                    TemplateBody=json.dumps(prepare_template(stack_template(assembly, "Parent"))))
        table = boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"][0]
        ssm_client = boto3.client("ssm", region_name="us-east-1")
        url = ssm_client.get_parameter(Name="/nested/queue-url")["Parameter"]["Value"]
        deep = ssm_client.get_parameter(Name="/nested/deep-name")["Parameter"]["Value"]
    assert url.endswith(f"/{table}-queue")
    assert deep == f"{table}-queue-deep"


def test_a_clash_of_logical_ids_is_refused(assembly: Path) -> None:
    parent = json.loads((assembly / "Parent.template.json").read_text())
    nested = next(k for k, r in parent["Resources"].items() if r["Type"] == "AWS::CloudFormation::Stack")
    child_file = next(assembly.glob("*Child*.nested.template.json"))
    child = json.loads(child_file.read_text())  # the clash: a parent resource with a nested resource's id
    clashing = next(k for k, r in child["Resources"].items() if r["Type"] == "AWS::SQS::Queue")
    parent["Resources"][clashing] = {"Type": "AWS::SQS::Queue"}
    assert nested in parent["Resources"]
    with pytest.raises(NestedStackError, match=clashing):
        fold_nested_stacks(parent, nested_template_files(assembly, "Parent"))
