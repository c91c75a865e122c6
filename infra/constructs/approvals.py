"""The approval gates: the approvals table (task tokens, KMS), the approvers' topic and the signed decision endpoint."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from eksd_adopt.approvals.settings import ApprovalWatchSettings
from eksd_adopt.workflow.config import ApprovalsApiSettings, ApprovalsSettings
from infra.function_factory import FunctionFactory
from infra.nag import acknowledge_scoped_wildcards
from infra.workflow_environment import workflow_environment

if TYPE_CHECKING:
    from infra.constructs.workflow import AdoptionWorkflow


APPROVAL_WATCH_EVERY = cdk.Duration.minutes(15)


def url_invoke_statements(function_arn: str) -> tuple[iam.PolicyStatement, iam.PolicyStatement]:
    """What a caller's identity policy needs to call an AWS_IAM function URL.

    Since October 2025 a function URL needs both lambda:InvokeFunctionUrl and lambda:InvokeFunction,
    the latter conditioned on lambda:InvokedViaFunctionUrl (a Bool key), so the second grants no direct
    Invoke: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html ("Control access to Lambda
    function URLs"). CDK's Function.grant_invoke_url emits the same pair for resource policies.
    """
    return (
        iam.PolicyStatement(
            sid="InvokeTheApprovalsUrl",
            actions=["lambda:InvokeFunctionUrl"],
            resources=[function_arn],
            conditions={"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
        ),
        iam.PolicyStatement(
            sid="InvokeTheApprovalsFunctionThroughItsUrlOnly",
            actions=["lambda:InvokeFunction"],
            resources=[function_arn],
            conditions={"Bool": {"lambda:InvokedViaFunctionUrl": "true"}},
        ),
    )


def stage_rules_from_context(node: Any, stages: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``-c stageApprovers='{"prod": {"approvers": ["arn:aws:iam::111:role/Approvers"], "required_approvals": 2}}'``.

    Every configured stage needs a rule with at least one approver: a gate nobody may open is a mistake.
    """
    raw = node.try_get_context("stageApprovers") or {}
    rules: dict[str, dict[str, Any]] = json.loads(raw) if isinstance(raw, str) else dict(raw)
    for stage in stages:
        rule = rules.get(stage) or {}
        if not rule.get("approvers"):
            # Synthesis without approvers still works; the gate then refuses everyone until configured.
            rules[stage] = {"approvers": [], "required_approvals": 1, **rule}
        rules[stage].setdefault("required_approvals", 1)
    return rules


class ApprovalGates(Construct):
    """What the workflow's gates and the approvers' CLI use: the table, the approvers' topic and the endpoint.

    The endpoint decides and rolls back with the workflow's own use cases, so it reads the same settings
    and has the same rights on the ledger, the bucket and the events; :meth:`resume_gates_of` lets it
    resume the workflow's gates once the workflow exists.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        stage_rules: Mapping[str, Mapping[str, Any]],
        prefix: str,
        ledger_table: dynamodb.ITable,
        bucket: s3.IBucket,
        events_topic: sns.ITopic,
        approver_session_roles: tuple[str, ...] = (),
        approver_accounts: Sequence[str] = (),
        approver_principals: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            enable_key_rotation=True,
            description="eksd-adopt approvals: the task tokens in the approvals table and the approvers' topic",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.table = self._build_table()
        self.topic = self._build_topic()
        self.stage_rules = {k: dict(v) for k, v in stage_rules.items()}
        self.prefix = prefix.strip("/")
        workflow_settings = workflow_environment(
            self,
            ledger_table=ledger_table,
            bucket=bucket,
            prefix=self.prefix,
            events_topic=events_topic,
            approver_session_roles=approver_session_roles,
        )
        self.decision_function = functions.create(
            self,
            "ApprovalsApi",
            handler_dir="approvals_api",
            description="Approvers' endpoint: list gates, approve/reject (caller from the SigV4 signature), roll back",
            environment=ApprovalsApiSettings.select_env({**workflow_settings, **self.environment()}),
        )
        self.table.grant_read_write_data(self.decision_function)
        ledger_table.grant_read_write_data(self.decision_function)
        events_topic.grant_publish(self.decision_function)
        bucket.grant_read(self.decision_function, f"{self.prefix}/*")
        parameters = cdk.Stack.of(self).format_arn(service="ssm", resource="parameter", resource_name="eksd-adopt/*")
        self.decision_function.add_to_role_policy(
            iam.PolicyStatement(actions=["ssm:GetParameter", "ssm:PutParameter"], resources=[parameters])
        )
        # AWS_IAM auth: only signed requests reach the handler, and the signer's ARN comes with them.
        self.url = self.decision_function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
        self.approvers_policy = iam.ManagedPolicy(
            self,
            "ApproversPolicy",
            description="Attach to approver roles: call the eksd-adopt approvals endpoint",
            statements=list(url_invoke_statements(self.decision_function.function_arn)),
        )
        # Approvers in other accounts: the function's resource policy must admit them as well (their own
        # account's identity policy still needs the same two actions), with the same two statements.
        for principal in [
            *(iam.AccountPrincipal(account) for account in approver_accounts),
            *(iam.ArnPrincipal(arn) for arn in approver_principals),
        ]:
            self.decision_function.grant_invoke_url(principal)
        cdk.CfnOutput(self, "ApprovalsUrl", value=self.url.url, description="EKSD_ADOPT_APPROVALS_URL for the CLI")
        self.watch_function = self._build_watch(functions)
        acknowledge_scoped_wildcards(self, self.prefix)

    def _build_watch(self, functions: FunctionFactory) -> lambda_.Function:
        """How many gates are open and how long the oldest has waited, every 15 minutes (the operations
        construct alarms on it)."""
        table = self.table
        function = functions.create(
            self,
            "ApprovalWatch",
            handler_dir="approvals_watch",
            description="Publish how many approval gates are open and how long the oldest has waited",
            environment=ApprovalWatchSettings.to_env(approvals_table=table.table_name),
            timeout=cdk.Duration.seconds(60),
        )
        # Scan only (the function projects away task tokens); no GetItem, no writes.
        function.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:Scan"], resources=[table.table_arn]))
        if table.encryption_key is not None:
            table.encryption_key.grant_decrypt(function)
        self.watch_schedule = events.Rule(
            self,
            "ApprovalWatchSchedule",
            description="Measure the approval gates' waiting time",
            schedule=events.Schedule.rate(APPROVAL_WATCH_EVERY),
            targets=[targets.LambdaFunction(function, retry_attempts=0)],  # the next run is the retry
        )
        return function

    def resume_gates_of(self, workflow: AdoptionWorkflow) -> None:
        """The endpoint resumes ``workflow``'s gates (SendTaskSuccess/Failure, the state machine's key)."""
        workflow.grant_task_response(self.decision_function)

    def _build_table(self) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            "Table",
            # No fixed name: CloudFormation names it, so a table retained by a rollback or a stack
            # delete never blocks the next deploy (docs/operations.md says what survives a delete).
            partition_key=dynamodb.Attribute(name="release_id", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="stage", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    def _build_topic(self) -> sns.Topic:
        topic = sns.Topic(
            self,
            "ApproversTopic",
            display_name="EKS-D releases awaiting approval",
            master_key=self.key,
            enforce_ssl=True,
        )
        return topic

    def environment(self) -> dict[str, str]:
        """What the gate-opening step needs to reach the table and the topic."""
        return ApprovalsSettings.to_env(
            approvals_table=self.table.table_name,
            approvers_topic_arn=self.topic.topic_arn,
            stage_rules=self.stage_rules,
        )
