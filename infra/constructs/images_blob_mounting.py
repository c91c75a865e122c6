"""ECR's BLOB_MOUNTING registry setting, enabled at deploy, so promotion mounts blobs instead of sending them again."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

SETTING = "BLOB_MOUNTING"


class RegistryBlobMounting(Construct):
    """Sets the registry's ``BLOB_MOUNTING`` account setting to ``ENABLED`` (``ecr:PutAccountSetting``).

    ECR honours a cross-repository mount only with this setting on, and only between repositories
    with identical encryption (every repository here uses the image mirror's KMS key):
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/blob-mounting.html. Without it promotion
    still works but sends every blob's bytes again. The setting is per account and region, so the
    stack leaves it on when deleted: other workloads may rely on it, and turning it off unmounts
    nothing already pushed.
    """

    def __init__(self, scope: Construct, construct_id: str, *, log_retention: logs.RetentionDays) -> None:
        super().__init__(scope, construct_id)
        # The operation and its fields as botocore's ecr 2015-09-21 model has them:
        # PutAccountSetting{name, value}, value ENABLED | DISABLED for BLOB_MOUNTING.
        enable = cr.AwsSdkCall(
            service="ECR",
            action="PutAccountSetting",
            parameters={"name": SETTING, "value": "ENABLED"},
            physical_resource_id=cr.PhysicalResourceId.of(f"ecr-account-setting-{SETTING}"),
        )
        log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=cdk.RemovalPolicy.RETAIN)
        # Its own role with only its own log group (the managed basic-execution policy would grant every group).
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn, f"{log_group.log_group_arn}:*"],
            )
        )
        self.resource = cr.AwsCustomResource(
            self,
            "Setting",
            on_create=enable,
            on_update=enable,
            # ecr:PutAccountSetting takes no resource ARN (an account-level setting), so "*" is the narrowest:
            # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["ecr:PutAccountSetting"], resources=["*"])]
            ),
            role=role,
            log_group=log_group,
            install_latest_aws_sdk=False,
        )
        cdk.Validations.of(self).acknowledge(
            cdk.Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::<{_logical_id(log_group)}.Arn>:*]",
                reason="Log streams are created at run time inside this custom resource's own log group only.",
            ),
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="ecr:PutAccountSetting is an account-level action that supports no resource-level permissions.",
            ),
        )


def _logical_id(construct: Construct) -> str:
    default = construct.node.default_child
    assert isinstance(default, cdk.CfnElement)
    return cdk.Stack.of(construct).get_logical_id(default)
