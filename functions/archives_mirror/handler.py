"""Workflow step 2 (Map item): stream one archive into the bucket with sha256 and sha512 verified."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.archives.job import ArchiveJobRequest, run_archive_job
from eksd_adopt.archives.settings import MirrorArchiveSettings
from eksd_adopt.archives.store import ArchiveStore
from eksd_adopt.workflow import wiring
from eksd_adopt.workflow.plans import mirror_request

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="EksdAdopt")  # the same namespace the function factory sets


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, store: ArchiveStore | None = None) -> dict[str, Any]:
    # Read per invocation: the local runtime calls this in-process with a different environment each time.
    settings = MirrorArchiveSettings.from_env(os.environ)
    # The Map item names a job of the stored plan (the state never carries the jobs themselves).
    event = mirror_request(event, "archive", wiring.document_reader)
    request = ArchiveJobRequest.model_validate(event)
    # release_id: every log line of an adoption carries it (the Map item passes it beside the job).
    logger.append_keys(release_id=event.get("release_id"), asset=request.job.asset, target_key=request.job.target_key)
    result = run_archive_job(settings, request.job, store=store)
    metrics.add_metric(name="ArchiveBytesCopied", unit=MetricUnit.Bytes, value=0 if result.skipped else result.bytes)
    metrics.add_metric(name="ArchivesSkipped", unit=MetricUnit.Count, value=int(result.skipped))
    logger.info(
        "archive mirrored",
        extra={"bytes": result.bytes, "skipped": result.skipped, "resumed": result.resumed, "seconds": result.seconds},
    )
    return result.model_dump(mode="json")
