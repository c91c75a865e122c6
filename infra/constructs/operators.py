"""The operators' topic: alarms and anything else people must act on (KMS-encrypted, TLS only)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct


class OperatorsTopic(Construct):
    """Subscribe the on-call channel (email, chat, pager) to ``topic``; every alarm of the stack goes there."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            enable_key_rotation=True,
            description="eksd-adopt operators' topic",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # CloudWatch alarms publish to an encrypted topic only if the alarm service may use the key.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": {"aws:SourceAccount": cdk.Stack.of(self).account}},
            )
        )
        self.topic = sns.Topic(
            self, "Topic", display_name="eksd-adopt operators", master_key=self.key, enforce_ssl=True
        )
        # enforce_ssl gives the topic a resource policy (a Deny of plain HTTP), and then only what the
        # policy allows may publish: CloudWatch alarms of this account must be allowed by name.
        # The topic policy for CloudWatch alarms, with aws:SourceArn / aws:SourceAccount against the confused
        # deputy: https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html; the key's side
        # (above): https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
        stack = cdk.Stack.of(self)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccountMayPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
