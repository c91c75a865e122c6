"""A signed record attached to promoted image indexes as an OCI referrer, in a real docker-registry 2.8 (tag schema)."""

from __future__ import annotations

import pytest

from eksd_adopt.attestation import dsse
from eksd_adopt.attestation.attach import attach_record
from eksd_adopt.attestation.errors import AttestationError
from eksd_adopt.attestation.registry import RegistryReferrers
from eksd_adopt.attestation.statement import AdoptedImage, AdoptionStatement, RecordKind
from eksd_adopt.images.client import RegistryClient
from eksd_adopt.images.errors import RegistryError
from eksd_adopt.images.media import sha256_digest
from eksd_adopt.images.referrers import EMPTY_MEDIA_TYPE, ListedBy, list_referrers, referrers_tag
from eksd_adopt.local.ecrfront import LOCAL_CREDENTIALS, EcrFront
from eksd_adopt.local.images import publish_image
from eksd_adopt.local.registry import LocalRegistry
from eksd_adopt.retry import RetryPolicy
from tests.unit.attestation.support import RECORDED_AT, LocalSigner, make_predicate

DSSE = "application/vnd.dsse.envelope.v1+json"
FAST = RetryPolicy(attempts=2, initial_backoff=0.01, max_backoff=0.02)


def _statement(
    registry: LocalRegistry | EcrFront, repository: str, digest: str, **changes: object
) -> AdoptionStatement:
    image = AdoptedImage(
        component="kubernetes",
        asset="pause-image",
        upstream="public.ecr.aws/eks-distro/kubernetes/pause:v1.20.4-eks-1-20-1",
        name=f"{registry.host}/{repository}",
        tag="v1",
        digest=digest,
        platforms=("amd64", "arm64"),
    )
    return AdoptionStatement.of(make_predicate(images=0, archives=1, **changes).model_copy(update={"images": (image,)}))


@pytest.mark.reliability(
    area="attestation",
    fault="a record attached to an image in Debian's docker-registry 2.8, which has no referrers API",
    expected="the referrers tag schema: an OCI index under sha256-<hex> lists it once, readable back",
)
def test_a_record_is_attached_through_the_tag_schema_and_read_back(private: LocalRegistry, observed: object) -> None:
    repository = "eksd/prod/eks-distro/kubernetes/pause"
    digest = publish_image(private.url, repository, "v1", seed="attach")
    client = RegistryClient(private.url, retry=FAST)
    signer = LocalSigner()
    statement = _statement(private, repository, digest)
    envelope = dsse.sign(statement.payload(), signer).to_json()
    target = RegistryReferrers(client)

    (attached,) = attach_record(target, private.host, statement, envelope)
    assert attached.listed_by == ListedBy.TAG_SCHEMA and attached.image == f"{private.host}/{repository}@{digest}"
    assert client.get_referrers(repository, digest) is None  # distribution 2.8: 404, no API
    (found,), listed_by = list_referrers(client, repository, digest)
    assert listed_by is ListedBy.TAG_SCHEMA and found.descriptor.digest == attached.referrer
    assert found.artifact_type == DSSE
    assert found.annotations["dev.eksd-adopt.release-id"] == "1-20-1"
    assert found.annotations["in-toto.io/predicate-type"] == "https://eksd-adopt.dev/adoption-record/v1"
    manifest = client.get_manifest(repository, attached.referrer).document
    assert manifest["artifactType"] == DSSE and manifest["subject"]["digest"] == digest
    assert manifest["config"] == {"mediaType": EMPTY_MEDIA_TYPE, "digest": sha256_digest(b"{}"), "size": 2}
    layer = manifest["layers"][0]
    with client.open_blob(repository, layer["digest"], size=layer["size"]) as chunks:
        stored = b"".join(chunks)
    assert stored == envelope
    assert dsse.verify(dsse.Envelope.from_json(stored), signer.public_key()) == statement.payload()

    # Attaching the same record again lists it once; a second record (a rollback) is listed beside it.
    attach_record(target, private.host, statement, envelope)
    rollback = _statement(private, repository, digest, kind=RecordKind.ROLLBACK, workflow_execution=None)
    attach_record(target, private.host, rollback, dsse.sign(rollback.payload(), signer).to_json())
    referrers, _ = list_referrers(client, repository, digest)
    assert len(referrers) == 2 and {r.annotations["dev.eksd-adopt.kind"] for r in referrers} == {
        "promotion",
        "rollback",
    }
    observed(f"listed under tag {referrers_tag(digest)[:20]}...: {len(referrers)} records, the envelope read back")  # type: ignore[operator]


def test_attaching_to_an_image_of_another_registry_is_refused(private: LocalRegistry) -> None:
    statement = _statement(private, "eksd/prod/x", "sha256:" + "a" * 64)
    with pytest.raises(AttestationError, match="names registry"):
        attach_record(RegistryReferrers(RegistryClient(private.url)), "other:5000", statement, b"{}")


def test_the_recorded_at_annotation_is_the_records_time(private: LocalRegistry, name: str) -> None:
    repository = f"eksd/prod/{name}"
    digest = publish_image(private.url, repository, "v1", seed=name)
    statement = _statement(private, repository, digest)
    (attached,) = attach_record(RegistryReferrers(RegistryClient(private.url)), private.host, statement, b"{}")
    annotations = RegistryClient(private.url).get_manifest(repository, attached.referrer).document["annotations"]
    assert annotations["org.opencontainers.image.created"] == RECORDED_AT.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.reliability(
    area="attestation",
    fault="a second record (a rollback's, another promotion's) attached to the same image in ECR, whose tags are immutable",
    expected="listed by the referrers API (OCI-Subject), no sha256-<hex> tag; through the tag schema the second fails",
)
@pytest.mark.parametrize("api", [True, False], ids=["referrers-api", "tag-schema"])
def test_a_second_record_of_the_same_image_in_ecr(
    private: LocalRegistry, name: str, api: bool, observed: object
) -> None:
    """ECR answers OCI-Subject and serves the referrers API, and its repositories have immutable tags (both
    reproduced by the ECR front). The tag schema's index must be rewritten under the same tag for each new
    referrer: ECR refuses that (TAG_INVALID), so only the API path lets a stage hold a second record."""
    repository = f"eksd/prod/{name}"
    digest = publish_image(private.url, repository, "v1", seed=name)
    with EcrFront(private.url, referrers_api=api) as ecr:
        client = RegistryClient(ecr.url, credentials=LOCAL_CREDENTIALS, retry=FAST)
        target = RegistryReferrers(client)
        signer = LocalSigner()
        statements = [
            _statement(ecr, repository, digest),
            _statement(ecr, repository, digest, kind=RecordKind.ROLLBACK),
        ]
        attached = attach_record(target, ecr.host, statements[0], dsse.sign(statements[0].payload(), signer).to_json())
        if not api:
            assert [a.listed_by for a in attached] == [ListedBy.TAG_SCHEMA.value]
            with pytest.raises(RegistryError, match="immutable"):
                attach_record(target, ecr.host, statements[1], dsse.sign(statements[1].payload(), signer).to_json())
            observed("tag schema: the second record is refused (TAG_INVALID)")  # type: ignore[operator]
            return
        attach_record(target, ecr.host, statements[1], dsse.sign(statements[1].payload(), signer).to_json())
        found, listed_by = list_referrers(client, repository, digest)
        assert listed_by is ListedBy.API
        assert sorted(r.annotations["dev.eksd-adopt.kind"] for r in found) == ["promotion", "rollback"]
        assert client.head_manifest(repository, referrers_tag(digest)) is None  # no tag was written
        assert any(r.note == "referrers API" for r in ecr.requests)
    observed("referrers API: both records listed, no referrers tag")  # type: ignore[operator]
