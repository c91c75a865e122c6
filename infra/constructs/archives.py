"""Archives: the private artifacts bucket (KMS, versioned, TLS-only, logged) and the mirror-archive function."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from eksd_adopt.archives.settings import MirrorArchiveSettings
from infra.function_factory import FunctionFactory
from infra.nag import acknowledge_scoped_wildcards, grant_plan_reads

PART_SIZE_MIB = 16


class ArchiveMirror(Construct):
    """``.bucket`` holds every stage's archives under ``<prefix>/<stage>/``; ``.function`` copies one archive job.

    The function may only write under ``<prefix>/staging/``: promotion to other stages is a
    server-side copy made by the promote step, never a download.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        prefix: str,
        endpoints: str = "",
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        # Deliver access logs through a bucket policy, not the legacy ACL (which needs ACLs enabled);
        # set here so the construct is right whatever the app's feature flags.
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        self.prefix = prefix.strip("/")
        self.key = self._build_key(removal_policy)
        self.access_logs = self._build_access_log_bucket(removal_policy)
        self.bucket = self._build_bucket(removal_policy)
        self.function = self._build_function(functions, endpoints)
        grant_plan_reads(self.function, self.bucket, self.prefix)
        acknowledge_scoped_wildcards(self, self.prefix)

    def _build_key(self, removal_policy: cdk.RemovalPolicy) -> kms.Key:
        return kms.Key(
            self,
            "Key",
            description="eksd-adopt artifacts bucket",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )

    def _build_access_log_bucket(self, removal_policy: cdk.RemovalPolicy) -> s3.Bucket:
        # S3 server access logs can only be delivered to an SSE-S3 bucket, not SSE-KMS.
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=cdk.Duration.days(365)),
                s3.LifecycleRule(id="expire-old-versions", noncurrent_version_expiration=cdk.Duration.days(30)),
            ],
            removal_policy=removal_policy,
        )
        cdk.Validations.of(bucket).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-S1",
                reason="This is the access-log bucket; logging it into itself would loop.",
            )
        )
        return bucket

    def _build_bucket(self, removal_policy: cdk.RemovalPolicy) -> s3.Bucket:
        return s3.Bucket(
            self,
            "Artifacts",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,  # one KMS data key per bucket-time window, not per object
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="artifacts/",
            lifecycle_rules=[
                # A copy that died between CreateMultipartUpload and Complete/Abort leaves parts behind.
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=cdk.Duration.days(1)
                ),
                s3.LifecycleRule(id="expire-old-versions", noncurrent_version_expiration=cdk.Duration.days(90)),
            ],
            removal_policy=removal_policy,
        )

    def _build_function(self, functions: FunctionFactory, endpoints: str) -> lambda_.Function:
        staging = f"{self.prefix}/staging"
        environment = MirrorArchiveSettings.to_env(
            archive_bucket=self.bucket.bucket_name, part_size_mib=PART_SIZE_MIB, key_prefix=staging
        )
        if endpoints:
            environment |= MirrorArchiveSettings.to_env(endpoints=endpoints)
        function = functions.create(
            self,
            "MirrorArchive",
            handler_dir="archives_mirror",
            description="Stream one EKS-D archive into the artifacts bucket, sha256 and sha512 verified",
            environment=environment,
            timeout=cdk.Duration.minutes(15),
            # ~3 parts in flight per copy plus the runtime; more memory also buys CPU for hashing.
            memory_size=1024,
        )
        objects = self.bucket.arn_for_objects(f"{staging}/*")
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                resources=[objects],
            )
        )
        # HeadObject on a missing key answers 403 instead of 404 without ListBucket; scoped to the prefix.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{staging}/*"]}},
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{cdk.Aws.REGION}.amazonaws.com"}},
            )
        )
        assert function.role is not None
        cdk.Validations.of(function.role).acknowledge(
            cdk.Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::<{_logical_id(self.bucket)}.Arn>/{staging}/*]",
                reason="Archive keys are only known at run time; writes are confined to the staging prefix.",
            )
        )
        return function


def _logical_id(construct: Construct) -> str:
    default = construct.node.default_child
    assert isinstance(default, cdk.CfnElement)
    return cdk.Stack.of(construct).get_logical_id(default)
