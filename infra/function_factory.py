"""One factory for every Lambda function, so runtime, architecture, tracing, logs and the layer agree."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from eksd_adopt import observability
from infra.constants import FUNCTIONS_DIR

RUNTIME = lambda_.Runtime.PYTHON_3_14
HANDLER_METADATA = "eksd-adopt:handler"


class FunctionFactory:
    """Creates functions that share the domain layer, each with its own role and log group."""

    def __init__(self, scope: Construct, layer: lambda_.ILayerVersion, *, log_retention: logs.RetentionDays) -> None:
        self._scope = scope
        self._layer = layer
        self._log_retention = log_retention

    def create(
        self,
        owner: Construct,
        construct_id: str,
        *,
        handler_dir: str,
        description: str,
        environment: Mapping[str, str] | None = None,
        timeout: cdk.Duration = cdk.Duration.seconds(30),
        memory_size: int = 256,
        ephemeral_storage_mib: int = 512,
        reserved_concurrency: int | None = None,
    ) -> lambda_.Function:
        # Under the construct that owns it: its grants, environment and cdk-nag acknowledgments are made there.
        scope = Construct(owner, construct_id)
        log_group = logs.LogGroup(scope, "Logs", retention=self._log_retention, removal_policy=cdk.RemovalPolicy.RETAIN)
        # A role per function with only its own log group: the managed basic-execution policy
        # would grant logs on every group in the account.
        role = iam.Role(scope, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn, f"{log_group.log_group_arn}:*"],
            )
        )
        function = lambda_.Function(
            scope,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(FUNCTIONS_DIR / handler_dir), exclude=["__pycache__"]),
            layers=[self._layer],
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            description=description,
            timeout=timeout,
            memory_size=memory_size,
            ephemeral_storage_size=cdk.Size.mebibytes(ephemeral_storage_mib),
            reserved_concurrent_executions=reserved_concurrency,
            environment={
                **observability.ENVIRONMENT,
                **(environment or {}),
            },
        )
        # Which functions/<dir> this is, for the checks that map the template back to the handlers
        # (tests/iam_coverage.py compares each handler's AWS calls with this function's role).
        cfn_function = function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.add_metadata(HANDLER_METADATA, handler_dir)
        # Why these wildcards are the narrowest possible: log streams are created at run time under
        # the function's own group, and X-Ray's PutTraceSegments/PutTelemetryRecords accept no resource.
        cdk.Validations.of(role).acknowledge(
            cdk.Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::<{_logical_id(log_group)}.Arn>:*]",
                reason="Log streams are created at run time inside this function's own log group only.",
            ),
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.",
            ),
        )
        return function


def _logical_id(construct: Construct) -> str:
    default = construct.node.default_child
    assert isinstance(default, cdk.CfnElement)
    return cdk.Stack.of(construct).get_logical_id(default)
