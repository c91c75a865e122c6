"""The adoption workflow as the stack and the local runtime both build it: the state machine's name and, for
its one ASL file (``infra/workflows/adopt_release.asl.json``), which function each substitution names."""

from __future__ import annotations

STATE_MACHINE_NAME = "eksd-adopt-release"

# ASL substitution -> functions/<dir> of the Lambda function the Task invokes.
FUNCTION_SUBSTITUTIONS: dict[str, str] = {
    "ValidateFunctionArn": "workflow_validate",
    "MirrorImageFunctionArn": "images_mirror",
    "MirrorArchiveFunctionArn": "archives_mirror",
    "VerifyFunctionArn": "workflow_verify",
    "SmokeTestFunctionArn": "workflow_smoke_test",
    "RecordTestedFunctionArn": "workflow_record_tested",
    "ScanFindingsFunctionArn": "findings_scan",
    "RequestApprovalFunctionArn": "approvals_request",
    "PromoteFunctionArn": "workflow_promote",
    "RecordOutcomeFunctionArn": "workflow_record_outcome",
}
