"""The release-events topic: KMS-encrypted, TLS-only, and subscribable by the configured accounts and organisation."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

RELEASE_EVENTS_TOPIC_NAME = "eksd-adopt-release-events"
# What subscribers may use: no plain http (unencrypted) and no SMS (no one reads JSON by text message).
SUBSCRIBE_PROTOCOLS = ("sqs", "lambda", "email", "email-json", "https")


class ReleaseEventsTopic(sns.Topic):
    """An SSE topic whose ``grant_publish`` names exact KMS actions.

    ``Topic.grant_publish`` on an encrypted topic grants ``kms:GenerateDataKey*``; publishing needs
    only ``kms:GenerateDataKey`` and ``kms:Decrypt``, so every construct given this topic
    (intake, workflow) gets least privilege without knowing it is encrypted.
    """

    def grant_publish(self, grantee: iam.IGrantable) -> iam.Grant:
        grant = iam.Grant.add_to_principal_or_resource(
            grantee=grantee, actions=["sns:Publish"], resource_arns=[self.topic_arn], resource=self
        )
        if self.master_key is not None:
            self.master_key.grant(grantee, "kms:Decrypt", "kms:GenerateDataKey")
        return grant


class ReleaseEvents(Construct):
    """``.topic`` carries every release event; ``grant_publish`` is the only way the service's functions may publish.

    Other accounts may only ``sns:Subscribe`` (with an allowed protocol): they cannot publish,
    change the topic or read its key.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        subscriber_accounts: Sequence[str] = (),
        subscriber_org_id: str | None = None,
        topic_name: str = RELEASE_EVENTS_TOPIC_NAME,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="eksd-adopt release-events topic",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        self.topic = ReleaseEventsTopic(
            self,
            "Topic",
            topic_name=topic_name,
            display_name="EKS-D release events",
            master_key=self.key,
            enforce_ssl=True,
        )
        # The topic lives as long as its key: deleting it would silently drop every subscription other
        # accounts made to it. Its name is fixed (subscribers know the ARN), so a retained topic is
        # imported into a new stack with `cdk import` (docs/operations.md).
        self.topic.apply_removal_policy(removal_policy)
        self._admit_subscribers(tuple(subscriber_accounts), subscriber_org_id)
        # Its policy stays with it: TLS only, and the subscriber accounts' right to subscribe.
        policy = self.topic.node.try_find_child("Policy")
        if isinstance(policy, sns.TopicPolicy):
            policy.apply_removal_policy(removal_policy)
        cdk.CfnOutput(
            self, "TopicArn", value=self.topic.topic_arn, description="EKSD_ADOPT_EVENTS_TOPIC_ARN for subscribers"
        )

    def _admit_subscribers(self, accounts: tuple[str, ...], org_id: str | None) -> None:
        # One statement per kind of principal: IAM cannot mix an organisation's condition with plain accounts.
        groups: list[tuple[str, list[iam.IPrincipal]]] = []
        if accounts:
            groups.append(("SubscriberAccountsMaySubscribe", [iam.AccountPrincipal(a) for a in accounts]))
        if org_id:
            groups.append(("SubscriberOrganisationMaySubscribe", [iam.OrganizationPrincipal(org_id)]))
        for sid, principals in groups:
            self.topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    actions=["sns:Subscribe"],
                    principals=principals,
                    resources=[self.topic.topic_arn],
                    conditions={"StringEquals": {"sns:Protocol": list(SUBSCRIBE_PROTOCOLS)}},
                )
            )

    def grant_publish(self, grantee: iam.IGrantable) -> iam.Grant:
        """Publish to the topic, and use its key to do so (an encrypted topic needs both)."""
        return self.topic.grant_publish(grantee)
