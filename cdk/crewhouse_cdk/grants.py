"""Grants CDK's own helpers make broader than a function needs."""

from __future__ import annotations

from aws_cdk import aws_iam as iam


def grant_pass_role_to_scheduler(role: iam.IRole, grantee: iam.IGrantable) -> None:
    """``iam:PassRole`` on ``role``, only to EventBridge Scheduler (``Role.grant_pass_role`` names no service)."""
    grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
        actions=["iam:PassRole"], resources=[role.role_arn],
        conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
    ))
