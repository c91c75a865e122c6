"""Workflow step ScanFindings: read the registry's scan of every staged platform image, store the findings document.

Runs after the staged copy is verified and tested, before the first approval gate (so scan on push
had the longest time to finish). The whole document goes write-once into the bucket beside the staged
manifest; the state carries only its reference and whether every scan completed (Step Functions holds
a state to 256 KiB). Each gate takes its own delta against the release its stage runs when it opens
(:func:`eksd_adopt.findings.stage.against_stage`).

What ECR answers and how each answer is kept (the adapter, :mod:`eksd_adopt.findings.ecr`):
``DescribeImageScanFindings`` by image digest, paged
(https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImageScanFindings.html);
``imageScanStatus.status`` IN_PROGRESS/PENDING is read again until the wait is over, COMPLETE (ACTIVE
for enhanced scanning) has the findings, FAILED and the other states are final at once
(https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageScanStatus.html);
``ScanNotFoundException`` ("Ensure that image scanning is enabled on the repository") is
SCAN_NOT_FOUND, never "no findings". The call needs ``ecr:DescribeImageScanFindings`` on the
repository (Service Authorization Reference, Amazon ECR), which ``infra/constructs/findings.py`` grants
on the staging repositories only.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from eksd_adopt.findings import FindingsScanner, ScanWait, platform_images, scan_release, store_findings
from eksd_adopt.findings.scan import DEFAULT_INTERVAL_SECONDS, DEFAULT_WAIT_SECONDS
from eksd_adopt.workflow.config import StagedArtifactsSettings
from eksd_adopt.workflow.ports import DocumentStore, StagedArtifacts
from eksd_adopt.workflow.state import AdoptionState


class FindingsScanSettings(StagedArtifactsSettings):
    """findings_scan: the staged copy it scans, the bucket it stores the document in, how long it waits."""

    wait_seconds: float = Field(default=DEFAULT_WAIT_SECONDS, ge=0, le=840, alias="FINDINGS_WAIT_SECONDS")
    interval_seconds: float = Field(default=DEFAULT_INTERVAL_SECONDS, gt=0, le=60, alias="FINDINGS_INTERVAL_SECONDS")

    @property
    def wait(self) -> ScanWait:
        return ScanWait(timeout_seconds=self.wait_seconds, interval_seconds=self.interval_seconds)


class FindingsScanned(BaseModel):
    """What the step leaves in the state (``$.findings``): the document's reference and how the scans went."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    location: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    complete: bool  # every platform image's scan completed
    scans: int = Field(ge=0)
    incomplete_scans: int = Field(ge=0)


def scan_staged_release(
    state: AdoptionState,
    *,
    store: DocumentStore,
    artifacts: StagedArtifacts,
    scanner: FindingsScanner,
    prefix: str,
    wait: ScanWait | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> FindingsScanned:
    """Scan every platform image of the verified staged images and store the document write-once."""
    release = state.release
    images = platform_images(state.staged_images(store), artifacts)
    findings = scan_release(release.release_id, images, scanner, wait=wait, clock=clock, sleep=sleep)
    ref = store_findings(findings, store, prefix=prefix, channel=release.channel, number=release.number)
    incomplete = sum(1 for s in findings.scans if not s.complete)
    return FindingsScanned(
        location=ref.location,
        sha256=ref.sha256,
        complete=findings.complete,
        scans=len(findings.scans),
        incomplete_scans=incomplete,
    )
