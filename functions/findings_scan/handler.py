"""Workflow step ScanFindings: every staged platform image's scan findings, stored as one document in the bucket."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.findings import FindingsScanner
from eksd_adopt.findings.ecr import ecr_findings_scanner
from eksd_adopt.observability import handler_logger, instrumented, log_keys
from eksd_adopt.workflow import artifacts, wiring
from eksd_adopt.workflow.findings import FindingsScanSettings, scan_staged_release
from eksd_adopt.workflow.state import AdoptionState

logger = handler_logger()


@instrumented
def handler(event: dict[str, Any], context: LambdaContext, scanner: FindingsScanner | None = None) -> dict[str, Any]:
    settings = FindingsScanSettings.from_env(os.environ)
    state = AdoptionState.model_validate(event)
    log_keys(release_id=state.release.release_id)
    result = scan_staged_release(
        state,
        store=wiring.documents(settings),
        artifacts=artifacts.staged_artifacts(settings),
        scanner=scanner or ecr_findings_scanner(),  # the local runtime passes its in-memory scanner
        prefix=settings.prefix,
        wait=settings.wait,
    )
    logger.info("findings stored", extra=result.model_dump(mode="json"))
    return result.model_dump(mode="json")
