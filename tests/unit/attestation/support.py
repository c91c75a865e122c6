"""Test doubles for the adoption record: an in-process ECDSA signer and a predicate of a release's shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from eksd_adopt.attestation.dsse import key_fingerprint
from eksd_adopt.attestation.statement import (
    AdoptedArchive,
    AdoptedImage,
    AdoptionPredicate,
    AdoptionStatement,
    Approval,
    CheckOutcome,
    RecordKind,
    StageManifest,
    UpstreamRelease,
    Verification,
)

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
RECORDED_AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:eksd-adopt-release:adopt-1-20-1"


class LocalSigner:
    """A :class:`~eksd_adopt.attestation.dsse.Signer` holding its private key in memory; counts its signatures."""

    def __init__(self, key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.calls = 0

    @property
    def keyid(self) -> str:
        return key_fingerprint(self.key.public_key())

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.key.public_key()

    def sign(self, message: bytes) -> bytes:
        self.calls += 1
        return self.key.sign(message, ec.ECDSA(hashes.SHA256()))


def hexof(seed: str, length: int = 64) -> str:
    import hashlib

    return (hashlib.sha512(seed.encode()).hexdigest() * 2)[:length]


def make_predicate(
    *, images: int = 17, archives: int = 45, stage: str = "prod", release_id: str = "1-20-1", **changes: Any
) -> AdoptionPredicate:
    channel, _, number = release_id.rpartition("-")
    head = f"eksd/{stage}/kubernetes-{channel}"
    values: dict[str, Any] = {
        "kind": RecordKind.PROMOTION,
        "recorded_at": RECORDED_AT,
        "stage": stage,
        "previous_release_id": None,
        "workflow_execution": EXECUTION,
        "upstream": UpstreamRelease(
            release_id=release_id,
            channel=channel,
            number=int(number),
            kubernetes_version="v1.20.4",
            manifest_url=f"https://distro.eks.amazonaws.com/kubernetes-{channel}/kubernetes-{channel}-eks-{number}.yaml",
            manifest_sha256=hexof("manifest"),
        ),
        "stage_manifest": StageManifest(key=f"{head}/kubernetes-{channel}-eks-{number}.yaml", sha256=hexof("stage")),
        "images": tuple(
            AdoptedImage(
                component="kubernetes",
                asset=f"image-{i}-image",
                upstream=f"public.ecr.aws/eks-distro/kubernetes/image-{i}:v1.20.4-eks-{release_id}",
                name=f"{REGISTRY}/eksd/{stage}/eks-distro/kubernetes/image-{i}",
                tag=f"v1.20.4-eks-{release_id}",
                digest="sha256:" + hexof(f"image-{i}"),
                platforms=("amd64", "arm64"),
            )
            for i in range(images)
        ),
        "archives": tuple(
            AdoptedArchive(
                component="kubernetes",
                asset=f"bin/linux/amd64/tool-{i}",
                upstream_url=f"https://distro.eks.amazonaws.com/kubernetes-{channel}/releases/{number}/artifacts/kubernetes/v1.20.4/bin/linux/amd64/tool-{i}",
                key=f"{head}/releases/{number}/artifacts/kubernetes/v1.20.4/bin/linux/amd64/tool-{i}",
                sha256=hexof(f"archive-{i}"),
                sha512=hexof(f"archive-{i}", 128),
            )
            for i in range(archives)
        ),
        "verification": Verification(
            digests=CheckOutcome(ok=True, checks=images * 2 + archives, failed=0, completed_at=RECORDED_AT),
            checksum_files=CheckOutcome(ok=True, checks=archives * 2, failed=0, completed_at=RECORDED_AT),
            smoke_tests=CheckOutcome(ok=True, checks=images * 3 + archives, failed=0, completed_at=RECORDED_AT),
            team_tests=None,
        ),
        "approvals": (
            Approval(
                principal="arn:aws:sts::123456789012:assumed-role/ReleaseApprovers/alice",
                counted_as="arn:aws:iam::123456789012:role/ReleaseApprovers",
                decided_at=RECORDED_AT,
                comment="smoke tests fine",
                accepted_findings=("CVE-2026-1234",),
            ),
        ),
    }
    values.update(changes)
    return AdoptionPredicate(**values)


def make_statement(**kwargs: Any) -> AdoptionStatement:
    return AdoptionStatement.of(make_predicate(**kwargs))
