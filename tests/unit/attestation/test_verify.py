"""verify_adoption with in-memory ports: every subject re-checked and named, nothing trusted that the record does not sign."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pytest

from eksd_adopt.archives.store import InMemoryArchiveStore
from eksd_adopt.attestation.ports import StagePointer
from eksd_adopt.attestation.record import write_record
from eksd_adopt.attestation.statement import AdoptedArchive, AdoptionStatement, StageManifest
from eksd_adopt.attestation.verify import Outcome, VerificationReport, verify_adoption
from eksd_adopt.images.errors import RegistryUnavailableError
from tests.unit.attestation.support import REGISTRY, LocalSigner, make_predicate


@dataclass
class FakeRegistry:
    host: str = REGISTRY
    manifests: dict[tuple[str, str], str] = field(default_factory=dict)
    down: bool = False

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        if self.down:
            raise RegistryUnavailableError(f"{self.host}: still failing after 5 attempts")
        return self.manifests.get((repository, reference))


@dataclass
class FakePointers:
    pointers: dict[tuple[str, str], StagePointer] = field(default_factory=dict)

    def current(self, stage: str, channel: str) -> StagePointer | None:
        return self.pointers.get((stage, channel))


@dataclass
class World:
    bucket: InMemoryArchiveStore
    registry: FakeRegistry
    pointers: FakePointers
    signer: LocalSigner
    statement: AdoptionStatement

    def verify(self, **kwargs: object) -> VerificationReport:
        arguments: dict[str, object] = {
            "stage": "prod",
            "prefix": "eksd",
            "bucket": self.bucket,
            "pointers": self.pointers,
            "registry": self.registry,
            "public_key": self.signer.public_key(),
            "bucket_name": "artifacts",
        }
        if "release_id" not in kwargs:
            arguments["channel"] = "1-20"
        arguments.update(kwargs)
        return verify_adoption(**arguments)  # type: ignore[arg-type]


def world(images: int = 3, archives: int = 4) -> World:
    bucket, registry, signer = InMemoryArchiveStore(), FakeRegistry(), LocalSigner()
    base = make_predicate(images=images, archives=archives)
    stored_archives = []
    for archive in base.archives:
        data = archive.key.encode() * 3
        sha256, sha512 = hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest()
        bucket.put(archive.key, data, metadata={"sha256": sha256, "sha512": sha512})
        stored_archives.append(archive.model_copy(update={"sha256": sha256, "sha512": sha512}))
    manifest_body = b"apiVersion: distro.eks.amazonaws.com/v1alpha1\n"
    bucket.put(base.stage_manifest.key, manifest_body, metadata={})
    manifest = StageManifest(key=base.stage_manifest.key, sha256=hashlib.sha256(manifest_body).hexdigest())
    predicate = base.model_copy(update={"archives": tuple(stored_archives), "stage_manifest": manifest})
    statement = AdoptionStatement.of(predicate)
    for image in predicate.images:
        repository = image.name.removeprefix(f"{REGISTRY}/")
        registry.manifests[(repository, image.tag)] = image.digest
        registry.manifests[(repository, image.digest)] = image.digest
    write_record(bucket, "eksd", statement, signer)
    pointer = StagePointer(release_id="1-20-1", manifest_location=f"s3://artifacts/{manifest.key}")
    return World(bucket, registry, FakePointers({("prod", "1-20"): pointer}), signer, statement)


def test_an_untouched_adoption_verifies_subject_by_subject() -> None:
    w = world()
    report = w.verify()
    assert report.ok, report.failures
    assert report.counts() == {"record": 1, "pointer": 1, "image": 3, "archive": 4, "manifest": 1}
    assert report.release_id == "1-20-1" and report.record_kind is not None and report.record_kind.value == "promotion"
    assert w.verify(release_id="1-20-1", deep=True).ok


def _failure(report: VerificationReport) -> tuple[str, str, Outcome, str]:
    assert not report.ok
    (failure,) = report.failures
    return failure.kind, failure.name, failure.outcome, failure.detail


def test_an_image_retagged_in_the_registry_is_named() -> None:
    w = world()
    image = w.statement.predicate.images[1]
    w.registry.manifests[(image.name.removeprefix(f"{REGISTRY}/"), image.tag)] = "sha256:" + "e" * 64
    kind, name, outcome, detail = _failure(w.verify())
    assert (kind, name, outcome) == ("image", f"{image.name}:{image.tag}", Outcome.MISMATCH)
    assert "sha256:" + "e" * 64 in detail and image.digest in detail


def test_an_image_deleted_by_digest_is_missing() -> None:
    w = world()
    image = w.statement.predicate.images[0]
    del w.registry.manifests[(image.name.removeprefix(f"{REGISTRY}/"), image.digest)]
    assert _failure(w.verify())[2] is Outcome.MISSING


def test_an_archive_replaced_is_named_by_metadata_or_by_its_bytes() -> None:
    w = world()
    archive: AdoptedArchive = w.statement.predicate.archives[2]
    _, metadata = w.bucket.objects[archive.key]
    w.bucket.put(archive.key, b"other bytes", metadata=metadata)  # same metadata: only --deep sees it
    assert w.verify().ok
    kind, name, outcome, detail = _failure(w.verify(deep=True))
    assert (kind, name, outcome) == ("archive", archive.key, Outcome.MISMATCH)
    assert f"sha256 {hashlib.sha256(b'other bytes').hexdigest()} in its bytes" in detail
    w.bucket.put(archive.key, b"other bytes", metadata={**metadata, "sha512": "0" * 128})
    assert "in its metadata" in _failure(w.verify())[3]
    del w.bucket.objects[archive.key]
    assert _failure(w.verify())[2] is Outcome.MISSING


def test_a_changed_stage_manifest_is_named() -> None:
    w = world()
    key = w.statement.predicate.stage_manifest.key
    w.bucket.put(key, b"rewritten", metadata={})
    assert _failure(w.verify())[:3] == ("manifest", key, Outcome.MISMATCH)


def test_a_record_signed_by_another_key_stops_everything() -> None:
    w = world()
    report = w.verify(public_key=LocalSigner().public_key())
    kind, _, outcome, detail = _failure(report)
    assert (kind, outcome) == ("record", Outcome.MISMATCH) and "no signature" in detail
    assert report.counts() == {"record": 1}  # no subject is reported on the word of an unverified record


def test_a_pointer_at_another_release_or_manifest_is_refused() -> None:
    w = world()
    w.pointers.pointers[("prod", "1-20")] = StagePointer(release_id="1-20-1", manifest_location="s3://artifacts/x.yaml")
    assert _failure(w.verify())[:3] == ("pointer", "prod/1-20", Outcome.MISMATCH)
    key = w.statement.predicate.stage_manifest.key
    w.pointers.pointers[("prod", "1-20")] = StagePointer(release_id="1-20-1", manifest_location=f"s3://other/{key}")
    assert "bucket other" in _failure(w.verify())[3]
    w.pointers.pointers[("prod", "1-20")] = StagePointer(release_id="1-21-1", manifest_location=f"s3://artifacts/{key}")
    assert "not a release of channel 1-20" in _failure(w.verify())[3]
    w.pointers.pointers.clear()
    assert _failure(w.verify())[:3] == ("pointer", "prod/1-20", Outcome.MISSING)


def test_no_record_for_the_pointed_release_is_named() -> None:
    w = world()
    w.pointers.pointers[("prod", "1-20")] = StagePointer(
        release_id="1-20-2", manifest_location="s3://artifacts/eksd/prod/kubernetes-1-20/kubernetes-1-20-eks-2.yaml"
    )
    kind, name, outcome, detail = _failure(w.verify())
    assert (kind, name, outcome) == ("record", "1-20-2", Outcome.MISSING)
    assert "no adoption record of 1-20-2 in stage prod" in detail


def test_a_genuine_record_of_another_stage_copied_under_this_stages_key_is_refused() -> None:
    w = world()
    (key,) = [k for k in w.bucket.objects if k.endswith(".intoto.jsonl")]
    staging = AdoptionStatement.of(make_predicate(stage="staging", images=3, archives=4))
    copied = write_record(InMemoryArchiveStore(), "eksd", staging, w.signer)
    w.bucket.objects[key] = (copied.envelope + b"\n", {})
    assert "of stage staging, not prod" in _failure(w.verify())[3]


def test_an_unreachable_registry_leaves_images_unchecked_not_verified() -> None:
    w = world()
    w.registry.down = True
    report = w.verify()
    assert not report.ok
    assert {c.outcome for c in report.failures} == {Outcome.UNCHECKED} and len(report.failures) == 3


def test_a_record_naming_another_registry_is_not_checked_elsewhere() -> None:
    w = world()
    w.registry.host = "127.0.0.1:5000"
    assert {c.outcome for c in w.verify().failures} == {Outcome.UNCHECKED}


def test_a_channel_and_a_release_together_are_a_usage_error() -> None:
    with pytest.raises(ValueError, match="not both"):
        world().verify(release_id="1-20-1", channel="1-20")
