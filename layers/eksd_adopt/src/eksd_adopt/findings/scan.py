"""Reading a release's scan findings: every staged platform image, a bounded wait, and the delta against the stage.

The use case is :func:`scan_release`. It reads every platform image's scan through a
:class:`~eksd_adopt.findings.ports.FindingsScanner` in rounds: a scan still in progress (or a read
that failed for now) is read again in the next round, until all are settled or the wait is over.
Whatever has not settled then is recorded as it stands (IN_PROGRESS, or UNAVAILABLE for a read that
kept failing), never as a scan without findings. The whole call takes at most the wait plus one
round of reads, however many images there are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from eksd_adopt.findings.delta import findings_delta
from eksd_adopt.findings.document import ReleaseFindings
from eksd_adopt.findings.errors import ScannerUnavailableError
from eksd_adopt.findings.model import ImageScan, PlatformImage, ScanStatus, printable
from eksd_adopt.findings.ports import FindingsScanner, ImagePlatforms, StagedImageLike
from eksd_adopt.reference import ImageReference

# ECR's basic scan on push usually completes in a few minutes; a Lambda runs at most 15.
DEFAULT_WAIT_SECONDS = 300.0
DEFAULT_INTERVAL_SECONDS = 10.0


class ScanWait(BaseModel):
    """How long to wait for scans to complete, and how often to look again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_seconds: float = Field(default=DEFAULT_WAIT_SECONDS, ge=0, le=840)  # 0: one round, no waiting
    interval_seconds: float = Field(default=DEFAULT_INTERVAL_SECONDS, gt=0, le=60)


def platform_images(staged: Iterable[StagedImageLike], platforms: ImagePlatforms) -> list[PlatformImage]:
    """Every platform image of the staged images, read back from the registry by index digest.

    ECR scans image manifests, not an index (aws/containers-roadmap#1683: "An artifact with media type
    'application/vnd.oci.image.index.v1+json' cannot be scanned"), so each platform is a scan of its own.
    """
    images = []
    for image in staged:
        upstream = ImageReference.parse(image.source).repository
        for platform in platforms.image_platforms(image.repository, image.digest):
            name = "/".join(p for p in (platform.os, platform.arch, platform.variant) if p)
            images.append(
                PlatformImage(
                    image=upstream,
                    repository=image.repository,
                    index_digest=image.digest,
                    platform=name,
                    digest=platform.manifest_digest,
                )
            )
    return sorted(images, key=lambda i: (i.image, i.platform))


def _settled(scan: ImageScan) -> bool:
    return scan.status is not ScanStatus.IN_PROGRESS


def collect_scans(
    images: Sequence[PlatformImage],
    scanner: FindingsScanner,
    wait: ScanWait,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[PlatformImage, ImageScan]:
    """Each image's scan once it has settled or the wait is over (see the module's docstring)."""
    deadline = clock() + wait.timeout_seconds
    # One read serves every target with the same repository and digest (an image two releases share).
    targets: dict[tuple[str, str], list[PlatformImage]] = {}
    for image in images:
        targets.setdefault((image.repository, image.digest), []).append(image)
    latest: dict[tuple[str, str], ImageScan] = {}
    failures: dict[tuple[str, str], str] = {}
    pending = list(targets)
    while True:
        for key in pending:
            target = targets[key][0]
            try:
                latest[key] = scanner.read_scan(target)
                failures.pop(key, None)
            except ScannerUnavailableError as exc:
                failures[key] = str(exc)
        pending = [k for k in pending if k in failures or not _settled(latest[k])]
        if not pending or clock() + wait.interval_seconds > deadline:
            break
        sleep(wait.interval_seconds)
    results: dict[PlatformImage, ImageScan] = {}
    for key, same in targets.items():
        for image in same:
            if key in failures and key not in latest:
                detail = f"the scan could not be read within {wait.timeout_seconds:g} s: {failures[key]}"
                scan = ImageScan(target=image, status=ScanStatus.UNAVAILABLE, detail=printable(detail))
            else:
                scan = latest[key].model_copy(update={"target": image})
                if scan.status is ScanStatus.IN_PROGRESS:
                    detail = f"still in progress after {wait.timeout_seconds:g} s" + (
                        f": {scan.detail}" if scan.detail else ""
                    )
                    scan = scan.model_copy(update={"detail": printable(detail)})
            results[image] = scan
    return results


class PreviousRelease(BaseModel):
    """The release the stage runs now: its stored findings document, or its platform images to scan now."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    release_id: str
    findings: ReleaseFindings | None = None  # read from the bucket when it has one
    images: tuple[PlatformImage, ...] = ()  # scanned now, in the same wait, when it has none

    @model_validator(mode="after")
    def _one_source(self) -> PreviousRelease:
        if self.findings is not None and self.images:
            raise ValueError("give the previous release's stored findings or its images, not both")
        if self.findings is not None and self.findings.release_id != self.release_id:
            raise ValueError(f"the stored findings are of {self.findings.release_id}, not {self.release_id}")
        return self


def scan_release(
    release_id: str,
    images: Sequence[PlatformImage],
    scanner: FindingsScanner,
    *,
    previous: PreviousRelease | None = None,
    wait: ScanWait | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ReleaseFindings:
    """Scan every platform image of a release and take the delta against ``previous`` (None: nothing promoted)."""
    wait = wait or ScanWait()
    rescan = tuple(previous.images) if previous is not None and previous.findings is None else ()
    scans = collect_scans([*images, *rescan], scanner, wait, clock=clock, sleep=sleep)
    current = tuple(sorted((scans[i] for i in images), key=lambda s: (s.target.image, s.target.platform)))
    baseline: tuple[ImageScan, ...] | None = None
    kind: Literal["none", "stored", "rescanned"] = "none"
    if previous is not None:
        if previous.findings is not None:
            baseline, kind = previous.findings.scans, "stored"
        else:
            baseline, kind = tuple(scans[i] for i in rescan), "rescanned"
    return ReleaseFindings(
        release_id=release_id,
        baseline=kind,
        scans=current,
        delta=findings_delta(current, baseline, previous.release_id if previous is not None else None),
    )
