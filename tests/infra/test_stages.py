"""Stages (issue 21): two stages synthesized into one cloud assembly share no physical name, and every taggable
resource of both (nested stacks' too) carries the project, stage and context tags.

*Physical names* are the name-defining properties of :data:`NAME_PROPERTIES` (a name that must be unique in an
account and region), compared as CloudFormation would resolve them in one account and region: ``{"Ref":
"AWS::AccountId"}`` is the same in both templates. Names scoped to a parent resource (an IAM inline policy, an API's
stage, a configuration set's event destination) cannot collide across stages and are not in the table; a literal
``*Name`` property of a type in neither table fails :func:`test_every_literal_name_property_is_classified`, so a
new named resource is never silently skipped.

*Taggable* is a resource type whose CDK L1 class supports tags (``cdk.TagManager.of`` returns a tag manager: the
type has a ``Tags``-like property in the CloudFormation resource specification). Every template resource of such a
type must carry the tags, including resources CDK builds as raw ``CfnResource`` (which ``Tags.of`` does not reach).
Exempt, because CloudFormation cannot tag them: custom resources (``Custom::*``) and any type with no tag property.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from constructs import IConstruct

from crewhouse.local.nested_stacks import nested_template_files
from crewhouse_cdk.app import FEATURE_FLAGS, STACK_NAME, build_stage
from crewhouse_cdk.stage import DEFAULT_STAGE, stack_name, staged, validate_stage

STAGES = ("dev", "prod")
TAGS = ("project", "stage", "context")
CONTEXTS = {"platform", "tasks", "notes", "files", "jobs", "mcp", "chat", "bus", "crews", "flows", "tools",
            "providers", "notifications", "realtime", "console", "operations"}
# Resource type -> the property that names it, unique per account and region.
NAME_PROPERTIES = {
    "AWS::ApiGatewayV2::Api": "Name",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::CompositeAlarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::CodeDeploy::Application": "ApplicationName",
    "AWS::CodeDeploy::DeploymentGroup": "DeploymentGroupName",
    "AWS::Cognito::UserPool": "UserPoolName",
    "AWS::Cognito::UserPoolDomain": "Domain",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::Role": "RoleName",
    "AWS::KMS::Alias": "AliasName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::SES::ConfigurationSet": "Name",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SSM::Parameter": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::CloudFront::OriginAccessControl": "Name",
    "AWS::CloudFront::ResponseHeadersPolicy": "Name",
    "AWS::CloudFront::CachePolicy": "Name",
}
# Named within a parent resource, a reference to another resource, or not a name at all: no collision across
# stages is possible.
SCOPED_NAME_PROPERTIES = {
    ("AWS::ApiGatewayV2::Stage", "StageName"), ("AWS::ApiGatewayV2::Authorizer", "Name"),
    ("AWS::IAM::Policy", "PolicyName"), ("AWS::SES::ConfigurationSetEventDestination", "ConfigurationSetName"),
    ("AWS::Lambda::Alias", "Name"), ("AWS::Cognito::UserPoolResourceServer", "Name"),
    ("AWS::Events::Rule", "EventBusName"), ("AWS::CloudWatch::Alarm", "MetricName"), ("AWS::SNS::Topic", "DisplayName"),
    ("AWS::CodeDeploy::DeploymentGroup", "DeploymentConfigName"),
}


@dataclass
class StageAssembly:
    outdir: Path
    stacks: dict[str, cdk.Stack]

    def templates(self, stage: str) -> dict[str, dict[str, Any]]:
        """The stage's stack template and each nested stack's, by file name."""
        name = self.stacks[stage].artifact_id
        files = [self.outdir / self.stacks[stage].template_file, *nested_template_files(self.outdir, name).values()]
        return {path.name: json.loads(path.read_text()) for path in sorted(set(files))}

    def resources(self, stage: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(template file, logical id, resource) of every resource of the stage, nested stacks' included."""
        for file, template in self.templates(stage).items():
            for logical_id, resource in template.get("Resources", {}).items():
                yield file, logical_id, resource


def _cfn_resources(scope: IConstruct) -> Iterator[cdk.CfnResource]:
    for construct in scope.node.find_all():
        if isinstance(construct, cdk.CfnResource):
            yield construct


@pytest.fixture(scope="module")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> StageAssembly:
    outdir = tmp_path_factory.mktemp("stages.out")
    app = cdk.App(outdir=str(outdir), context={**FEATURE_FLAGS, "crewhouse:layer": "skip"})
    stacks: dict[str, cdk.Stack] = {stage: build_stage(app, stage, env=cdk.Environment()) for stage in STAGES}
    app.synth()
    return StageAssembly(outdir=outdir, stacks=stacks)


@pytest.fixture(scope="module")
def tag_properties(assembly: StageAssembly) -> dict[str, str]:
    """Taggable resource type -> its tag property (``Tags``, ``UserPoolTags`` …), from CDK's L1 classes."""
    found: dict[str, str] = {}
    for stack in assembly.stacks.values():
        for resource in _cfn_resources(stack):
            manager = cdk.TagManager.of(resource)
            if manager is not None:  # the L1's property name (``tags``), the template's is capitalized
                name = manager.tag_property_name
                found[resource.cfn_resource_type] = name[:1].upper() + name[1:]
    return found


def _tags(value: Any) -> dict[str, Any]:
    """A template's tags as a mapping, whether written as ``[{"Key", "Value"}]`` or as ``{key: value}``."""
    if isinstance(value, list):
        return {tag["Key"]: tag["Value"] for tag in value}
    return dict(value or {})


def test_the_dev_stage_keeps_the_stack_name_the_embedded_cloud_deploys() -> None:
    assert stack_name(DEFAULT_STAGE) == STACK_NAME == "Crewhouse"
    assert stack_name("prod") == "Crewhouse-prod"


@pytest.mark.parametrize("stage", ["Prod", "pr_1", "", "a" * 13, "-prod", "prod-", "prød"])
def test_a_malformed_stage_name_is_refused(stage: str) -> None:
    with pytest.raises(ValueError, match="crewhouse:stage"):
        validate_stage(stage)


def test_a_stage_goes_after_the_project_name_so_dev_prefixes_never_cover_it() -> None:
    assert staged("crewhouse-bus", "prod") == "crewhouse-prod-bus"
    assert not staged("crewhouse-bus", "prod").startswith("crewhouse-bus")
    assert staged("crewhouse/tools", "staging") == "crewhouse-staging/tools"
    assert staged("Crewhouse", "prod") == "Crewhouse-prod"
    assert staged("crewhouse-jobs", DEFAULT_STAGE) == "crewhouse-jobs"


def test_both_stages_are_stacks_of_one_assembly_with_their_own_names(assembly: StageAssembly) -> None:
    assert {stage: stack.stack_name for stage, stack in assembly.stacks.items()} == {
        "dev": "Crewhouse", "prod": "Crewhouse-prod"}
    for stage in STAGES:
        assert len(assembly.templates(stage)) > 1, "the nested stacks' templates are part of the check"


def test_no_physical_name_collides_across_the_two_stages(assembly: StageAssembly) -> None:
    owners: dict[str, list[str]] = {}
    for stage in STAGES:
        for file, logical_id, resource in assembly.resources(stage):
            prop = NAME_PROPERTIES.get(resource["Type"])
            value = resource.get("Properties", {}).get(prop) if prop else None
            if value is not None:
                key = json.dumps([resource["Type"], value], sort_keys=True)
                owners.setdefault(key, []).append(f"{stage}:{file}:{logical_id}")
    assert owners, "no named resource found: the check would prove nothing"
    collisions = {key: where for key, where in owners.items() if len(where) > 1}
    assert not collisions


def test_named_resources_of_the_prod_stage_carry_its_name(assembly: StageAssembly) -> None:
    """The check above is not vacuous: the dev stage's names are today's, prod's each name the stage."""
    names = {stage: {json.dumps(resource["Properties"][NAME_PROPERTIES[resource["Type"]]])
                     for _, _, resource in assembly.resources(stage)
                     if resource["Type"] in NAME_PROPERTIES
                     and NAME_PROPERTIES[resource["Type"]] in resource.get("Properties", {})}
             for stage in STAGES}
    assert '"crewhouse"' in names["dev"] and '"crewhouse-prod"' in names["prod"]  # the event bus
    assert '"Crewhouse"' in names["dev"] and '"Crewhouse-prod"' in names["prod"]  # the dashboard
    assert all("prod" in name for name in names["prod"]), names["prod"]


def test_every_literal_name_property_is_classified(assembly: StageAssembly) -> None:
    unclassified = set()
    for stage in STAGES:
        for _, _, resource in assembly.resources(stage):
            for prop, value in resource.get("Properties", {}).items():
                kind = resource["Type"]
                if (prop.endswith("Name") or prop == "Name") and isinstance(value, str) \
                        and NAME_PROPERTIES.get(kind) != prop and (kind, prop) not in SCOPED_NAME_PROPERTIES:
                    unclassified.add((kind, prop))
    assert not unclassified


def test_every_taggable_resource_of_both_stages_carries_the_three_tags(
        assembly: StageAssembly, tag_properties: dict[str, str]) -> None:
    missing: list[str] = []
    checked = 0
    for stage in STAGES:
        for file, logical_id, resource in assembly.resources(stage):
            prop = tag_properties.get(resource["Type"])
            if prop is None:
                continue
            checked += 1
            tags = _tags(resource.get("Properties", {}).get(prop))
            if tags.get("project") != "crewhouse" or tags.get("stage") != stage or tags.get("context") not in CONTEXTS:
                missing.append(f"{stage}:{file}:{logical_id} ({resource['Type']}): {tags}")
    assert checked > 100
    assert not missing, f"{len(missing)} of {checked} untagged: {missing[:20]}"


def test_a_capability_s_resources_carry_its_context(assembly: StageAssembly) -> None:
    """The closer ``context`` tag wins over the stack's ``platform`` default."""
    for stage in STAGES:
        stack = assembly.stacks[stage]
        for path, context in (("Tasks/TasksTable", "tasks"), ("Storage/EventBus", "platform"),
                              ("Alerting/AlarmsTopic", "operations")):
            node: IConstruct = stack
            for part in path.split("/"):
                node = node.node.find_child(part)
            resource = node.node.default_child
            assert isinstance(resource, cdk.CfnResource)
            manager = cdk.TagManager.of(resource)
            assert manager is not None
            assert manager.tag_values()["context"] == context, path
