"""The eksd-adopt stack: composes one construct per concern, nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constants import DEPLOY_REGIONS
from infra.constructs.approvals import ApprovalGates, stage_rules_from_context
from infra.constructs.archives import ArchiveMirror
from infra.constructs.attestation import AdoptionRecordSigning
from infra.constructs.events import ReleaseEvents
from infra.constructs.findings import FindingsScan
from infra.constructs.findings import invoked as findings_steps
from infra.constructs.images import ImageMirror
from infra.constructs.images_blob_mounting import RegistryBlobMounting
from infra.constructs.intake import Intake
from infra.constructs.ledger import ReleaseLedger
from infra.constructs.operations import Operations
from infra.constructs.operators import OperatorsTopic
from infra.constructs.shared_layer import DomainLayer
from infra.constructs.workflow import AdoptionWorkflow
from infra.function_factory import FunctionFactory
from infra.settings import DeploymentSettings
from infra.workflow_environment import workflow_environment


class EksdAdoptStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploymentSettings,
        layer_dir: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self._require_supported_region()
        layer = DomainLayer(self, "DomainLayer", layer_dir=layer_dir)
        self.functions = FunctionFactory(self, layer.layer, log_retention=_retention(settings.log_retention_days))
        # Construct ids predate the capability names; kept so a deploy never replaces the bucket, keys or topics.
        self.archives = ArchiveMirror(self, "MirrorStorage", functions=self.functions, prefix=settings.prefix)
        self.images = ImageMirror(
            self, "ImageMirror", functions=self.functions, prefix=settings.prefix, plans=self.archives.bucket
        )
        self.blob_mounting = RegistryBlobMounting(
            self, "RegistryBlobMounting", log_retention=_retention(settings.log_retention_days)
        )
        self.operators = OperatorsTopic(self, "Operators")
        self.ledger = ReleaseLedger(self, "Ledger")
        self.events = ReleaseEvents(
            self,
            "ReleaseEvents",
            subscriber_accounts=settings.subscriber_accounts,
            subscriber_org_id=settings.subscriber_org_id,
        )
        self.approvals = ApprovalGates(
            self,
            "Approvals",
            functions=self.functions,
            stage_rules=stage_rules_from_context(self.node, settings.stages),
            prefix=settings.prefix,
            ledger_table=self.ledger.table,
            bucket=self.archives.bucket,
            events_topic=self.events.topic,
            approver_session_roles=settings.approver_session_roles,
            approver_accounts=settings.approver_accounts,
            approver_principals=settings.approver_principals,
        )
        self.findings = FindingsScan(
            self,
            "Findings",
            functions=self.functions,
            prefix=settings.prefix,
            bucket=self.archives.bucket,
            environment=workflow_environment(
                self,
                ledger_table=self.ledger.table,
                bucket=self.archives.bucket,
                prefix=settings.prefix,
                events_topic=self.events.topic,
                approver_session_roles=(),
            ),
        )
        self.workflow = AdoptionWorkflow(
            self,
            "Workflow",
            functions=self.functions,
            prefix=settings.prefix,
            stages=settings.stages,
            ledger_table=self.ledger.table,
            bucket=self.archives.bucket,
            events_topic=self.events.topic,
            approvals=self.approvals,
            images=self.images,
            mirror_archive=self.archives.function,
            log_retention=_retention(settings.log_retention_days),
            approver_session_roles=settings.approver_session_roles,
            steps=findings_steps(self.findings),
        )
        self.approvals.resume_gates_of(self.workflow)
        self.workflow.grant_rollback_records(self.approvals.decision_function)
        self.attestation = AdoptionRecordSigning(
            self, "Attestation", prefix=settings.prefix, stages=settings.stages, bucket=self.archives.bucket
        )
        self.attestation.grant_signing(self.workflow.steps["PromoteFunctionArn"])  # the one signer
        self.intake = Intake(
            self,
            "Intake",
            functions=self.functions,
            ledger=self.ledger,
            state_machine_arn=self.workflow.state_machine.state_machine_arn,
            upstream_topic_arn=settings.upstream_topic_arn,
            alarm_topic=self.operators.topic,
            tracked_channels=settings.tracked_channels,
            track_from_minor=settings.track_from_minor,
            reconcile_every=cdk.Duration.minutes(settings.reconcile_minutes),
            events_topic=self.events.topic,
        )
        # StartExecution on the encrypted state machine encrypts the input with the caller's rights.
        for starter in (self.intake.intake_function, self.intake.reconcile_function):
            self.workflow.grant_key_use(starter)
        self.operations = Operations(
            self,
            "Monitoring",
            functions=self.functions,
            alarm_topic=self.operators.topic,
            state_machine=self.workflow.state_machine,
            approval_watch=self.approvals.watch_function,
            charted_functions={
                **{key.removesuffix("FunctionArn"): fn for key, fn in self.workflow.steps.items()},
                "MirrorImage": self.images.function,
                "MirrorArchive": self.archives.function,
                "ScanFindings": self.findings.function,
                "Intake": self.intake.intake_function,
                "Reconcile": self.intake.reconcile_function,
                "ApprovalsApi": self.approvals.decision_function,
            },
            other_alarms=list(self.intake.alarms.values()),
        )

    def _require_supported_region(self) -> None:
        """Refuse a region without every resource type of the stack (function URLs above all).

        A known region is checked at synth; an environment-agnostic template carries the same list as a
        CloudFormation rule, so the deploy fails before anything is created rather than half-way.
        """
        message = (
            "eksd-adopt deploys only to the regions where every resource it uses exists (Lambda function "
            f"URLs for the approvers' endpoint among them): {', '.join(DEPLOY_REGIONS)}"
        )
        if not cdk.Token.is_unresolved(self.region):
            if self.region not in DEPLOY_REGIONS:
                raise ValueError(f"region {self.region}: {message}")
            return
        cdk.CfnRule(
            self,
            "SupportedRegion",
            assertions=[
                cdk.CfnRuleAssertion(
                    assert_=cdk.Fn.condition_contains(list(DEPLOY_REGIONS), cdk.Aws.REGION),
                    assert_description=message,
                )
            ],
        )


_RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
}


def _retention(days: int) -> logs.RetentionDays:
    if days not in _RETENTION:
        raise ValueError(f"logRetentionDays must be one of {sorted(_RETENTION)}, got {days}")
    return _RETENTION[days]
