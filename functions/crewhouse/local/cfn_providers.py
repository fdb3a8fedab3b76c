"""CloudFormation resource types that moto's CloudFormation lacks, created through the moto APIs.

Covers: moto's CloudFormation skips ``AWS::Cognito::*``, ``AWS::ApiGatewayV2::*``,
``AWS::SecretsManager::Secret``, ``AWS::S3::BucketPolicy``, ``AWS::CloudWatch::Alarm``,
``AWS::SQS::QueuePolicy``, ``AWS::SNS::Subscription``, ``AWS::SNS::TopicPolicy``, ``AWS::Scheduler::*``,
``AWS::SES::ConfigurationSet`` (and its event destinations), ``AWS::GuardDuty::MalwareProtectionPlan`` and
``AWS::CloudFront::*`` (the console's distribution; it logs
"No Moto CloudFormation support" and creates nothing, so every ``Ref`` to them breaks). moto builds its type
registry from the direct subclasses of ``CloudFormationModel``; each provider below is one, so moto's own
template engine orders, resolves (``Ref``/``Fn::GetAtt``) and creates them like any other resource.

Each provider maps the resource's properties onto the matching moto API call, keeping only the
parameters that call accepts (read from botocore's service model).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.core.common_models import CloudFormationModel

from crewhouse.local import patches
from crewhouse.local.endpoint import local_client

Props = dict[str, Any]


@dataclass(frozen=True)
class ProviderSpec:
    resource_type: str
    service: str
    operation: str  # boto3 method name
    physical_id: Callable[[Props, dict[str, Any]], str]  # (sent params, response) -> Ref value
    attributes: Callable[[Props, dict[str, Any]], dict[str, Any]] = lambda params, response: {}
    prepare: Callable[[str, Props], Props] = lambda name, props: props  # CFN props -> API params
    name_property: str = ""
    extra_calls: Callable[[Any, Props, dict[str, Any]], None] | None = None
    aliases: dict[str, str] = field(default_factory=dict)


def _accepted(service: str, operation: str, params: Props) -> Props:
    """Keep only the parameters the API operation accepts (CloudFormation has extra properties)."""
    client = local_client(service)
    op_name = client.meta.method_to_api_mapping[operation]
    members = client.meta.service_model.operation_model(op_name).input_shape.members
    return {k: v for k, v in params.items() if k in members and v is not None}


def _renamed(props: Props, renames: dict[str, str]) -> Props:
    return {renames.get(k, k): v for k, v in props.items()}


def _region() -> str:
    return str(local_client("sts").meta.region_name)


def _generated_secret(props: Props) -> str:
    generator = props.get("GenerateSecretString")
    if not generator:
        return str(props.get("SecretString", ""))
    value = secrets.token_urlsafe(int(generator.get("PasswordLength", 32)))[: int(generator.get("PasswordLength", 32))]
    template, key = generator.get("SecretStringTemplate"), generator.get("GenerateStringKey")
    if template and key:
        document = json.loads(template)
        document[key] = value
        return json.dumps(document)
    return value


def _user_pool_attributes(params: Props, response: dict[str, Any]) -> dict[str, Any]:
    pool = response["UserPool"]
    provider = f"cognito-idp.{_region()}.amazonaws.com/{pool['Id']}"
    return {"Arn": pool["Arn"], "UserPoolId": pool["Id"], "ProviderName": provider,
            "ProviderURL": f"https://{provider}"}


SPECS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        "AWS::Cognito::UserPool", "cognito-idp", "create_user_pool",
        physical_id=lambda p, r: r["UserPool"]["Id"], attributes=_user_pool_attributes,
        prepare=lambda name, props: {"PoolName": props.get("UserPoolName") or name, **props},
        name_property="UserPoolName",
    ),
    ProviderSpec(
        "AWS::Cognito::UserPoolClient", "cognito-idp", "create_user_pool_client",
        physical_id=lambda p, r: r["UserPoolClient"]["ClientId"],
        attributes=lambda p, r: {"ClientId": r["UserPoolClient"]["ClientId"],
                                 "ClientSecret": r["UserPoolClient"].get("ClientSecret"),
                                 "Name": r["UserPoolClient"]["ClientName"]},
        prepare=lambda name, props: {"ClientName": props.get("ClientName") or name, **props},
    ),
    ProviderSpec(
        "AWS::Cognito::UserPoolGroup", "cognito-idp", "create_group",
        physical_id=lambda p, r: r["Group"]["GroupName"],
        prepare=lambda name, props: {"GroupName": props.get("GroupName") or name, **props},
    ),
    ProviderSpec(
        "AWS::Cognito::UserPoolResourceServer", "cognito-idp", "create_resource_server",
        physical_id=lambda p, r: r["ResourceServer"]["Identifier"],
    ),
    ProviderSpec(
        "AWS::Cognito::UserPoolDomain", "cognito-idp", "create_user_pool_domain",
        physical_id=lambda p, r: p["Domain"],
        attributes=lambda p, r: {"CloudFrontDistribution": r.get("CloudFrontDomain", "")},
    ),
    ProviderSpec(
        "AWS::ApiGatewayV2::Api", "apigatewayv2", "create_api",
        physical_id=lambda p, r: r["ApiId"],
        attributes=lambda p, r: {"ApiId": r["ApiId"], "ApiEndpoint": r.get("ApiEndpoint", "")},
        prepare=lambda name, props: {"Name": props.get("Name") or name, **props},
    ),
    ProviderSpec(
        "AWS::ApiGatewayV2::Authorizer", "apigatewayv2", "create_authorizer",
        physical_id=lambda p, r: r["AuthorizerId"], attributes=lambda p, r: {"AuthorizerId": r["AuthorizerId"]},
    ),
    ProviderSpec(
        "AWS::ApiGatewayV2::Integration", "apigatewayv2", "create_integration",
        physical_id=lambda p, r: r["IntegrationId"],
    ),
    ProviderSpec(
        "AWS::ApiGatewayV2::Route", "apigatewayv2", "create_route",
        physical_id=lambda p, r: r["RouteId"],
    ),
    ProviderSpec(
        "AWS::ApiGatewayV2::Stage", "apigatewayv2", "create_stage",
        physical_id=lambda p, r: r["StageName"],
    ),
    ProviderSpec(
        "AWS::Lambda::EventInvokeConfig", "lambda", "put_function_event_invoke_config",
        physical_id=lambda p, r: f"{p['FunctionName']}:{p.get('Qualifier', '$LATEST')}",
    ),
    ProviderSpec(
        "AWS::SecretsManager::Secret", "secretsmanager", "create_secret",
        physical_id=lambda p, r: r["ARN"], attributes=lambda p, r: {"Id": r["ARN"]},
        prepare=lambda name, props: {"Name": props.get("Name") or name, "SecretString": _generated_secret(props),
                                     **{k: v for k, v in props.items() if k in ("Description", "Tags")}},
        name_property="Name",
    ),
    ProviderSpec(
        "AWS::S3::BucketPolicy", "s3", "put_bucket_policy",
        physical_id=lambda p, r: p["Bucket"],
        prepare=lambda name, props: {"Bucket": props["Bucket"], "Policy": json.dumps(props["PolicyDocument"])},
    ),
    ProviderSpec(
        "AWS::CloudWatch::Alarm", "cloudwatch", "put_metric_alarm",
        physical_id=lambda p, r: p["AlarmName"],
        attributes=lambda p, r: {"Arn": f"arn:aws:cloudwatch:{_region()}:123456789012:alarm:{p['AlarmName']}"},
        prepare=lambda name, props: {"AlarmName": props.get("AlarmName") or name, **props},
        name_property="AlarmName",
    ),
    ProviderSpec(  # the alarms topic's e-mail subscription (moto keeps it pending confirmation, as SNS does)
        "AWS::SNS::Subscription", "sns", "subscribe",
        physical_id=lambda p, r: r["SubscriptionArn"],
    ),
    ProviderSpec(
        "AWS::Scheduler::ScheduleGroup", "scheduler", "create_schedule_group",
        physical_id=lambda p, r: p["Name"], attributes=lambda p, r: {"Arn": r["ScheduleGroupArn"]},
        prepare=lambda name, props: {"Name": props.get("Name") or name, **props},
        name_property="Name",
    ),
    ProviderSpec(
        "AWS::Scheduler::Schedule", "scheduler", "create_schedule",
        physical_id=lambda p, r: p["Name"], attributes=lambda p, r: {"Arn": r["ScheduleArn"]},
        prepare=lambda name, props: {"Name": props.get("Name") or name, **props},
        name_property="Name",
    ),
    ProviderSpec(  # SES v2 sends name the configuration set; moto refuses a set that does not exist
        "AWS::SES::ConfigurationSet", "sesv2", "create_configuration_set",
        physical_id=lambda p, r: p["ConfigurationSetName"],
        prepare=lambda name, props: {"ConfigurationSetName": props.get("Name") or name},
        name_property="Name",
    ),
    ProviderSpec(  # recorded in moto's SES (its v1 API: no EventBridge member there, and moto publishes no events;
        # the notifications' consumer of SES events is tested with sample events)
        "AWS::SES::ConfigurationSetEventDestination", "ses", "create_configuration_set_event_destination",
        physical_id=lambda p, r: p["EventDestination"]["Name"],
        prepare=lambda name, props: {
            "ConfigurationSetName": props.get("ConfigurationSetName"),
            "EventDestination": {"Name": (props.get("EventDestination") or {}).get("Name") or name,
                                 "Enabled": bool((props.get("EventDestination") or {}).get("Enabled", True)),
                                 "MatchingEventTypes": list((props.get("EventDestination") or {}).get(
                                     "MatchingEventTypes") or [])}},
    ),
    ProviderSpec(
        "AWS::CloudFront::OriginAccessControl", "cloudfront", "create_origin_access_control",
        physical_id=lambda p, r: r["OriginAccessControl"]["Id"],
        attributes=lambda p, r: {"Id": r["OriginAccessControl"]["Id"]},
    ),
    ProviderSpec(
        "AWS::CloudFront::Distribution", "cloudfront", "create_distribution",
        physical_id=lambda p, r: r["Distribution"]["Id"],
        attributes=lambda p, r: {"Id": r["Distribution"]["Id"], "DomainName": r["Distribution"]["DomainName"]},
        prepare=lambda name, props: {"DistributionConfig": {
            "CallerReference": name, **_in_api_shape(props["DistributionConfig"], _distribution_config_shape())}},
    ),
)


def _distribution_config_shape() -> Any:
    operation = local_client("cloudfront").meta.service_model.operation_model("CreateDistribution")
    return operation.input_shape.members["DistributionConfig"]


def _in_api_shape(value: Any, shape: Any) -> Any:
    """A CloudFormation property in the shape of the API's ``shape``: CloudFront's API wraps each list in
    ``{Quantity, Items}`` and types some scalars differently; members the API lacks are dropped."""
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        if isinstance(value, list) and {"Quantity", "Items"} <= members.keys():
            return {"Quantity": len(value), "Items": _in_api_shape(value, members["Items"])}
        if isinstance(value, dict):
            return {k: _in_api_shape(v, members[k]) for k, v in value.items() if k in members}
    if kind == "list" and isinstance(value, list):
        return [_in_api_shape(item, shape.member) for item in value]
    if kind == "string":
        return str(value)
    if kind == "boolean":
        return value in (True, "true")
    if kind in ("integer", "long"):
        return int(value)
    return value


def _set_queue_policies(props: Props) -> str:
    sqs = local_client("sqs")
    for queue_url in props.get("Queues", []):
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
    return ",".join(props.get("Queues", []))


def _set_topic_policies(props: Props) -> str:
    sns = local_client("sns")
    for topic_arn in props.get("Topics", []):
        sns.set_topic_attributes(TopicArn=topic_arn, AttributeName="Policy",
                                 AttributeValue=json.dumps(props["PolicyDocument"]))
    return ",".join(props.get("Topics", []))


class _ProvidedResource:
    """What moto's template engine needs of a created resource."""

    def __init__(self, physical_id: str, attributes: dict[str, Any]) -> None:
        self._physical_id = physical_id
        self._attributes = attributes

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name not in self._attributes:
            raise UnformattedGetAttTemplateException()
        return self._attributes[attribute_name]


def _make_provider(spec: ProviderSpec) -> type:
    def create(cls: type, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
               region_name: str, **kwargs: Any) -> _ProvidedResource:
        props = dict(cloudformation_json.get("Properties") or {})
        params = _accepted(spec.service, spec.operation, spec.prepare(resource_name, props))
        response = getattr(local_client(spec.service), spec.operation)(**params)
        return cls(spec.physical_id(params, response), spec.attributes(params, response))

    namespace = {
        "cloudformation_type": staticmethod(lambda: spec.resource_type),
        "cloudformation_name_type": staticmethod(lambda: spec.name_property),
        "has_cfn_attr": classmethod(lambda cls, attr: True),
        "create_from_cloudformation_json": classmethod(create),
        "update_from_cloudformation_json": classmethod(lambda cls, *a, **k: None),
        "delete_from_cloudformation_json": classmethod(lambda cls, *a, **k: None),
    }
    name = "Local" + spec.resource_type.replace("AWS::", "").replace("::", "")
    return type(name, (_ProvidedResource, CloudFormationModel), namespace)


def _policy_provider(resource_type: str, set_policies: Callable[[Props], str]) -> type:
    """A resource policy of several queues or topics (no ``Ref`` attribute worth having: their names joined)."""

    def create(cls: type, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
               region_name: str, **kwargs: Any) -> _ProvidedResource:
        return cls(set_policies(cloudformation_json.get("Properties") or {}), {})

    name = "Local" + resource_type.replace("AWS::", "").replace("::", "")
    return type(name, (_ProvidedResource, CloudFormationModel), {
        "cloudformation_type": staticmethod(lambda: resource_type),
        "cloudformation_name_type": staticmethod(lambda: ""),
        "has_cfn_attr": classmethod(lambda cls, attr: False),
        "create_from_cloudformation_json": classmethod(create),
        "update_from_cloudformation_json": classmethod(lambda cls, *a, **k: None),
        "delete_from_cloudformation_json": classmethod(lambda cls, *a, **k: None),
    })


def _malware_protection_plan_provider() -> type:
    """``AWS::GuardDuty::MalwareProtectionPlan``: moto has no GuardDuty malware protection, so this provider
    creates nothing in moto; it records the plan (bucket, prefixes, tagging) with the local scanner of
    :mod:`crewhouse.local.guardduty`, which then reports scan results for new objects as GuardDuty would."""

    def create(cls: type, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
               region_name: str, **kwargs: Any) -> _ProvidedResource:
        from crewhouse.local import guardduty

        plan = guardduty.register_plan(dict(cloudformation_json.get("Properties") or {}), region_name, account_id)
        return cls(plan.plan_id, {"Arn": plan.arn, "MalwareProtectionPlanId": plan.plan_id, "Status": "ACTIVE"})

    def delete(cls: type, resource_name: str, *args: Any, **kwargs: Any) -> None:
        from crewhouse.local import guardduty

        guardduty.forget_plan(resource_name)

    return type("LocalGuardDutyMalwareProtectionPlan", (_ProvidedResource, CloudFormationModel), {
        "cloudformation_type": staticmethod(lambda: "AWS::GuardDuty::MalwareProtectionPlan"),
        "cloudformation_name_type": staticmethod(lambda: ""),
        "has_cfn_attr": classmethod(lambda cls, attr: attr in ("Arn", "MalwareProtectionPlanId", "Status")),
        "create_from_cloudformation_json": classmethod(create),
        "update_from_cloudformation_json": classmethod(lambda cls, *a, **k: None),
        "delete_from_cloudformation_json": classmethod(delete),
    })


def _response_headers_policy_provider() -> type:
    """``AWS::CloudFront::ResponseHeadersPolicy``: moto has no response headers policies, and nothing is served
    through CloudFront locally (``crewhouse local`` serves the console itself); the policy only gets an id, so
    that the distribution naming it can be created."""

    def create(cls: type, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
               region_name: str, **kwargs: Any) -> _ProvidedResource:
        policy_id = str(uuid.uuid4())
        return cls(policy_id, {"Id": policy_id})

    return type("LocalCloudFrontResponseHeadersPolicy", (_ProvidedResource, CloudFormationModel), {
        "cloudformation_type": staticmethod(lambda: "AWS::CloudFront::ResponseHeadersPolicy"),
        "cloudformation_name_type": staticmethod(lambda: ""),
        "has_cfn_attr": classmethod(lambda cls, attr: attr == "Id"),
        "create_from_cloudformation_json": classmethod(create),
        "update_from_cloudformation_json": classmethod(lambda cls, *a, **k: None),
        "delete_from_cloudformation_json": classmethod(lambda cls, *a, **k: None),
    })


_PROVIDERS: list[type] = []


def install() -> list[str]:
    """Register the providers with moto (idempotent); returns the types covered."""
    from moto.cloudformation import parsing
    from moto.events.models import EventBus

    patches.patch(EventBus, "physical_resource_id", _EVENT_BUS_NAME, kind="accuracy", expect="absent",
                  reason="Ref of an AWS::Events::EventBus gives its name, as in CloudFormation (moto gives the model)")
    _create_state_machines_through_the_api()
    if not _PROVIDERS:
        _PROVIDERS.extend(_make_provider(spec) for spec in SPECS)
        _PROVIDERS.append(_policy_provider("AWS::SQS::QueuePolicy", _set_queue_policies))
        _PROVIDERS.append(_policy_provider("AWS::SNS::TopicPolicy", _set_topic_policies))
        _PROVIDERS.append(_malware_protection_plan_provider())
        _PROVIDERS.append(_response_headers_policy_provider())
        parsing.get_model_map.cache_clear()
        parsing.get_name_type_map.cache_clear()
    return sorted(p.cloudformation_type() for p in _PROVIDERS)  # type: ignore[attr-defined]


_EVENT_BUS_NAME = property(lambda bus: bus.name)


def _create_state_machine(cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
                          **kwargs: Any) -> Any:
    from moto.stepfunctions.responses import get_backend

    props = cloudformation_json["Properties"]
    params: Props = {"name": props.get("StateMachineName", resource_name),
                     "definition": props.get("DefinitionString", ""), "roleArn": props.get("RoleArn", ""),
                     "type": props.get("StateMachineType", "STANDARD")}
    if props.get("LoggingConfiguration"):
        params["loggingConfiguration"] = _lower_first(props["LoggingConfiguration"])
    if props.get("TracingConfiguration"):
        params["tracingConfiguration"] = _lower_first(props["TracingConfiguration"])
    arn = local_client("stepfunctions").create_state_machine(**params)["stateMachineArn"]
    return get_backend(account_id, region_name).describe_state_machine(arn)


_CREATE_STATE_MACHINE: classmethod[Any, ..., Any] = classmethod(_create_state_machine)


def _create_state_machines_through_the_api() -> None:
    """Covers: moto's CloudFormation creates ``AWS::StepFunctions::StateMachine`` in its plain Step Functions
    backend, while the API (with ``execute_state_machine`` on) serves the interpreter's backend, so the
    stack's state machine is invisible to ``StartExecution``. Create it through the API instead, keeping
    the type, logging and tracing configuration CloudFormation would pass."""
    from moto.stepfunctions.models import StateMachine

    patches.patch(StateMachine, "create_from_cloudformation_json", _CREATE_STATE_MACHINE, kind="accuracy",
                  reason="creates a stack's state machine through the API, where StartExecution finds it (moto's "
                         "CloudFormation puts it in a backend the interpreter does not serve)")


def _lower_first(value: Any) -> Any:
    """CloudFormation's PascalCase property names -> the Step Functions API's camelCase."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _lower_first(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_first(v) for v in value]
    return value
