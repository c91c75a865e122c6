"""Promotion writes the signed record before the pointer moves; a retried Promote writes the same record once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from eksd_adopt.approvals.models import ApprovalRequest, ApprovalVote
from eksd_adopt.archives.store import InMemoryArchiveStore
from eksd_adopt.attestation import dsse
from eksd_adopt.attestation.errors import AttestationError
from eksd_adopt.attestation.statement import AdoptionStatement
from eksd_adopt.events import InMemoryPublisher
from eksd_adopt.images.media import Descriptor, Manifest
from eksd_adopt.ledger import InMemoryLedger, ReleaseRecord, ReleaseStatus
from eksd_adopt.plan import CopyPlan, plan_release
from eksd_adopt.release.validate import validate_manifest
from eksd_adopt.workflow.checks import StagedImage
from eksd_adopt.workflow.models import ReleaseRef, StagePointer
from eksd_adopt.workflow.promotion import Attestation, promote
from eksd_adopt.workflow.records import PromotionEvidence, Recording
from tests.unit.attestation.support import LocalSigner
from tests.unit.workflow.fakes import FakePointers, FakeStore
from tests.unit.workflow.test_promotion_summary import Promoter

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ENTERED = datetime(2026, 3, 4, 5, 6, 7, 123000, tzinfo=UTC)
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:eksd-adopt-release:adopt-1-20-1"
APPROVER = "arn:aws:sts::123456789012:assumed-role/ReleaseApprovers/alice"
DONE = {"ok": True, "checks": 3, "failed": 0, "completed_at": "2026-03-04T05:00:00+00:00"}


class Referrers:
    """A registry taking referrers: records what was attached to which index."""

    def __init__(self) -> None:
        self.attached: list[tuple[str, str]] = []

    def subject(self, repository: str, digest: str) -> Descriptor:
        return Descriptor("application/vnd.oci.image.index.v1+json", digest, 100)

    def attach(self, repository: str, manifest: Manifest, blobs: dict[str, bytes], subject: Descriptor) -> str:
        self.attached.append((repository, subject.digest))
        return "referrers-api"


class Gates:
    def __init__(self, votes: list[ApprovalVote]) -> None:
        self.votes = votes

    def get(self, release_id: str, stage: str) -> ApprovalRequest | None:
        return ApprovalRequest(
            release_id=release_id, stage=stage, channel="1-20", number=1, requested_at=ENTERED, votes=self.votes
        )


class VoteWithFindings(ApprovalVote):
    """A vote as the approvals store keeps it once approvers acknowledge findings (another change adds it)."""

    accepted_findings: list[str] = []


def setup(manifest_1_20: str) -> dict[str, Any]:
    plan = plan_release(validate_manifest(manifest_1_20).require_valid(strict=False), prefix="eksd")
    store = FakeStore()
    location = store.put("eksd/upstream/kubernetes-1-20/kubernetes-1-20-eks-1.yaml", manifest_1_20.encode())
    release = ReleaseRef(
        release_id="1-20-1",
        channel="1-20",
        number=1,
        kubernetes_version="v1.20.4",
        manifest_url="https://distro.eks.amazonaws.com/kubernetes-1-20/kubernetes-1-20-eks-1.yaml",
        manifest_location=location,
    )
    ledger = InMemoryLedger()
    ledger.create(ReleaseRecord(release_id="1-20-1", channel="1-20", number=1, status=ReleaseStatus.APPROVED))
    images = [
        StagedImage(
            repository=job.target_repository,
            tag=job.tag,
            digest="sha256:" + "a" * 64,
            source=job.source,
            arch=list(job.arch),
        )
        for job in plan.images
    ]
    return {"plan": plan, "store": store, "release": release, "ledger": ledger, "images": images}


def run(
    parts: dict[str, Any],
    pointers: FakePointers,
    recording: Recording,
    votes: list[ApprovalVote],
    tests: dict[str, Any] | None = None,
) -> Any:
    plan: CopyPlan = parts["plan"]
    evidence = PromotionEvidence(
        recorded_at=ENTERED,
        execution=EXECUTION,
        verification=DONE,
        tests=tests if tests is not None else {"smoke": DONE, "team": {"configured": False}},
    )
    return promote(
        parts["release"],
        plan,
        parts["images"],
        "prod",
        promoter=Promoter(),
        store=parts["store"],
        pointers=pointers,
        ledger=parts["ledger"],
        publisher=InMemoryPublisher(),
        registry_host=REGISTRY,
        attestation=Attestation(evidence=evidence, recording=recording, approvals=Gates(votes)),  # type: ignore[arg-type]
    )


def test_a_retried_promotion_finds_its_record_and_keeps_the_previous_release(manifest_1_20: str) -> None:
    parts = setup(manifest_1_20)
    bucket, signer, referrers = InMemoryArchiveStore(), LocalSigner(), Referrers()
    recording = Recording(bucket, signer, signer.public_key, referrers, "eksd", REGISTRY)
    pointers = FakePointers()
    pointers.put("prod", StagePointer(release_id="1-20-7", channel="1-20", number=7, manifest_location="s3://b/k"))
    vote = VoteWithFindings(
        approver=APPROVER, decision="approve", comment="ok", decided_at=ENTERED, accepted_findings=["CVE-2026-0001"]
    )

    first = run(parts, pointers, recording, [vote])
    assert pointers.get("prod", "1-20").release_id == "1-20-1"  # type: ignore[union-attr]
    # Lambda retried the state after the pointer moved: same entry time, so the same record, not signed again.
    second = run(parts, pointers, recording, [vote])

    assert (
        first.record_key
        == second.record_key
        == "eksd/prod/kubernetes-1-20/kubernetes-1-20-eks-1.promotion.20260304T050607Z.intoto.jsonl"
    )
    assert signer.calls == 1
    envelope = dsse.Envelope.from_json(bucket.get(first.record_key).rstrip(b"\n"))  # type: ignore[union-attr]
    predicate = AdoptionStatement.parse(dsse.verify(envelope, signer.public_key())).predicate
    assert predicate.previous_release_id == "1-20-7"
    assert predicate.workflow_execution == EXECUTION and predicate.recorded_at == ENTERED
    assert [(a.principal, a.accepted_findings) for a in predicate.approvals] == [(APPROVER, ("CVE-2026-0001",))]
    assert predicate.verification.team_tests is None and predicate.verification.smoke_tests.checks == 3
    assert all(i.name.startswith(f"{REGISTRY}/eksd/prod/") for i in predicate.images)
    assert len(referrers.attached) == 2 * len(parts["images"])  # each try attaches (the registry keeps one)
    assert bucket.get("eksd/attestation/public-key.pem") == dsse.public_key_pem(signer.public_key())


def test_without_the_checks_summaries_nothing_is_signed_and_the_pointer_stays(manifest_1_20: str) -> None:
    parts = setup(manifest_1_20)
    signer = LocalSigner()
    recording = Recording(InMemoryArchiveStore(), signer, signer.public_key, Referrers(), "eksd", REGISTRY)
    pointers = FakePointers()
    with pytest.raises(AttestationError, match="smoke"):
        run(parts, pointers, recording, [], tests={"team": {"configured": False}})
    assert pointers.get("prod", "1-20") is None and signer.calls == 0
