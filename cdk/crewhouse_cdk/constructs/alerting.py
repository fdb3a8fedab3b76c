"""Alarms reach a person: the stage's alarms topic, which every alarm of the app notifies
(:class:`crewhouse_cdk.constructs.monitoring.NotifyOnAlarm`), with an e-mail subscription to the address the deploy
gives (the ``AlarmEmail`` parameter: ``cdk deploy --parameters AlarmEmail=ops@example.com``) and, when the
``crewhouse:alarmChatWebhookSecretArn`` context names a secret holding a Slack-compatible incoming webhook URL, a
small function that posts each alarm to that channel (``crewhouse.operations.alarm_chat``).

The topic is encrypted with a key of its own: CloudWatch publishes to an encrypted topic only with a key whose policy
lets ``cloudwatch.amazonaws.com`` use it (the AWS-managed SNS key does not).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers

ALARM_EMAIL_PARAMETER = "AlarmEmail"
CHAT_WEBHOOK_CONTEXT = "crewhouse:alarmChatWebhookSecretArn"
RUNBOOK_BASE_CONTEXT = "crewhouse:runbookBaseUrl"  # e.g. https://github.com/<org>/crewhouse/blob/main/docs/runbooks.md


class Alerting(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, layers: DependencyLayers) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        key = kms.Key(self, "AlarmsKey", enable_key_rotation=True,
                      description="Encrypts the alarms topic; CloudWatch alarms may publish with it")
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(self, "AlarmsTopic", display_name="Crewhouse alarms", master_key=key,
                               enforce_ssl=True)
        # A stack-level parameter, so that its name is exactly AlarmEmail on the deploy command line.
        email = cdk.CfnParameter(stack, ALARM_EMAIL_PARAMETER, type="String", default="",
                                 description="Where alarms are e-mailed (SNS asks the address to confirm); empty: none")
        wanted = cdk.CfnCondition(self, "HasAlarmEmail", expression=cdk.Fn.condition_not(
            cdk.Fn.condition_equals(email.value_as_string, "")))
        subscription = sns.CfnSubscription(self, "AlarmEmailSubscription", topic_arn=self.topic.topic_arn,
                                           protocol="email", endpoint=email.value_as_string)
        subscription.cfn_options.condition = wanted
        self.chat_function: lambda_.Function | None = None
        secret_arn = self.node.try_get_context(CHAT_WEBHOOK_CONTEXT)
        if secret_arn:
            self.chat_function = self._chat(str(secret_arn), layers)

    def _chat(self, secret_arn: str, layers: DependencyLayers) -> lambda_.Function:
        runbooks = self.node.try_get_context(RUNBOOK_BASE_CONTEXT) or "docs/runbooks.md"
        function = CrewhouseFunction(
            self, "AlarmChat", handler="crewhouse.operations.alarm_chat.handler", layers=layers, memory_size=256,
            description="Posts the alarms topic's messages to the operators' chat channel (an incoming webhook)",
            environment={"ALARM_CHAT_WEBHOOK_SECRET_ARN": secret_arn, "RUNBOOK_BASE_URL": str(runbooks)},
        ).function
        # The secret is the deployer's (named by its ARN): read it, nothing else.
        function.add_to_role_policy(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"],
                                                        resources=[secret_arn]))
        self.topic.add_subscription(subscriptions.LambdaSubscription(function))
        return function
