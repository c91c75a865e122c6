"""Workflow step 3 (Map item): copy one upstream image (its whole index) into the target registry, by digest."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.images.job import ImageJobRequest, run_image_job
from eksd_adopt.images.settings import MirrorImageSettings
from eksd_adopt.workflow import wiring
from eksd_adopt.workflow.plans import mirror_request

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="EksdAdopt")  # the same namespace the function factory sets


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, ecr: Any | None = None) -> dict[str, Any]:
    # Read per invocation: the local runtime calls this in-process with a different environment each time.
    settings = MirrorImageSettings.from_env(os.environ)
    # The Map item names a job of the stored plan (the state never carries the jobs themselves).
    event = mirror_request(event, "image", wiring.document_reader)
    request = ImageJobRequest.model_validate(event)
    # release_id: every log line of an adoption carries it (the Map item passes it beside the job).
    logger.append_keys(
        release_id=event.get("release_id"), image=request.job.source, target_repository=request.job.target_repository
    )
    result = run_image_job(settings, request.job, ecr=ecr)
    metrics.add_metric(name="ImageBytesUploaded", unit=MetricUnit.Bytes, value=result.bytes_uploaded)
    metrics.add_metric(name="ImageBlobsMounted", unit=MetricUnit.Count, value=result.blobs_mounted)
    metrics.add_metric(name="ImagesSkipped", unit=MetricUnit.Count, value=int(result.skipped))
    logger.info(
        "image mirrored",
        extra={
            "digest": result.digest,
            "target": result.target,
            "skipped": result.skipped,
            "uploaded": result.blobs_uploaded,
            "mounted": result.blobs_mounted,
            "bytes": result.bytes_uploaded,
            "seconds": result.seconds,
        },
    )
    return result.model_dump(mode="json")
