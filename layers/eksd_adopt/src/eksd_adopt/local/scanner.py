"""An in-memory findings scanner for tests and the local runtime, which has no ECR to scan its images.

Seeded per platform image digest (:meth:`FakeScanner.seed`) or per upstream image path for every
digest of it (:meth:`FakeScanner.seed_image`); a digest's own seed wins over its image's. A seed can
answer IN_PROGRESS for its first reads (a scan that takes a while) or fail its first reads as a
throttled registry does, so the bounded wait is exercised as against ECR. Anything not seeded
answers as ECR does for an image nobody scanned: SCAN_NOT_FOUND, never "no findings".

:func:`seed_demo` is what the demo seeds: one new HIGH finding (and one LOW) in one image, ``pause``
unscannable as ECR finds an image FROM scratch, every other image scanned clean. The demo's ids are
in the year 2099 so they cannot be taken for real findings in EKS-D.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eksd_adopt.findings.errors import ScannerUnavailableError
from eksd_adopt.findings.model import Finding, ImageScan, PlatformImage, ScanStatus, Severity

# Fixed, so the same seeds give the same findings document (it is stored write-once).
SCANNED_AT = datetime(2099, 1, 1, tzinfo=UTC)
DEMO_HIGH = Finding(id="CVE-2099-0001", severity=Severity.HIGH, package="golang.org/x/net", version="v0.0.0-demo")
DEMO_LOW = Finding(id="CVE-2099-0002", severity=Severity.LOW, package="glibc", version="2.26-demo")
DEMO_HIGH_IMAGE = "eks-distro/kubernetes/kube-proxy"
DEMO_UNSCANNABLE = "eks-distro/kubernetes/pause"  # built FROM scratch: ECR answers UNSUPPORTED_IMAGE


@dataclass
class _Seed:
    findings: tuple[Finding, ...]
    status: ScanStatus
    detail: str
    in_progress_reads: int
    unavailable_reads: int
    reads: int = field(default=0)


class FakeScanner:
    """A :class:`~eksd_adopt.findings.ports.FindingsScanner` answering from seeds; thread-safe."""

    def __init__(self) -> None:
        self._by_digest: dict[str, _Seed] = {}
        self._by_image: dict[str, _Seed] = {}
        self._default: _Seed | None = None
        self._lock = threading.Lock()
        self.reads: list[tuple[str, str]] = []  # (repository, digest) of every read, in order

    @staticmethod
    def _seed(
        findings: Iterable[Finding], status: ScanStatus, detail: str, in_progress_reads: int, unavailable_reads: int
    ) -> _Seed:
        findings = tuple(findings)
        if findings and status is not ScanStatus.COMPLETE:
            raise ValueError(f"only a COMPLETE scan has findings, not a {status.value} one")
        if in_progress_reads < 0 or unavailable_reads < 0:
            raise ValueError("read counts cannot be negative")
        return _Seed(findings, status, detail, in_progress_reads, unavailable_reads)

    def seed(
        self,
        digest: str,
        findings: Iterable[Finding] = (),
        *,
        status: ScanStatus = ScanStatus.COMPLETE,
        detail: str = "",
        in_progress_reads: int = 0,
        unavailable_reads: int = 0,
    ) -> None:
        """What reading the platform image ``digest`` answers (first ``unavailable_reads`` fail, then ``in_progress_reads`` are IN_PROGRESS)."""
        with self._lock:
            self._by_digest[digest] = self._seed(findings, status, detail, in_progress_reads, unavailable_reads)

    def seed_image(
        self,
        image: str,
        findings: Iterable[Finding] = (),
        *,
        status: ScanStatus = ScanStatus.COMPLETE,
        detail: str = "",
        in_progress_reads: int = 0,
        unavailable_reads: int = 0,
    ) -> None:
        """The same for every platform image of the upstream image path ``image`` (each digest counts its own reads)."""
        with self._lock:
            self._by_image[image] = self._seed(findings, status, detail, in_progress_reads, unavailable_reads)

    def seed_default(self, findings: Iterable[Finding] = (), *, status: ScanStatus = ScanStatus.COMPLETE) -> None:
        """What any platform image not seeded otherwise answers (without this: SCAN_NOT_FOUND)."""
        with self._lock:
            self._default = self._seed(findings, status, "", 0, 0)

    def read_scan(self, image: PlatformImage) -> ImageScan:
        with self._lock:
            self.reads.append((image.repository, image.digest))
            seed = self._by_digest.get(image.digest)
            if seed is None:
                template = self._by_image.get(image.image) or self._default
                if template is None:
                    return ImageScan(
                        target=image, status=ScanStatus.SCAN_NOT_FOUND, detail="no scan of this image (not seeded)"
                    )
                # Per digest from here on: each platform image counts its own reads, as each is its own scan.
                seed = self._by_digest[image.digest] = _Seed(
                    template.findings,
                    template.status,
                    template.detail,
                    template.in_progress_reads,
                    template.unavailable_reads,
                )
            seed.reads += 1
            if seed.reads <= seed.unavailable_reads:
                raise ScannerUnavailableError(f"{image}: ThrottlingException (fake, read {seed.reads})")
            if seed.reads <= seed.unavailable_reads + seed.in_progress_reads:
                return ImageScan(target=image, status=ScanStatus.IN_PROGRESS, registry_status="IN_PROGRESS")
            complete = seed.status is ScanStatus.COMPLETE
            return ImageScan(
                target=image,
                status=seed.status,
                registry_status=seed.status.value if seed.status is not ScanStatus.SCAN_NOT_FOUND else None,
                detail=seed.detail,
                completed_at=SCANNED_AT if complete else None,
                findings=seed.findings,
            )


def seed_demo(scanner: FakeScanner, *, high_image: str = DEMO_HIGH_IMAGE) -> None:
    """The demo's findings: :data:`DEMO_HIGH` and :data:`DEMO_LOW` in ``high_image``, ``pause`` unscannable, the rest clean.

    Against a stage that runs nothing yet (the demo's first release) both findings are new, so the
    approvers' table lists one new HIGH finding.
    """
    scanner.seed_default()
    scanner.seed_image(high_image, [DEMO_HIGH, DEMO_LOW])
    scanner.seed_image(
        DEMO_UNSCANNABLE,
        status=ScanStatus.UNSUPPORTED_IMAGE,
        detail="fake: an image FROM scratch, which ECR does not scan",
    )
