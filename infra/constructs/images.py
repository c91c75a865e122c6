"""Images: the KMS key of the private ECR repositories and the mirror-image function, least privilege."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from eksd_adopt.images.settings import MirrorImageSettings
from infra.function_factory import FunctionFactory
from infra.nag import acknowledge_scoped_wildcards, grant_plan_reads

CONCURRENCY = 6  # blobs in flight in one invocation
PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
)
PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
CREATE_ACTIONS = ("ecr:CreateRepository", "ecr:PutLifecyclePolicy", "ecr:DescribeRepositories")


class ImageMirror(Construct):
    """``.function`` copies one image job into ``<prefix>/staging/...``; ``.key`` encrypts every repository.

    Repositories are created by the function on demand (scan on push, this KMS key, immutable tags,
    an untagged-image lifecycle rule), so a new upstream image needs no deployment.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        prefix: str,
        plans: s3.IBucket,
        endpoints: str = "",
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.prefix = prefix.strip("/")
        self.key = kms.Key(
            self,
            "RepositoryKey",
            description="eksd-adopt ECR repositories",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        stack = cdk.Stack.of(self)
        self.registry_url = f"https://{stack.account}.dkr.ecr.{stack.region}.{stack.url_suffix}"
        self.function = self._build_function(functions, endpoints)
        grant_plan_reads(self.function, plans, self.prefix)
        acknowledge_scoped_wildcards(self, self.prefix)

    def repository_arn(self, pattern: str) -> str:
        """The ARN of repositories named ``pattern`` (e.g. ``eksd/staging/*``) in this stack's registry."""
        return cdk.Stack.of(self).format_arn(service="ecr", resource="repository", resource_name=pattern)

    def _build_function(self, functions: FunctionFactory, endpoints: str) -> lambda_.Function:
        staging = f"{self.prefix}/staging"
        environment = MirrorImageSettings.to_env(
            target_registry_url=self.registry_url,
            target_registry_auth="ecr",
            ecr_control_plane=True,
            ecr_kms_key_arn=self.key.key_arn,
            concurrency=CONCURRENCY,
            # ECR: a blob over 4 MiB streamed in one PATCH, then the committing PUT, as docker push
            # sends it (fixed-size chunks are what ECR has been seen to mishandle).
            upload="patch",
            repository_prefix=staging,
        )
        if endpoints:
            environment |= MirrorImageSettings.to_env(endpoints=endpoints)
        function = functions.create(
            self,
            "MirrorImage",
            handler_dir="images_mirror",
            description="Copy one EKS-D image (whole index, by digest, verified) into private ECR",
            environment=environment,
            timeout=cdk.Duration.minutes(15),
            # Several blobs in flight, each hashed while it streams: memory buys CPU for sha256.
            memory_size=1024,
        )
        self.grant_registry(function, f"{staging}/*", create=True)
        assert function.role is not None
        cdk.Validations.of(function.role).acknowledge(
            cdk.Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/{staging}/*]",
                reason="Repositories are created per upstream image at run time; all are confined to the staging prefix.",
            ),
        )
        return function

    def grant_registry(self, grantee: iam.IGrantable, pattern: str, *, create: bool = False) -> None:
        """Pull and push on repositories matching ``pattern`` (promotion grants itself the stage prefixes)."""
        actions = [*PULL_ACTIONS, *PUSH_ACTIONS, *(CREATE_ACTIONS if create else ())]
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=[self.repository_arn(pattern)])
        )
        # GetAuthorizationToken has no resource: it only yields a token; the statements above decide.
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
        )
        if create:
            self.grant_key_for_repositories(grantee)

    def grant_pull(self, grantee: iam.IGrantable, pattern: str) -> None:
        """Read images in repositories matching ``pattern`` (what verifying and smoke-testing staging need)."""
        actions = [*PULL_ACTIONS, "ecr:BatchCheckLayerAvailability", "ecr:DescribeImages"]
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=[self.repository_arn(pattern)])
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
        )

    def grant_key_for_repositories(self, grantee: iam.IGrantable) -> None:
        """What creating a repository encrypted with ``.key`` needs, through ECR only."""
        # ECR creates a KMS-encrypted repository through grants made with its creator's rights.
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"ecr.{cdk.Aws.REGION}.amazonaws.com"}},
            )
        )
