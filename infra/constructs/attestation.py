"""The signed adoption record's key and its readers: the KMS signing key (promotion signs), and the verifiers' policy."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from eksd_adopt.workflow.config import PromoteSettings

# KMS: "Automatic key rotation is not supported on asymmetric KMS keys"; a new key (and a new public key
# for verifiers) is the way to rotate. https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html
# ("Supported and unsupported KMS key types"); the CloudFormation property likewise: EnableKeyRotation
# applies to symmetric encryption keys only (AWS::KMS::Key, EnableKeyRotation).
NO_ROTATION = (
    "An asymmetric ECC_NIST_P256 SIGN_VERIFY key: KMS does not support automatic rotation of asymmetric keys "
    "(https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html). Rotating means a new key and "
    "publishing its public key; old records keep verifying with the old one."
)


class AdoptionRecordSigning(Construct):
    """The ECC P-256 key adoption records are signed with, and what reading them takes.

    Only the function handed to :meth:`grant_signing` (the promotion function) may ``kms:Sign``; the key
    policy is CDK's default (the account, i.e. IAM policies, decides), so no other principal of the
    account can sign without an identity policy granting it (tests/infra/test_attestation.py checks every
    role). ``VerifiersPolicy`` carries the read rights ``eksd-adopt verify`` needs, nothing more.

    The public key is not a stack output: an ``AwsCustomResource`` calling ``GetPublicKey`` fails on the
    binary ``PublicKey`` ("Response is not valid JSON", aws/aws-cdk#19065), and a function of our own
    for it would be another role. The promotion function publishes it as ``<prefix>/attestation/public-key.pem``
    beside the records (write-once) on its first promotion; ``aws kms get-public-key`` gives the same bytes.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        stages: tuple[str, ...],
        bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.prefix = prefix.strip("/")
        self.key = kms.Key(
            self,
            "SigningKey",
            description="Signs eksd-adopt adoption records (DSSE, ECDSA P-256 SHA-256); only promotion signs",
            key_spec=kms.KeySpec.ECC_NIST_P256,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            # Records are kept for good: deleting the key would leave them unverifiable against KMS.
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        cdk.Validations.of(self.key).acknowledge(
            cdk.Acknowledgment(id="AwsSolutions::AwsSolutions-KMS5", reason=NO_ROTATION)
        )
        self.verifiers_policy = iam.ManagedPolicy(
            self,
            "VerifiersPolicy",
            description="Attach to whoever runs eksd-adopt verify: read a stage's pointer, records and artifacts",
            statements=self._verifier_statements(stages, bucket),
        )
        reason = (
            "Read-only and scoped to the stages: their SSM pointers (/eksd-adopt/<stage>/*), their objects under "
            "<prefix>/<stage>/, their repositories <prefix>/<stage>/*; ecr:GetAuthorizationToken has no "
            "resource-level permission."
        )
        for finding in self._wildcards(stages, bucket):
            cdk.Validations.of(self.verifiers_policy).acknowledge(
                cdk.Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[Resource::{finding}]", reason=reason)
            )
        public_key = f"s3://{bucket.bucket_name}/{self.prefix}/attestation/public-key.pem"
        cdk.CfnOutput(self, "SigningKeyArn", value=self.key.key_arn, description="EKSD_ADOPT_SIGNING_KEY for verify")
        cdk.CfnOutput(
            self,
            "PublicKeyObject",
            value=public_key,
            description="The records' public key (PEM), published by the first promotion; or aws kms get-public-key",
        )
        cdk.CfnOutput(self, "VerifiersPolicyArn", value=self.verifiers_policy.managed_policy_arn)

    def grant_signing(self, function: lambda_.IFunction) -> None:
        """The one signer: ``kms:Sign`` with the records' algorithm, ``kms:GetPublicKey`` for the keyid and
        the public key object, and the key's ARN in its environment."""
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kms:Sign"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_256"}},
            )
        )
        function.add_to_role_policy(iam.PolicyStatement(actions=["kms:GetPublicKey"], resources=[self.key.key_arn]))
        if isinstance(function, lambda_.Function):
            for name, value in PromoteSettings.to_env(attestation_key_arn=self.key.key_arn).items():
                function.add_environment(name, value)

    def _wildcards(self, stages: tuple[str, ...], bucket: s3.IBucket) -> list[str]:
        """The policy's wildcard resources as cdk-nag names them (one finding each)."""
        default = bucket.node.default_child
        assert isinstance(default, cdk.CfnElement)
        bucket_id = cdk.Stack.of(bucket).get_logical_id(default)
        arn = "arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:{resource}"
        found = ["*"]
        for stage in stages:
            found += [
                arn.format(service="ssm", resource=f"parameter/eksd-adopt/{stage}/*"),
                f"<{bucket_id}.Arn>/{self.prefix}/{stage}/*",
                arn.format(service="ecr", resource=f"repository/{self.prefix}/{stage}/*"),
            ]
        return found

    def _verifier_statements(self, stages: tuple[str, ...], bucket: s3.IBucket) -> list[iam.PolicyStatement]:
        stack = cdk.Stack.of(self)
        statements = [
            iam.PolicyStatement(
                actions=["ssm:GetParameter"],
                resources=[
                    stack.format_arn(service="ssm", resource="parameter", resource_name=f"eksd-adopt/{stage}/*")
                    for stage in stages
                ],
            ),
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{self.prefix}/{stage}/kubernetes-*" for stage in stages]}},
            ),
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[
                    *(bucket.arn_for_objects(f"{self.prefix}/{stage}/*") for stage in stages),
                    bucket.arn_for_objects(f"{self.prefix}/attestation/public-key.pem"),
                ],
            ),
            iam.PolicyStatement(actions=["kms:GetPublicKey"], resources=[self.key.key_arn]),
            # The registry login token is account-wide: no resource-level permission.
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]),
            # Manifest HEADs through the registry API; no layer download, no key use (ECR decrypts by its grant).
            iam.PolicyStatement(
                actions=["ecr:BatchGetImage"],
                resources=[
                    stack.format_arn(service="ecr", resource="repository", resource_name=f"{self.prefix}/{stage}/*")
                    for stage in stages
                ],
            ),
        ]
        if bucket.encryption_key is not None:
            statements.append(
                iam.PolicyStatement(
                    actions=["kms:Decrypt"],
                    resources=[bucket.encryption_key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{cdk.Aws.REGION}.amazonaws.com"}},
                )
            )
        return statements
