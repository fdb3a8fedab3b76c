"""Grants CDK's own helpers make broader than a function needs, and grants across nested stacks."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct


def grantee_here(scope: Construct, function: lambda_.Function) -> lambda_.Function | iam.IRole:
    """Whom ``scope``'s resources are granted to: the function itself when it is of ``scope``'s stack, else its
    role imported into ``scope``. Grants then become a policy of ``scope``'s stack on that role, which names this
    stack's resources as cdk-nag sees them here (in the function's stack they would be cross-stack references that
    no acknowledgment made here matches)."""
    if cdk.Stack.of(function) is cdk.Stack.of(scope):
        return function
    assert function.role is not None
    construct_id = f"Role{function.node.addr[:12]}"
    existing = scope.node.try_find_child(construct_id)
    if isinstance(existing, Construct):
        return existing  # type: ignore[return-value]  # the role this scope imported before
    return iam.Role.from_role_name(scope, construct_id, function.role.role_name, mutable=True)


def grant_pass_role_to_scheduler(role: iam.IRole, grantee: iam.IGrantable) -> None:
    """``iam:PassRole`` on ``role``, only to EventBridge Scheduler (``Role.grant_pass_role`` names no service)."""
    grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
        actions=["iam:PassRole"], resources=[role.role_arn],
        conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
    ))
