"""OCI referrers against Debian's docker-registry 2.8 (no referrers API: the tag schema) and a registry with the API;
the image copier mirrors upstream's referrers."""

from __future__ import annotations

import json

import pytest

from eksd_adopt.endpoints import EndpointMap
from eksd_adopt.images.client import RegistryClient
from eksd_adopt.images.copier import ImageCopier, SourceRegistries
from eksd_adopt.images.errors import RegistryError
from eksd_adopt.images.media import OCI_INDEX, OCI_MANIFEST, Manifest, sha256_digest
from eksd_adopt.images.referrers import ListedBy, artifact_manifest, attach, list_referrers, referrers_tag
from eksd_adopt.local.faultproxy import Fault, FaultProxy
from eksd_adopt.local.images import publish_image
from eksd_adopt.local.registry import LocalRegistry
from eksd_adopt.plan import ImageCopyJob
from eksd_adopt.retry import RetryPolicy

DSSE = "application/vnd.dsse.envelope.v1+json"
FAST = RetryPolicy(attempts=2, initial_backoff=0.01, max_backoff=0.02)


def test_a_non_index_under_the_referrers_tag_is_reported(private: LocalRegistry, name: str) -> None:
    repository = f"eksd/prod/{name}"
    digest = publish_image(private.url, repository, "v1", seed=name)
    other = publish_image(private.url, repository, "v2", platforms=("linux/amd64",), seed=name)
    client = RegistryClient(private.url, retry=FAST)
    platform = client.get_manifest(repository, other).children("x")[0]
    client.put_manifest(repository, referrers_tag(digest), client.get_manifest(repository, platform.digest))
    with pytest.raises(RegistryError, match="not the referrers index"):
        list_referrers(client, repository, digest)


def test_a_registry_with_the_referrers_api_lists_what_it_answers_for(private: LocalRegistry, name: str) -> None:
    """A registry answering OCI-Subject keeps the list itself: no tag is written; its listing is read page by page."""
    repository = f"eksd/prod/{name}"
    digest = publish_image(private.url, repository, "v1", seed=name)
    with FaultProxy(private.url) as proxy:
        client = RegistryClient(proxy.url, retry=FAST)
        subject = client.get_manifest(repository, digest).descriptor()
        manifest, blobs = artifact_manifest(DSSE, DSSE, b'{"payload":""}', subject, {"a": "b"})
        proxy.inject(
            Fault.SERVE,
            f"/v2/{repository}/manifests/{manifest.digest}",
            method="PUT",
            status=201,
            headers={"OCI-Subject": digest, "Docker-Content-Digest": manifest.digest},
        )
        assert attach(client, repository, manifest, blobs, subject) is ListedBy.API
        assert client.head_manifest(repository, referrers_tag(digest)) is None

        entry = {"mediaType": OCI_MANIFEST, "digest": manifest.digest, "size": len(manifest.body), "artifactType": DSSE}
        page = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}).encode()
        second = {**entry, "digest": sha256_digest(b"second")}
        page_2 = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [second]}).encode()
        base = f"/v2/{repository}/referrers/{digest}"
        index_headers = {"Content-Type": OCI_INDEX}
        proxy.inject(
            Fault.SERVE,
            f"{base}$",
            status=200,
            body=page,
            headers={**index_headers, "Link": f'<{base}?last=1>; rel="next"'},
        )
        proxy.inject(Fault.SERVE, f"{base}\\?last=1", status=200, body=page_2, headers=index_headers)
        found, listed_by = list_referrers(client, repository, digest)
        assert listed_by is ListedBy.API and [r.descriptor.digest for r in found] == [manifest.digest, second["digest"]]


@pytest.mark.reliability(
    area="attestation",
    fault="a referrers API answering another content type, a Link to another host, or an entry with a bad artifactType",
    expected="refused with RegistryError naming the list; nothing is followed or copied",
)
@pytest.mark.parametrize(
    ("headers", "entry", "message"),
    [
        ({"Content-Type": "application/json"}, {}, "not an OCI index"),
        (
            {"Content-Type": OCI_INDEX, "Link": '<http://169.254.169.254/v2/x>; rel="next"'},
            {},
            "not a page of this list",
        ),
        ({"Content-Type": OCI_INDEX, "Link": "garbage"}, {}, "not one rel=next link"),
        ({"Content-Type": OCI_INDEX}, {"artifactType": "not a media type\n"}, "artifactType"),
        ({"Content-Type": OCI_INDEX}, {"annotations": {"k": 5}}, "annotation"),
        ({"Content-Type": OCI_INDEX}, {"digest": "sha256:../../x"}, "not a sha256 digest"),
    ],
)
def test_hostile_referrers_answers_are_refused(
    private: LocalRegistry, name: str, headers: dict[str, str], entry: dict[str, object], message: str, observed: object
) -> None:
    repository = f"eksd/prod/{name}"
    digest = publish_image(private.url, repository, "v1", seed=name)
    with FaultProxy(private.url) as proxy:
        client = RegistryClient(proxy.url, retry=FAST)
        listed = {"mediaType": OCI_MANIFEST, "digest": sha256_digest(b"r"), "size": 10, **entry}
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [listed]}).encode()
        proxy.inject(Fault.SERVE, f"/v2/{repository}/referrers/", status=200, body=body, headers=headers)
        with pytest.raises(RegistryError, match=message):
            list_referrers(client, repository, digest)
    observed(f"refused: {message}")  # type: ignore[operator]


# --- the image copier carries upstream's referrers -----------------------------------------------------


def _copier(upstream: LocalRegistry, private: LocalRegistry) -> ImageCopier:
    sources = SourceRegistries(
        endpoints=EndpointMap.parse([f"public.ecr.aws={upstream.url}"]),
        client_factory=lambda base, host, policy: RegistryClient(base, display_host=host, retry=FAST, policy=policy),
    )
    return ImageCopier(RegistryClient(private.url, retry=FAST), sources=sources)


def _job(repository: str) -> ImageCopyJob:
    return ImageCopyJob(
        component="test",
        asset="signed-image",
        source=f"public.ecr.aws/{repository}:v1",
        known_digest=None,
        target_repository=f"eksd/staging/{repository}",
        tag="v1",
        arch=("amd64", "arm64"),
    )


def _sign_upstream(client: RegistryClient, repository: str, digest: str, kind: str, body: bytes) -> Manifest:
    subject = client.get_manifest(repository, digest).descriptor()
    manifest, blobs = artifact_manifest(kind, kind, body, subject, {"org.example.kind": kind})
    attach(client, repository, manifest, blobs, subject)
    return manifest


@pytest.mark.reliability(
    area="images",
    fault="upstream publishes referrers (a signature and an SBOM) of an image, through the referrers tag schema",
    expected="the mirror copies both, byte for byte, into staging; promotion carries them into the stage",
)
def test_the_copier_mirrors_upstream_referrers_and_promotion_carries_them(
    upstream: LocalRegistry, private: LocalRegistry, name: str, observed: object
) -> None:
    digest = publish_image(upstream.url, name, "v1", seed=name)
    source = RegistryClient(upstream.url, retry=FAST)
    signature = _sign_upstream(source, name, digest, "application/vnd.dev.sigstore.bundle.v0.3+json", b'{"sig":1}')
    sbom = _sign_upstream(source, name, digest, "application/spdx+json", b'{"spdxVersion":"SPDX-2.3"}' * 100)

    with _copier(upstream, private) as copier:
        result = copier.copy(_job(name))
        assert result.digest == digest
        promoted = copier.promote_image(f"eksd/staging/{name}", f"eksd/prod/{name}", digest, "v1")
        assert promoted.digest == digest
    target = RegistryClient(private.url, retry=FAST)
    for repository in (f"eksd/staging/{name}", f"eksd/prod/{name}"):
        referrers, _ = list_referrers(target, repository, digest)
        assert sorted(r.descriptor.digest for r in referrers) == sorted([signature.digest, sbom.digest])
        for manifest in (signature, sbom):
            assert target.get_manifest(repository, manifest.digest).body == manifest.body
            layer = manifest.document["layers"][0]
            with target.open_blob(repository, layer["digest"], size=layer["size"]) as chunks:
                assert sha256_digest(b"".join(chunks)) == layer["digest"]
    observed("2 referrers copied into staging and into prod, manifests byte for byte")  # type: ignore[operator]


def test_an_image_without_referrers_is_copied_with_no_referrers_tag(
    upstream: LocalRegistry, private: LocalRegistry, name: str
) -> None:
    digest = publish_image(upstream.url, name, "v1", seed=name)
    with _copier(upstream, private) as copier:
        copier.copy(_job(name))
    target = RegistryClient(private.url, retry=FAST)
    assert target.head_manifest(f"eksd/staging/{name}", referrers_tag(digest)) is None
    assert list_referrers(target, f"eksd/staging/{name}", digest) == ([], ListedBy.TAG_SCHEMA)


def test_a_listed_referrer_of_another_image_is_not_copied(
    upstream: LocalRegistry, private: LocalRegistry, name: str
) -> None:
    digest = publish_image(upstream.url, name, "v1", seed=name)
    other = publish_image(upstream.url, name, "other", seed=name + "-other")
    source = RegistryClient(upstream.url, retry=FAST)
    foreign = _sign_upstream(source, name, other, "application/spdx+json", b"{}")
    # A stale or hostile tag-schema index of our image listing the other image's referrer.
    entry = {"mediaType": OCI_MANIFEST, "digest": foreign.digest, "size": len(foreign.body)}
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}).encode()
    source.put_manifest(name, referrers_tag(digest), Manifest(OCI_INDEX, body, sha256_digest(body)))
    with _copier(upstream, private) as copier:
        copier.copy(_job(name))
    target = RegistryClient(private.url, retry=FAST)
    assert target.head_manifest(f"eksd/staging/{name}", foreign.digest) is None
    assert list_referrers(target, f"eksd/staging/{name}", digest)[0] == []
