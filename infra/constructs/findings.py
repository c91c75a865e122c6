"""Vulnerability findings: the workflow's ScanFindings step function and exactly the rights it needs.

It reads ECR's scan of every staged platform image (``ecr:DescribeImageScanFindings``, resource type
``repository``: Service Authorization Reference, Amazon ECR,
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html)
on the staging repositories only, reads each staged index's platforms back through the registry API,
reads the verified images' document and writes the findings document beside the staged manifest.
The staging repositories scan on push from their creation (``images.ecr.EcrRepositories`` creates
them with ``imageScanningConfiguration={"scanOnPush": True}``); a registry whose scanning
configuration does not scan them answers ``ScanNotFoundException``, recorded as SCAN_NOT_FOUND.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from eksd_adopt.workflow.findings import FindingsScanSettings
from infra.function_factory import FunctionFactory

SUBSTITUTION = "ScanFindingsFunctionArn"  # the ASL's ${...} for this step
# How long the step waits for scans (FINDINGS_WAIT_SECONDS) and, with a margin for the reads and the
# store after the wait's last round, the function's timeout (Lambda's maximum is 15 minutes).
WAIT_SECONDS = 300
TIMEOUT = cdk.Duration.minutes(8)


class FindingsScan(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        prefix: str,
        bucket: s3.IBucket,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.prefix = prefix.strip("/")
        self.function = functions.create(
            self,
            "ScanFindings",
            handler_dir="findings_scan",
            description="Read the registry's scan of every staged platform image, store the findings document",
            timeout=TIMEOUT,
            memory_size=512,
            environment=FindingsScanSettings.select_env(
                {**environment, **FindingsScanSettings.to_env(wait_seconds=WAIT_SECONDS)}
            ),
        )
        self._grant_registry()
        self._grant_documents(bucket)
        self._acknowledge(bucket)

    def _staging_repositories(self) -> str:
        return cdk.Stack.of(self).format_arn(
            service="ecr", resource="repository", resource_name=f"{self.prefix}/staging/*"
        )

    def _grant_registry(self) -> None:
        fn = self.function
        fn.add_to_role_policy(
            iam.PolicyStatement(
                # The scans, and each staged index read back by digest for its platform manifests.
                actions=["ecr:DescribeImageScanFindings", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                resources=[self._staging_repositories()],
            )
        )
        # GetAuthorizationToken takes no resource (the registry API's basic-auth token).
        fn.add_to_role_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))

    def _grant_documents(self, bucket: s3.IBucket) -> None:
        fn = self.function
        # Read: the verified images' document (and, on a retried write-once put, the document itself).
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{self.prefix}/staging/*")]
            )
        )
        # Write: only findings documents, beside the staged manifests.
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{self.prefix}/staging/kubernetes-*/kubernetes-*.findings.json")],
            )
        )
        if bucket.encryption_key is not None:
            # SSE-KMS: a put needs a data key, a get decrypts it; only through S3.
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[bucket.encryption_key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{cdk.Aws.REGION}.amazonaws.com"}},
                )
            )

    def _acknowledge(self, bucket: s3.IBucket) -> None:
        """The three wildcards of this role, each as narrow as the resource allows (cdk-nag AwsSolutions-IAM5)."""
        stack = cdk.Stack.of(self)
        cfn_bucket = bucket.node.default_child
        assert isinstance(cfn_bucket, cdk.CfnElement)
        objects = f"<{stack.get_logical_id(cfn_bucket)}.Arn>/{self.prefix}/staging"
        repositories = f"arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/{self.prefix}/staging/*"
        reasons = {
            repositories: "Staging repositories are created at run time, one per upstream image, under this prefix.",
            f"{objects}/*": "The verified images' document and the findings documents: keys named per release.",
            f"{objects}/kubernetes-*/kubernetes-*.findings.json": "Findings documents only, one per release.",
        }
        assert self.function.role is not None
        cdk.Validations.of(self.function.role).acknowledge(
            *(
                cdk.Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[Resource::{resource}]", reason=reason)
                for resource, reason in reasons.items()
            )
        )


def invoked(scan: FindingsScan) -> dict[str, lambda_.IFunction]:
    """What the workflow's state machine invokes for this concern, by ASL substitution."""
    return {SUBSTITUTION: scan.function}
