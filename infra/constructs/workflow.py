"""The adoption workflow: the ``eksd-adopt-release`` state machine from its ASL file, and its step functions."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct, IConstruct

from infra.constants import WORKFLOWS_DIR
from infra.constructs.approvals import ApprovalGates
from infra.function_factory import FunctionFactory

STATE_MACHINE_NAME = "eksd-adopt-release"
ASL_FILE = WORKFLOWS_DIR / "adopt_release.asl.json"

# The step functions this construct creates: ASL substitution -> (construct id, functions/<dir>, description).
STEPS: dict[str, tuple[str, str, str]] = {
    "ValidateFunctionArn": ("ValidateRelease", "validate_release", "Validate a manifest, store it, plan the jobs"),
    "VerifyFunctionArn": ("VerifyRelease", "verify_release", "Re-check the staged copy, write the staged manifest"),
    "SmokeTestFunctionArn": ("SmokeTestRelease", "smoke_test_release", "Built-in smoke tests on the staged copy"),
    "RecordTestedFunctionArn": ("RecordTested", "record_tested", "Record that the staged copy passed its tests"),
    "RequestApprovalFunctionArn": ("RequestApproval", "request_approval", "Open a stage's approval gate"),
    "PromoteFunctionArn": ("PromoteRelease", "promote_release", "Promote by digest into a stage, move its pointer"),
    "RecordOutcomeFunctionArn": ("RecordOutcome", "record_outcome", "Record a failed, rejected or expired adoption"),
}


class AdoptionWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        prefix: str,
        stages: tuple[str, ...],
        ledger_table: dynamodb.ITable,
        bucket: s3.IBucket,
        events_topic: sns.ITopic,
        approvals: ApprovalGates,
        mirror_image: lambda_.IFunction,
        mirror_archive: lambda_.IFunction,
        log_retention: logs.RetentionDays,
        approval_timeout: cdk.Duration = cdk.Duration.days(7),
        team_test_arn: str = "",
        team_test_timeout: cdk.Duration = cdk.Duration.hours(6),
        mirror_concurrency: int = 8,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.prefix = prefix.strip("/")
        self.registry_url = f"https://{stack.account}.dkr.ecr.{stack.region}.{stack.url_suffix}"
        self.environment = {
            "LEDGER_TABLE": ledger_table.table_name,
            "ARCHIVE_BUCKET": bucket.bucket_name,
            "EKSD_ADOPT_PREFIX": self.prefix,
            "EVENTS_TOPIC_ARN": events_topic.topic_arn,
            "TARGET_REGISTRY_URL": self.registry_url,
            "TARGET_REGISTRY_AUTH": "ecr",
        }
        self.steps = {
            key: functions.create(
                cid,
                handler_dir=directory,
                description=description,
                timeout=cdk.Duration.minutes(5),
                memory_size=512,
                environment={
                    **self.environment,
                    **(approvals.environment() if directory == "request_approval" else {}),
                },
            )
            for key, (cid, directory, description) in STEPS.items()
        }
        self.approvals_scope = approvals
        self._grant_steps(ledger_table, bucket, events_topic, approvals)
        self._grant_decisions(approvals, ledger_table, bucket, events_topic)
        self.log_group = self._build_log_group(log_retention)
        invoked: dict[str, lambda_.IFunction] = {
            **self.steps,
            "MirrorImageFunctionArn": mirror_image,
            "MirrorArchiveFunctionArn": mirror_archive,
        }
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=STATE_MACHINE_NAME,
            definition_body=sfn.DefinitionBody.from_file(str(ASL_FILE)),
            definition_substitutions={
                **{key: fn.function_arn for key, fn in invoked.items()},
                "Stages": ",".join(stages),
                "ApprovalTimeoutSeconds": str(int(approval_timeout.to_seconds())),
                "TeamTestArn": team_test_arn,
                "TeamTestTimeoutSeconds": str(int(team_test_timeout.to_seconds())),
                "MirrorConcurrency": str(mirror_concurrency),
            },
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
            timeout=cdk.Duration.days(30),
        )
        for fn in invoked.values():
            self.state_machine.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[fn.function_arn])
            )
        self._grant_team_test(team_test_arn)
        # Resuming a gate: the decision handler only. SendTask* accept no resource in IAM (the token is the
        # capability and names its execution), so the statement cannot carry this state machine's ARN.
        approvals.decision_function.add_to_role_policy(
            iam.PolicyStatement(actions=["states:SendTaskSuccess", "states:SendTaskFailure"], resources=["*"])
        )
        self._acknowledge()

    def _build_log_group(self, retention: logs.RetentionDays) -> logs.LogGroup:
        stack = cdk.Stack.of(self)
        key = kms.Key(self, "LogKey", enable_key_rotation=True, description="eksd-adopt workflow execution logs")
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        return logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{STATE_MACHINE_NAME}",
            encryption_key=key,
            retention=retention,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    def _repositories(self, stage: str) -> str:
        return cdk.Stack.of(self).format_arn(
            service="ecr", resource="repository", resource_name=f"{self.prefix}/{stage}/*"
        )

    def _grant_steps(
        self, ledger: dynamodb.ITable, bucket: s3.IBucket, events: sns.ITopic, approvals: ApprovalGates
    ) -> None:
        s = {k: self.steps[k] for k in self.steps}
        for fn in s.values():
            ledger.grant_read_write_data(fn)
        for key in (
            "VerifyFunctionArn",
            "RecordTestedFunctionArn",
            "RequestApprovalFunctionArn",
            "PromoteFunctionArn",
            "RecordOutcomeFunctionArn",
        ):
            events.grant_publish(s[key])
        bucket.grant_read_write(s["ValidateFunctionArn"], f"{self.prefix}/upstream/*")
        bucket.grant_read(s["VerifyFunctionArn"], f"{self.prefix}/*")
        bucket.grant_put(s["VerifyFunctionArn"], f"{self.prefix}/staging/*")
        bucket.grant_read(s["SmokeTestFunctionArn"], f"{self.prefix}/*")
        bucket.grant_read(s["RequestApprovalFunctionArn"], f"{self.prefix}/*")
        bucket.grant_read_write(s["PromoteFunctionArn"], f"{self.prefix}/*")
        pull = [
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchCheckLayerAvailability",
            "ecr:DescribeImages",
        ]
        push = [
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
            "ecr:PutImage",
            "ecr:CreateRepository",
            "ecr:PutLifecyclePolicy",
            "ecr:DescribeRepositories",
        ]
        for key in ("VerifyFunctionArn", "SmokeTestFunctionArn", "PromoteFunctionArn"):
            s[key].add_to_role_policy(iam.PolicyStatement(actions=pull, resources=[self._repositories("staging")]))
            s[key].add_to_role_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
        s["PromoteFunctionArn"].add_to_role_policy(
            iam.PolicyStatement(actions=[*pull, *push], resources=[self._repositories("*")])
        )
        parameters = cdk.Stack.of(self).format_arn(service="ssm", resource="parameter", resource_name="eksd-adopt/*")
        s["RequestApprovalFunctionArn"].add_to_role_policy(
            iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[parameters])
        )
        s["PromoteFunctionArn"].add_to_role_policy(
            iam.PolicyStatement(actions=["ssm:GetParameter", "ssm:PutParameter"], resources=[parameters])
        )
        approvals.table.grant_read_write_data(s["RequestApprovalFunctionArn"])
        approvals.table.grant_read_write_data(s["RecordOutcomeFunctionArn"])
        approvals.topic.grant_publish(s["RequestApprovalFunctionArn"])
        s["RecordOutcomeFunctionArn"].add_environment("APPROVALS_TABLE", approvals.table.table_name)

    def _grant_decisions(
        self, approvals: ApprovalGates, ledger: dynamodb.ITable, bucket: s3.IBucket, events: sns.ITopic
    ) -> None:
        fn = approvals.decision_function
        for name, value in self.environment.items():
            fn.add_environment(name, value)
        ledger.grant_read_write_data(fn)
        events.grant_publish(fn)
        bucket.grant_read(fn, f"{self.prefix}/*")
        parameters = cdk.Stack.of(self).format_arn(service="ssm", resource="parameter", resource_name="eksd-adopt/*")
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["ssm:GetParameter", "ssm:PutParameter"], resources=[parameters])
        )

    def _grant_team_test(self, arn: str) -> None:
        if arn.startswith("arn:aws:lambda:"):
            self.state_machine.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[arn])
            )
        elif arn.startswith("arn:aws:states:"):
            self.state_machine.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["states:StartExecution"], resources=[arn])
            )
        elif arn:
            raise ValueError(f"teamTestArn must be a Lambda function or state machine ARN, not {arn!r}")

    def _acknowledge(self) -> None:
        # The factory builds functions beside this construct, not under it: each gets the aspect itself.
        aspect = _ScopedWildcards(self.prefix)
        cdk.Aspects.of(self).add(aspect)
        for fn in [*self.steps.values(), self.approvals_scope.decision_function]:
            assert fn.node.scope is not None
            cdk.Aspects.of(fn.node.scope).add(aspect)


# Wildcards these policies may hold, each with why it is as narrow as IAM allows. Anything else is
# left for cdk-nag to fail on.
_ALLOWED_ACTIONS = {
    "s3:GetObject*",
    "s3:GetBucket*",
    "s3:List*",
    "s3:DeleteObject*",
    "s3:Abort*",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
}
_REASON = (
    "Wildcards scoped to this service: bucket keys under the service prefix, ECR repositories under "
    "<prefix>/<stage>/, SSM parameters under /eksd-adopt/, the ledger's indexes, function versions; CDK's "
    "grant action groups; and '*' only for APIs with no resource-level permissions (ecr:GetAuthorizationToken, "
    "X-Ray, log delivery, states:SendTask*)."
)


def _nag_form(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag spells it in a finding id."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::GetAtt" in value:
            return "<" + ".".join(value["Fn::GetAtt"]) + ">"
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return str(sep).join(_nag_form(p) for p in parts)
    return json.dumps(value)


@jsii.implements(cdk.IAspect)
class _ScopedWildcards:
    """Acknowledges the wildcard findings of this construct's policies that fall in the allowed shapes."""

    def __init__(self, prefix: str) -> None:
        self.resource_patterns = [
            re.compile(rf".*/{re.escape(prefix)}/(upstream/|staging/)?\*$"),
            re.compile(rf".*:repository/{re.escape(prefix)}/(staging|\*)/\*$"),
            re.compile(r".*:parameter/eksd-adopt/\*$"),
            re.compile(r".*/index/\*$"),
            re.compile(r"^<[A-Za-z0-9]+\.Arn>:\*$"),
            re.compile(r"^\*$"),
        ]

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, iam.CfnPolicy):
            return
        document = cdk.Stack.of(node).resolve(node.policy_document)
        findings: set[str] = set()
        for statement in document.get("Statement", []):
            actions = statement.get("Action", [])
            resources = statement.get("Resource", [])
            for action in actions if isinstance(actions, list) else [actions]:
                if "*" in action and action in _ALLOWED_ACTIONS:
                    findings.add(f"Action::{action}")
            for resource in resources if isinstance(resources, list) else [resources]:
                text = _nag_form(resource)
                if "*" in text and any(p.match(text) for p in self.resource_patterns):
                    findings.add(f"Resource::{text}")
        for finding in sorted(findings):
            cdk.Validations.of(node).acknowledge(
                cdk.Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[{finding}]", reason=_REASON)
            )
