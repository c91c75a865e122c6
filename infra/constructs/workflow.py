"""The adoption workflow: the ``eksd-adopt-release`` state machine from its ASL file, and its step functions."""

from __future__ import annotations

import json
from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from eksd_adopt.settings import EnvSettings
from eksd_adopt.workflow.config import (
    ApprovalsApiSettings,
    PromoteSettings,
    RecordOutcomeSettings,
    RecordTestedSettings,
    RequestApprovalSettings,
    SmokeTestSettings,
    ValidateSettings,
    VerifySettings,
)
from eksd_adopt.workflow.definition import FUNCTION_SUBSTITUTIONS, STATE_MACHINE_NAME
from infra.constants import WORKFLOWS_DIR
from infra.constructs.approvals import ApprovalGates
from infra.constructs.images import ImageMirror
from infra.function_factory import FunctionFactory
from infra.nag import acknowledge_scoped_wildcards
from infra.workflow_environment import workflow_environment

ASL_FILE = WORKFLOWS_DIR / "adopt_release.asl.json"
# What an execution may spend before its first gate: validate, the whole mirror Map (every job a
# Lambda of up to 15 minutes, MirrorConcurrency at a time, with retries), verify and the smoke tests.
PREPARE_BUDGET = cdk.Duration.hours(12)
# Per stage after its gate: promotion (mounts and server-side copies) and recording the outcome.
PROMOTE_BUDGET = cdk.Duration.hours(1)
# Step Functions keeps a standard execution for at most a year.
MAX_EXECUTION = cdk.Duration.days(365)


def _definition(timeout: cdk.Duration) -> str:
    """The ASL file with the execution's TimeoutSeconds added at the top level.

    CDK's StateMachine(timeout=...) only reaches definitions it builds from constructs; a definition
    read from a file keeps no timeout unless the file has one, so it is set here. The local runtime
    runs the file as it is.
    """
    definition = json.loads(ASL_FILE.read_text())
    if "TimeoutSeconds" in definition:
        raise ValueError(f"{ASL_FILE.name} sets TimeoutSeconds itself; the workflow construct derives it")
    definition["TimeoutSeconds"] = int(timeout.to_seconds())
    return json.dumps(definition, indent=1)


def execution_timeout(stages: int, approval_timeout: cdk.Duration, team_test_timeout: cdk.Duration) -> cdk.Duration:
    """The longest an adoption can legitimately run: the preparation, the team test, then every stage's gate
    (stages are approved one after another) and promotion. A fixed timeout shorter than that would time out
    executions whose gates are still open; a much longer one keeps stuck executions around for nothing.
    """
    if stages < 1:
        raise ValueError("the workflow needs at least one stage")
    seconds = (
        PREPARE_BUDGET.to_seconds()
        + team_test_timeout.to_seconds()
        + stages * (approval_timeout.to_seconds() + PROMOTE_BUDGET.to_seconds())
    )
    if seconds > MAX_EXECUTION.to_seconds():
        raise ValueError(
            f"{stages} stages with {approval_timeout.to_human_string()} gates need {int(seconds)} s, more than "
            "a Step Functions execution may last (one year): shorten the approval timeout or the stages"
        )
    return cdk.Duration.seconds(seconds)


# The step functions this construct creates: functions/<dir> -> (construct id, description, the settings model
# its handler reads, which picks its environment). Which ASL substitution names each is the domain's table
# (FUNCTION_SUBSTITUTIONS), shared with the local runtime.
STEPS: dict[str, tuple[str, str, type[EnvSettings]]] = {
    "workflow_validate": ("ValidateRelease", "Validate a manifest, store it, plan the jobs", ValidateSettings),
    "workflow_verify": ("VerifyRelease", "Re-check the staged copy, write the staged manifest", VerifySettings),
    "workflow_smoke_test": ("SmokeTestRelease", "Built-in smoke tests on the staged copy", SmokeTestSettings),
    "workflow_record_tested": ("RecordTested", "Record that the staged copy passed its tests", RecordTestedSettings),
    "approvals_request": ("RequestApproval", "Open a stage's approval gate", RequestApprovalSettings),
    "workflow_promote": ("PromoteRelease", "Promote by digest into a stage, move its pointer", PromoteSettings),
    "workflow_record_outcome": (
        "RecordOutcome",
        "Record a failed, rejected or expired adoption",
        RecordOutcomeSettings,
    ),
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
        images: ImageMirror,
        mirror_archive: lambda_.IFunction,
        log_retention: logs.RetentionDays,
        approval_timeout: cdk.Duration = cdk.Duration.days(7),
        team_test_arn: str = "",
        team_test_timeout: cdk.Duration = cdk.Duration.hours(6),
        mirror_concurrency: int = 8,
        approver_session_roles: tuple[str, ...] = (),
        steps: Mapping[str, lambda_.IFunction] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.prefix = prefix.strip("/")
        self.environment = workflow_environment(
            self,
            ledger_table=ledger_table,
            bucket=bucket,
            prefix=self.prefix,
            events_topic=events_topic,
            approver_session_roles=approver_session_roles,
        )
        key_of = {directory: key for key, directory in FUNCTION_SUBSTITUTIONS.items()}
        self.steps = {
            key_of[directory]: functions.create(
                self,
                cid,
                handler_dir=directory,
                description=description,
                timeout=cdk.Duration.minutes(5),
                memory_size=512,
                environment=settings.select_env(
                    {**self.environment, **(approvals.environment() if directory == "approvals_request" else {})}
                ),
            )
            for directory, (cid, description, settings) in STEPS.items()
        }
        self._grant_steps(ledger_table, bucket, events_topic, approvals, images)
        self.key = self._build_key()
        self.log_group = self._build_log_group(log_retention)
        self.timeout = execution_timeout(len(stages), approval_timeout, team_test_timeout)
        # Steps other constructs create (each concern its own construct), by ASL substitution.
        invoked: dict[str, lambda_.IFunction] = {
            **(steps or {}),
            **self.steps,
            key_of["images_mirror"]: images.function,
            key_of["archives_mirror"]: mirror_archive,
        }
        if set(invoked) != set(FUNCTION_SUBSTITUTIONS):
            raise ValueError(f"the ASL names {sorted(FUNCTION_SUBSTITUTIONS)}, the stack builds {sorted(invoked)}")
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=STATE_MACHINE_NAME,
            definition_body=sfn.DefinitionBody.from_string(_definition(self.timeout)),
            definition_substitutions={
                **{key: fn.function_arn for key, fn in invoked.items()},
                "Stages": ",".join(stages),
                "ApprovalTimeoutSeconds": str(int(approval_timeout.to_seconds())),
                "TeamTestArn": team_test_arn,
                "TeamTestTimeoutSeconds": str(int(team_test_timeout.to_seconds())),
                "MirrorConcurrency": str(mirror_concurrency),
            },
            tracing_enabled=True,
        )
        self._log_state_machine()
        self._encrypt_state_machine()
        for fn in invoked.values():
            self.state_machine.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[fn.function_arn])
            )
        self._grant_team_test(team_test_arn)
        acknowledge_scoped_wildcards(self, self.prefix)

    @property
    def state_machine_arn_literal(self) -> str:
        """The state machine's ARN built from its fixed name (usable in its own role's conditions)."""
        return cdk.Stack.of(self).format_arn(
            service="states",
            resource="stateMachine",
            resource_name=STATE_MACHINE_NAME,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )

    def grant_key_use(self, grantee: iam.IGrantable) -> None:
        """What a caller of this state machine's APIs needs on its key (StartExecution, SendTask*...).

        With a customer managed key, Step Functions encrypts an execution's input and a task's output
        with the caller's own credentials; without these the calls fail with KmsAccessDeniedException.
        https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html
        """
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[self.key.key_arn],
                conditions={
                    "StringEquals": {"kms:EncryptionContext:aws:states:stateMachineArn": self.state_machine_arn_literal}
                },
            )
        )

    def grant_rollback_records(self, function: lambda_.Function) -> None:
        """A rollback's signed record is written by the promotion function (the only signer): ``function`` (the
        approvers' endpoint) may invoke it, and knows its name."""
        promote = self.steps["PromoteFunctionArn"]
        promote.grant_invoke(function)
        for name, value in ApprovalsApiSettings.to_env(promote_function=promote.function_name).items():
            function.add_environment(name, value)

    def grant_task_response(self, grantee: iam.IGrantable) -> None:
        """Resuming a gate: success or failure only (no heartbeat), and the state machine's key for the output.

        The Service Authorization Reference lists no resource type for states:SendTaskSuccess,
        SendTaskFailure or SendTaskHeartbeat ("Actions, resources, and condition keys for AWS Step
        Functions": https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html),
        so by its rule the statement must name "*". CDK's grantTaskResponse names the state machine's ARN,
        and AccessDenied messages for these actions do name a state machine (NOAA-OWP/hydrovis#837;
        aws/aws-cdk#8486 found a scoped grant working for Lambda callbacks), but that is undocumented:
        the reference is what this stack relies on. The token is the capability: the decision handler
        is the only principal holding these actions (tests/infra/test_deploy_readiness.py).
        """
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["states:SendTaskSuccess", "states:SendTaskFailure"], resources=["*"])
        )
        self.grant_key_use(grantee)

    def _log_state_machine(self) -> None:
        """Every state's events, without their input and output: those carry the gates' task tokens (and
        whole job lists), and anyone able to read the log group could otherwise open a gate.

        Set on the L1 resource with the role's statements written here: CDK's LogOptions grants
        logs:DescribeLogGroups on "*", an action that takes a log-group resource.
        """
        cfn = self.state_machine.node.default_child
        assert isinstance(cfn, sfn.CfnStateMachine)
        # cfn-lint's E1029 reads the definition's ${Name} placeholders as Fn::Sub variables outside a
        # Sub; they are DefinitionSubstitutions, which CloudFormation replaces (tests/infra/test_cfn_lint.py).
        cfn.add_metadata("cfn-lint", {"config": {"ignore_checks": ["E1029"]}})
        cfn.logging_configuration = sfn.CfnStateMachine.LoggingConfigurationProperty(
            level="ALL",
            include_execution_data=False,
            destinations=[
                sfn.CfnStateMachine.LogDestinationProperty(
                    cloud_watch_logs_log_group=sfn.CfnStateMachine.CloudWatchLogsLogGroupProperty(
                        log_group_arn=self.log_group.log_group_arn
                    )
                )
            ],
        )
        role = self.state_machine.role
        # Vended log delivery: these actions take no resource (Service Authorization Reference, CloudWatch
        # Logs: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html;
        # the statement Step Functions documents: https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogDelivery",
                    "logs:GetLogDelivery",
                    "logs:UpdateLogDelivery",
                    "logs:DeleteLogDelivery",
                    "logs:ListLogDeliveries",
                    "logs:PutResourcePolicy",
                    "logs:DescribeResourcePolicies",
                ],
                resources=["*"],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:DescribeLogGroups"],
                resources=[
                    cdk.Stack.of(self).format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        self.state_machine.node.add_dependency(self.log_group)

    def _encrypt_state_machine(self) -> None:
        """The definition and every execution's history (which holds the gates' task tokens) under our key.

        Set on the L1 resource: CDK's CustomerManagedEncryptionConfiguration adds a key-policy statement
        for the log delivery service without any condition; the statements here carry the account and
        source conditions AWS documents.
        """
        stack = cdk.Stack.of(self)
        cfn = self.state_machine.node.default_child
        assert isinstance(cfn, sfn.CfnStateMachine)
        cfn.encryption_configuration = sfn.CfnStateMachine.EncryptionConfigurationProperty(
            type="CUSTOMER_MANAGED_KMS_KEY",
            kms_key_id=self.key.key_arn,
            kms_data_key_reuse_period_seconds=300,
        )
        # The state machine's role: its own definition and history (encryption context names it), and the
        # data keys of the execution logs it delivers to CloudWatch Logs.
        # https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html
        self.grant_key_use(self.state_machine.role)
        self.state_machine.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey"],
                resources=[self.key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:EncryptionContext:SourceArn": stack.format_arn(
                            service="logs", resource="*", arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
                        )
                    }
                },
            )
        )

    def _build_key(self) -> kms.Key:
        """The workflow's key: the state machine's definition and execution history, and its execution logs."""
        stack = cdk.Stack.of(self)
        key = kms.Key(
            self,
            "LogKey",
            enable_key_rotation=True,
            description="eksd-adopt workflow: state machine definition, execution history and execution logs",
        )
        # Vended log delivery decrypts with the key to write into the encrypted group; admitted for this
        # account's log sources only (the conditions AWS documents for vended logs to a KMS-encrypted
        # destination: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/AWS-logs-and-resource-policy.html).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("delivery.logs.amazonaws.com")],
                actions=["kms:Decrypt"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="logs", resource="*", arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
                        )
                    },
                },
            )
        )
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
        return key

    def _build_log_group(self, retention: logs.RetentionDays) -> logs.LogGroup:
        # Under /aws/vendedlogs/ (Step Functions then needs no log resource policy, whose size is limited)
        # and unique per stack creation (the stack id's UUID): the group outlives a stack delete or a
        # rolled-back create, and a fixed name would make the next deploy fail on the retained group.
        stack_uuid = cdk.Fn.select(2, cdk.Fn.split("/", cdk.Aws.STACK_ID))
        return logs.LogGroup(
            self,
            "Logs",
            log_group_name=cdk.Fn.join("", [f"/aws/vendedlogs/states/{STATE_MACHINE_NAME}-", stack_uuid]),
            encryption_key=self.key,
            retention=retention,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    def _grant_steps(
        self,
        ledger: dynamodb.ITable,
        bucket: s3.IBucket,
        events: sns.ITopic,
        approvals: ApprovalGates,
        images: ImageMirror,
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
        for key in ("VerifyFunctionArn", "SmokeTestFunctionArn"):
            images.grant_pull(s[key], f"{self.prefix}/staging/*")
        # Promotion reads staging and creates, pushes and mounts into every stage's repositories.
        images.grant_registry(s["PromoteFunctionArn"], f"{self.prefix}/*/*", create=True)
        for name, value in PromoteSettings.to_env(ecr_control_plane=True, ecr_kms_key_arn=images.key.key_arn).items():
            s["PromoteFunctionArn"].add_environment(name, value)
        parameters = cdk.Stack.of(self).format_arn(service="ssm", resource="parameter", resource_name="eksd-adopt/*")
        s["RequestApprovalFunctionArn"].add_to_role_policy(
            iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[parameters])
        )
        s["PromoteFunctionArn"].add_to_role_policy(
            iam.PolicyStatement(actions=["ssm:GetParameter", "ssm:PutParameter"], resources=[parameters])
        )
        approvals.table.grant_read_write_data(s["RequestApprovalFunctionArn"])
        approvals.table.grant_read_write_data(s["RecordOutcomeFunctionArn"])
        # The signed record names the gate's approvals (and the findings each approver accepted).
        approvals.table.grant_read_data(s["PromoteFunctionArn"])
        approvals.topic.grant_publish(s["RequestApprovalFunctionArn"])
        for name, value in RecordOutcomeSettings.to_env(approvals_table=approvals.table.table_name).items():
            s["RecordOutcomeFunctionArn"].add_environment(name, value)
        for name, value in PromoteSettings.to_env(approvals_table=approvals.table.table_name).items():
            s["PromoteFunctionArn"].add_environment(name, value)

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
