"""Workflow step 2 (Map item): stream one archive into the bucket with sha256 and sha512 verified."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.archives.job import ArchiveJobRequest, run_archive_job
from eksd_adopt.archives.settings import MirrorArchiveSettings
from eksd_adopt.archives.store import ArchiveStore
from eksd_adopt.observability import handler_logger, instrumented, log_keys, record_metric
from eksd_adopt.workflow import wiring
from eksd_adopt.workflow.plans import mirror_request

logger = handler_logger()


@instrumented
def handler(event: dict[str, Any], context: LambdaContext, store: ArchiveStore | None = None) -> dict[str, Any]:
    settings = MirrorArchiveSettings.from_env(os.environ)
    # The Map item names a job of the stored plan (the state never carries the jobs themselves).
    request = ArchiveJobRequest.model_validate(mirror_request(event, "archive", wiring.document_reader))
    log_keys(release_id=request.release_id, asset=request.job.asset, target_key=request.job.target_key)
    return run_archive_job(settings, request.job, store=store, metrics=record_metric).model_dump(mode="json")
