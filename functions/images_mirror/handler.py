"""Workflow step 3 (Map item): copy one upstream image (its whole index) into the target registry, by digest."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.images.job import ImageJobRequest, run_image_job
from eksd_adopt.images.settings import MirrorImageSettings
from eksd_adopt.observability import handler_logger, instrumented, log_keys, record_metric
from eksd_adopt.workflow import wiring
from eksd_adopt.workflow.plans import mirror_request

logger = handler_logger()


@instrumented
def handler(event: dict[str, Any], context: LambdaContext, ecr: Any | None = None) -> dict[str, Any]:
    settings = MirrorImageSettings.from_env(os.environ)
    # The Map item names a job of the stored plan (the state never carries the jobs themselves).
    request = ImageJobRequest.model_validate(mirror_request(event, "image", wiring.document_reader))
    job = request.job
    log_keys(release_id=request.release_id, image=job.source, target_repository=job.target_repository)
    return run_image_job(settings, job, ecr=ecr, metrics=record_metric).model_dump(mode="json")
