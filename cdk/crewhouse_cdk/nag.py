"""cdk-nag AwsSolutions acknowledgments: each one is scoped to the construct it concerns and says why."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

BASIC_EXECUTION_ROLE = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
)


def nag_arn(scope: IConstruct, service: str, resource: str, *, region: str | None = None,
            account: str | None = None) -> str:
    """An ARN of this stack as cdk-nag writes it in a finding: the partition, region and account literal when
    the stack has them (``cdk synth``/``deploy`` with credentials and a region), ``<AWS::Region>`` … when the
    template is environment-agnostic (tests, the embedded cloud). ``region``/``account`` override them."""
    stack = cdk.Stack.of(scope)

    def shown(value: str, pseudo: str) -> str:
        return f"<AWS::{pseudo}>" if cdk.Token.is_unresolved(value) else value

    region = shown(stack.region, "Region") if region is None else region
    account = shown(stack.account, "AccountId") if account is None else account
    return f"arn:{shown(stack.partition, 'Partition')}:{service}:{region}:{account}:{resource}"


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=finding, reason=reason))


def acknowledge_function_findings(scope: IConstruct) -> None:
    """Findings every Crewhouse Lambda function shares."""
    acknowledge(scope, BASIC_EXECUTION_ROLE,
                "The managed basic-execution policy only lets the function write its own CloudWatch logs.")
    acknowledge(scope, "AwsSolutions-IAM5[Resource::*]",
                "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.")
    acknowledge(scope, "AwsSolutions-L1",
                "Python 3.13 is the runtime the design card fixes; runtime upgrades are deliberate, tested changes.")


def logical_id(construct: IConstruct) -> str:
    default = construct.node.default_child
    assert isinstance(default, cdk.CfnElement)
    return cdk.Stack.of(construct).get_logical_id(default)


def acknowledge_index_access(grantee: IConstruct, table: IConstruct) -> None:
    """Queries need ``<table>/index/*``: the grant covers this table's own indexes and nothing else."""
    acknowledge(grantee, f"AwsSolutions-IAM5[Resource::<{logical_id(table)}.Arn>/index/*]",
                "Queries read the table's own global secondary indexes; the grant names no other table.")


def acknowledge_function_versions(grantee: IConstruct, function: IConstruct) -> None:
    acknowledge(grantee, f"AwsSolutions-IAM5[Resource::<{logical_id(function)}.Arn>:*]",
                "Invoke is granted on the function and its versions; it names no other function.")
