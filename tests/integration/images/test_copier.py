"""The image copier against real docker-registry instances: byte-identical, idempotent, deduplicated, verified."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time

import httpx
import pytest

from eksd_adopt.images.client import RegistryClient
from eksd_adopt.images.copier import UploadMode
from eksd_adopt.images.errors import (
    BlobVerificationError,
    ImageDigestMismatchError,
    RegistryError,
    RegistryUnavailableError,
)
from eksd_adopt.images.inspect import inspect_image
from eksd_adopt.images.media import DOCKER_LIST, DOCKER_MANIFEST
from eksd_adopt.local.faultproxy import Fault, FaultProxy
from eksd_adopt.local.images import SharedLayer, publish_image
from eksd_adopt.local.registry import LocalRegistry
from tests.integration.images.conftest import Target, job_for, make_copier

MIB = 1024 * 1024
# The three ways a large blob leaves: streamed in the committing PUT (plain OCI registries), in one
# PATCH (ECR, as docker push does), in fixed-size PATCH chunks (registries that cap request size).
UPLOAD_MODES = ("put", "one-patch", "chunks")


def upload_mode(mode: str, target: Target) -> UploadMode:
    ecr = target.ecr is not None
    if mode == "chunks" and ecr:
        pytest.skip("ECR keeps one PATCH per session: chunks are refused for it (test_ecr_front.py)")
    return {
        "put": UploadMode(single_patch=ecr),
        "one-patch": UploadMode(monolithic_max=MIB, single_patch=ecr),
        "chunks": UploadMode(monolithic_max=MIB, chunk_size=5 * MIB),
    }[mode]


def skopeo_digest(registry: LocalRegistry, repository: str, reference: str) -> str:
    """The digest of what the registry serves, computed independently of our client."""
    separator = "@" if reference.startswith("sha256:") else ":"
    raw = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--raw",
            "--tls-verify=false",
            f"docker://{registry.host}/{repository}{separator}{reference}",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def tag_exists(target: Target, repository: str, tag: str) -> bool:
    return httpx.head(f"{target.registry.url}/v2/{repository}/manifests/{tag}").status_code == 200


def layers_of(registry: LocalRegistry, repository: str, digest: str) -> tuple[str, list[str]]:
    """The first platform manifest's digest and its layer digests."""
    client = RegistryClient(registry.url)
    manifest = client.get_manifest(repository, inspect_image(client, repository, digest).platforms[0].manifest_digest)
    return manifest.digest, [blob.digest for blob in manifest.blobs(repository)[1:]]


def blob_gets(proxy: FaultProxy) -> list[str]:
    return [r.path for r in proxy.requests if r.method == "GET" and "/blobs/" in r.path]


def test_copy_is_byte_identical_index_platforms_and_blobs(upstream: LocalRegistry, target: Target, name: str) -> None:
    # Given a two-platform image with a layer over ECR's 4 MiB single-PUT size (ECR gets it in one PATCH)
    digest = publish_image(upstream.url, name, "v1", layer_sizes=[3000, 11 * MIB])
    job = job_for(name, digest)

    # When it is copied the way the mirror copies to this target
    with make_copier(upstream.url, target) as copier:
        result = copier.copy(job)

    # Then skopeo sees the same index digest under the tag, and every platform manifest by digest
    assert skopeo_digest(target.registry, job.target_repository, "v1") == digest
    index = json.loads(
        httpx.get(
            f"{upstream.url}/v2/{name}/manifests/{digest}",
            headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        ).content
    )
    for entry in index["manifests"]:
        assert skopeo_digest(target.registry, job.target_repository, entry["digest"]) == entry["digest"]
    # and every blob (2 configs + 4 layers) was uploaded, with the bytes of the upstream's
    assert (result.blobs_uploaded, result.blobs_mounted, result.blobs_skipped) == (6, 0, 0)
    assert result.digest == digest and not result.skipped
    assert result.target == f"{target.host}/{job.target_repository}:v1"
    stored = inspect_image(RegistryClient(target.registry.url), job.target_repository, digest)
    assert [(p.os, p.architecture, p.config_os, p.config_architecture) for p in stored.platforms] == [
        ("linux", "amd64", "linux", "amd64"),
        ("linux", "arm64", "linux", "arm64"),
    ]
    for platform in stored.platforms:
        assert platform.layer_bytes == 3000 + 11 * MIB
    assert result.bytes_uploaded == sum(p.layer_bytes for p in stored.platforms) + sum(
        target.blob_path(p.config_digest).stat().st_size for p in stored.platforms
    )
    if target.ecr:  # ECR got each 11 MiB layer in one PATCH (its 201 taken), the small blobs in their PUT
        patches = [r for r in target.ecr.requests if r.method == "PATCH" and job.target_repository in r.path]
        assert [r.status for r in patches] == [201, 201]
        assert len({r.session for r in patches}) == 2


def test_a_plain_registry_takes_a_blob_in_fixed_size_chunks(upstream: LocalRegistry, target: Target, name: str) -> None:
    # For registries capping a request's size; never for ECR (which keeps one PATCH per session).
    if target.ecr:
        pytest.skip("chunks are refused for ECR: test_ecr_front.py")
    digest = publish_image(upstream.url, name, "v1", layer_sizes=[11 * MIB], platforms=["linux/amd64"])
    with make_copier(upstream.url, target, uploads=UploadMode(monolithic_max=MIB, chunk_size=5 * MIB)) as copier:
        assert copier.copy(job_for(name, digest)).digest == digest
    assert skopeo_digest(target.registry, f"eksd/staging/{name}", "v1") == digest


def test_docker_v2_manifest_list_keeps_its_media_types(upstream: LocalRegistry, target: Target, name: str) -> None:
    digest = publish_image(upstream.url, name, "v1", docker_media_types=True)
    job = job_for(name, digest)
    with make_copier(upstream.url, target) as copier:
        copier.copy(job)
    stored = target.registry.url
    response = httpx.get(f"{stored}/v2/{job.target_repository}/manifests/v1", headers={"Accept": DOCKER_LIST})
    assert response.headers["content-type"] == DOCKER_LIST
    assert "sha256:" + hashlib.sha256(response.content).hexdigest() == digest
    child = json.loads(response.content)["manifests"][0]["digest"]
    child_response = httpx.get(
        f"{stored}/v2/{job.target_repository}/manifests/{child}", headers={"Accept": DOCKER_MANIFEST}
    )
    assert child_response.headers["content-type"] == DOCKER_MANIFEST


def test_second_run_uploads_nothing_and_asks_upstream_nothing(
    proxy: FaultProxy, target: Target, upstream: LocalRegistry, name: str
) -> None:
    digest = publish_image(upstream.url, name, "v1")
    job = job_for(name, digest)
    with make_copier(proxy.url, target) as copier:
        first = copier.copy(job)
    proxy.clear()

    with make_copier(proxy.url, target) as copier:
        second = copier.copy(job)

    assert first.blobs_uploaded == 6 and not first.skipped
    assert second.skipped and second.digest == digest
    assert (second.blobs_uploaded, second.blobs_mounted, second.bytes_uploaded) == (0, 0, 0)
    assert proxy.requests == []  # the imageDigest and one HEAD on the target were enough


def test_without_image_digest_a_rerun_resolves_the_tag_then_skips(
    proxy: FaultProxy, target: Target, upstream: LocalRegistry, name: str
) -> None:
    digest = publish_image(upstream.url, name, "v1")
    job = job_for(name, None)
    with make_copier(proxy.url, target) as copier:
        assert copier.copy(job).digest == digest
    proxy.clear()
    with make_copier(proxy.url, target) as copier:
        again = copier.copy(job)
    assert again.skipped
    assert [(r.method, r.path) for r in proxy.requests] == [("GET", f"/v2/{name}/manifests/v1")]


def test_shared_blobs_upload_once_and_mount_across_repositories(
    upstream: LocalRegistry, target: Target, name: str
) -> None:
    # Given three images sharing a base layer per platform, each copied into its own repository
    base = SharedLayer(f"base-{name}", 64 * 1024)
    names = [f"{name}-{i}" for i in range(3)]
    jobs = [job_for(n, publish_image(upstream.url, n, "v1", layer_sizes=[1000], shared_layers=[base])) for n in names]

    # When they are copied in one run
    with make_copier(upstream.url, target) as copier:
        outcomes = copier.copy_all(jobs, concurrency=3)

    # Then the shared layer went over the wire once per platform and was mounted everywhere else,
    # or, where the registry refuses mounts (ECR without BLOB_MOUNTING), was sent to each repository
    results = [r for _, r, e in outcomes if r and not e]
    assert len(results) == 3
    if target.mounts:
        assert sum(r.blobs_mounted for r in results) == 4  # 2 other repositories x 2 platforms
        assert sum(r.blobs_uploaded for r in results) == 3 * 2 * 2 + 2  # configs + unique layers, + 2 base layers
        assert sum(r.bytes_uploaded for r in results) < 3 * 2 * 64 * 1024
    else:
        assert sum(r.blobs_mounted for r in results) == 0
        assert sum(r.blobs_uploaded for r in results) == 3 * 2 * 3
        assert sum(r.bytes_uploaded for r in results) > 3 * 2 * 64 * 1024
    for job in jobs:
        assert skopeo_digest(target.registry, job.target_repository, "v1") == job.known_digest


def test_a_blob_met_twice_in_one_repository_is_uploaded_once(
    upstream: LocalRegistry, target: Target, name: str
) -> None:
    # Two tags of one repository sharing a base layer per platform, copied in one run
    base = SharedLayer(f"base-{name}", 32 * 1024)
    jobs = [
        job_for(name, publish_image(upstream.url, name, tag, layer_sizes=[100], shared_layers=[base]), tag=tag)
        for tag in ("v1", "v2")
    ]
    with make_copier(upstream.url, target) as copier:
        results = [r for _, r, _ in copier.copy_all(jobs, concurrency=2)]
    assert all(r is not None for r in results)
    assert sum(r.blobs_uploaded for r in results if r) == 2 * 2 * 2 + 2  # configs + own layers, base once per platform
    assert sum(r.blobs_skipped for r in results if r) == 2
    assert sum(r.blobs_mounted for r in results if r) == 0


def test_promotion_mounts_every_blob_or_resends_it_where_mounts_are_refused(
    upstream: LocalRegistry, target: Target, name: str
) -> None:
    # A layer over 4 MiB: re-sent into ECR, it goes in one PATCH like the mirror's uploads
    digest = publish_image(upstream.url, name, "v1", layer_sizes=[2048, 6 * MIB])
    staged = job_for(name, digest)
    with make_copier(upstream.url, target) as copier:
        copier.copy(staged)
        promoted = copier.promote_image(staged.target_repository, f"eksd/prod/{name}", digest, "v1")
        again = copier.promote_image(staged.target_repository, f"eksd/prod/{name}", digest, "v1")
    assert promoted.digest == digest and not promoted.skipped
    if target.mounts:
        assert (promoted.blobs_mounted, promoted.blobs_uploaded, promoted.bytes_uploaded) == (6, 0, 0)
    else:  # ECR without BLOB_MOUNTING opened an upload session for each mount: the bytes went instead
        assert (promoted.blobs_mounted, promoted.blobs_uploaded) == (0, 6)
        assert promoted.bytes_uploaded > 2 * 6 * MIB
        assert target.ecr is not None
        refused = [r for r in target.ecr.requests if r.note.startswith("mount refused") and "/eksd/prod/" in r.path]
        assert len(refused) == 6
    assert again.skipped
    assert skopeo_digest(target.registry, f"eksd/prod/{name}", "v1") == digest


@pytest.mark.reliability(
    area="images",
    fault="upstream tag resolves to another digest than the manifest's imageDigest",
    expected="ImageDigestMismatchError, no blob fetched, nothing pushed",
)
def test_image_digest_mismatch_is_refused_before_anything_is_pushed(
    proxy: FaultProxy, target: Target, upstream: LocalRegistry, name: str
) -> None:
    publish_image(upstream.url, name, "v1")
    wrong = "sha256:" + "0" * 64
    job = job_for(name, wrong)
    with make_copier(proxy.url, target) as copier, pytest.raises(ImageDigestMismatchError) as caught:
        copier.copy(job)
    assert name in str(caught.value) and wrong in str(caught.value)
    assert blob_gets(proxy) == []
    assert httpx.get(f"{target.registry.url}/v2/{job.target_repository}/tags/list").status_code == 404


@pytest.mark.parametrize(
    ("fault", "retry_after"),
    [(Fault.TOO_MANY_REQUESTS, 1), (Fault.SERVER_ERROR, None), (Fault.RESET_MID_BODY, None)],
)
@pytest.mark.reliability(
    area="images",
    fault="upstream answers 429 (Retry-After) / 500 / resets mid-blob",
    expected="retried in a new upload session; copy byte-identical",
)
@pytest.mark.parametrize("upload", UPLOAD_MODES, ids=list(UPLOAD_MODES))
def test_transient_upstream_faults_are_retried(
    proxy: FaultProxy,
    target: Target,
    upstream: LocalRegistry,
    name: str,
    fault: Fault,
    retry_after: int | None,
    upload: str,
) -> None:
    # Given an upstream that fails once on the big layer's GET (and a 500 once on a manifest too)
    digest = publish_image(upstream.url, name, "v1", layer_sizes=[6 * MIB], platforms=["linux/amd64"])
    manifest, (layer_digest,) = layers_of(upstream, name, digest)
    proxy.inject(fault, f"/blobs/{layer_digest}", retry_after=retry_after)
    proxy.inject(Fault.SERVER_ERROR, f"/manifests/{manifest}")

    started = time.monotonic()
    with make_copier(proxy.url, target, uploads=upload_mode(upload, target)) as copier:
        result = copier.copy(job_for(name, digest))

    # Then the copy completes, byte-identical, after exactly one faulty answer each
    assert result.digest == digest
    assert skopeo_digest(target.registry, f"eksd/staging/{name}", "v1") == digest
    faults = [r.fault for r in proxy.requests if r.fault]
    assert sorted(faults) == sorted([fault, Fault.SERVER_ERROR])
    assert blob_gets(proxy).count(f"/v2/{name}/blobs/{layer_digest}") == 2
    if retry_after:
        assert time.monotonic() - started >= retry_after  # Retry-After was honoured, not the 10 ms backoff
    if target.ecr:  # a session cut short was never used again (ECR would answer 416 there)
        assert not [r for r in target.ecr.requests if r.status == 416]


@pytest.mark.reliability(
    area="images",
    fault="upstream serves other bytes for a large blob (streamed in the PUT, in one PATCH, in chunks)",
    expected="BlobVerificationError naming blob and image; not retried; no tag, blob not stored",
)
@pytest.mark.parametrize("upload", UPLOAD_MODES, ids=list(UPLOAD_MODES))
def test_wrong_bytes_are_refused_blob_named_and_no_tag_pushed(
    proxy: FaultProxy, target: Target, upstream: LocalRegistry, name: str, upload: str
) -> None:
    digest = publish_image(upstream.url, name, "v1", layer_sizes=[6 * MIB, 1000], platforms=["linux/amd64"])
    _, (big, _small) = layers_of(upstream, name, digest)
    proxy.inject(Fault.WRONG_BYTES, f"/blobs/{big}", times=100)
    job = job_for(name, digest)

    with (
        make_copier(proxy.url, target, uploads=upload_mode(upload, target)) as copier,
        pytest.raises(BlobVerificationError) as caught,
    ):
        copier.copy(job)

    assert caught.value.digest == big and big in str(caught.value) and name in str(caught.value)
    assert not tag_exists(target, job.target_repository, "v1")
    assert not target.blob_path(big).exists()  # the session was never committed
    assert blob_gets(proxy).count(f"/v2/{name}/blobs/{big}") == 1  # tampering is not retried


@pytest.mark.reliability(
    area="images",
    fault="upstream serves other bytes for a small (monolithic) blob",
    expected="BlobVerificationError; no tag, blob not stored",
)
def test_wrong_bytes_in_a_small_blob_are_refused_too(
    proxy: FaultProxy, target: Target, upstream: LocalRegistry, name: str
) -> None:
    digest = publish_image(upstream.url, name, "v1", layer_sizes=[5000], platforms=["linux/amd64"])
    _, (layer,) = layers_of(upstream, name, digest)
    proxy.inject(Fault.WRONG_BYTES, f"/blobs/{layer}", times=100)
    job = job_for(name, digest)
    with make_copier(proxy.url, target) as copier, pytest.raises(BlobVerificationError, match=layer):
        copier.copy(job)
    assert not tag_exists(target, job.target_repository, "v1")
    assert not target.blob_path(layer).exists()


@pytest.mark.reliability(
    area="images", fault="upstream keeps answering 500", expected="RegistryUnavailableError after the retries; no tag"
)
def test_faults_that_outlast_the_retries_raise_registry_unavailable(
    proxy: FaultProxy, target: Target, upstream: LocalRegistry, name: str
) -> None:
    digest = publish_image(upstream.url, name, "v1", platforms=["linux/amd64"])
    proxy.inject(Fault.SERVER_ERROR, "/blobs/", times=1000)
    job = job_for(name, digest)
    with (
        make_copier(proxy.url, target) as copier,
        pytest.raises(RegistryUnavailableError, match="still failing after 4 attempts"),
    ):
        copier.copy(job)
    assert not tag_exists(target, job.target_repository, "v1")


@pytest.mark.reliability(
    area="images",
    fault="one image of a run fails",
    expected="others copied; the rerun skips them and finishes the failed one",
)
def test_a_failed_run_is_finished_by_the_next_without_recopying(
    proxy: FaultProxy, target: Target, upstream: LocalRegistry, name: str
) -> None:
    good, bad = f"{name}-good", f"{name}-bad"
    good_job = job_for(good, publish_image(upstream.url, good, "v1"))
    bad_job = job_for(bad, publish_image(upstream.url, bad, "v1"))
    proxy.inject(Fault.SERVER_ERROR, f"/v2/{bad}/blobs/", times=1000)
    with make_copier(proxy.url, target) as copier:
        first = copier.copy_all([good_job, bad_job])
    assert first[0][1] is not None and isinstance(first[1][2], RegistryUnavailableError)
    proxy.clear()

    with make_copier(proxy.url, target) as copier:
        second = copier.copy_all([good_job, bad_job])

    assert second[0][1] is not None and second[0][1].skipped
    assert second[1][1] is not None and not second[1][1].skipped
    assert all(f"/v2/{good}/" not in r.path for r in proxy.requests)
    assert skopeo_digest(target.registry, bad_job.target_repository, "v1") == bad_job.known_digest


def test_anonymous_bearer_token_challenge(upstream: LocalRegistry, target: Target, name: str) -> None:
    # ECR Public answers 401 with a Bearer challenge; the client fetches an anonymous token and retries.
    digest = publish_image(upstream.url, name, "v1")
    with FaultProxy(upstream.url, require_token=True) as ecr_public, make_copier(ecr_public.url, target) as copier:
        result = copier.copy(job_for(name, digest))
        tokens = [r for r in ecr_public.requests if r.path.startswith("/token")]
        denied = [r for r in ecr_public.requests if r.status == 401]
    assert result.digest == digest
    assert tokens and "scope=aws" in tokens[0].path and "service=local-proxy" in tokens[0].path
    assert len(denied) == len(tokens)  # one challenge per token, then every request carried it


@pytest.mark.reliability(
    area="images",
    fault="upstream answers blob GETs with a 307 to another host (as ECR and ECR Public send layers to S3/a CDN)",
    expected="redirect followed without the registry's credentials; copy byte-identical",
)
def test_blob_redirects_are_followed_without_the_credentials(
    upstream: LocalRegistry, target: Target, name: str
) -> None:
    digest = publish_image(upstream.url, name, "v1", layer_sizes=[6 * MIB, 1000], platforms=["linux/amd64"])
    # The CDN is an https host (as S3 and CloudFront are), served from loopback by the endpoint mapping.
    with (
        FaultProxy(upstream.url) as cdn,
        FaultProxy(upstream.url, require_token=True, redirect_blobs_to="https://cdn.example.test") as registry,
        make_copier(registry.url, target, endpoints=(f"cdn.example.test={cdn.url}",)) as copier,
    ):
        result = copier.copy(job_for(name, digest))
        redirected = [r for r in registry.requests if r.status == 307]
        fetched = [r for r in cdn.requests if "/blobs/" in r.path]
    assert result.digest == digest
    assert skopeo_digest(target.registry, f"eksd/staging/{name}", "v1") == digest
    assert len(redirected) == len(fetched) == 3  # two layers and the config, each through the redirect
    assert all(r.authorized for r in redirected)  # the registry got its bearer token...
    assert not any(r.authorized for r in fetched)  # ...and the other host never saw it


@pytest.mark.reliability(
    area="images",
    fault="image job naming a registry outside the allow-list",
    expected="RegistryError before any connection",
)
def test_upstream_host_outside_the_allow_list_is_refused(target: Target, name: str) -> None:
    job = job_for(name, None).model_copy(update={"source": f"registry.example.com/{name}:v1"})
    with make_copier("http://127.0.0.1:9", target) as copier, pytest.raises(RegistryError, match="not allow-listed"):
        copier.copy(job)


@pytest.mark.reliability(area="images", fault="upstream tag does not exist", expected="RegistryError naming the image")
def test_missing_upstream_tag_is_a_registry_error(upstream: LocalRegistry, target: Target, name: str) -> None:
    with make_copier(upstream.url, target) as copier, pytest.raises(RegistryError, match="no such manifest"):
        copier.copy(job_for(name, None, tag="nope"))


@pytest.mark.reliability(
    area="images",
    fault="promotion into a registry refusing mounts (ECR without BLOB_MOUNTING) reads back staged bytes that are wrong",
    expected="BlobVerificationError naming the blob; nothing tagged in the stage",
)
def test_bytes_resent_by_promotion_are_verified_as_staging_was(
    upstream: LocalRegistry, target: Target, name: str
) -> None:
    if target.mounts:
        pytest.skip("a mount moves no bytes: the registry vouches for its own blob")
    digest = publish_image(upstream.url, name, "v1", layer_sizes=[6 * MIB, 3000], platforms=["linux/amd64"], seed=name)
    with make_copier(upstream.url, target) as copier:
        copier.copy(job_for(name, digest))
    # Given a staged layer whose stored bytes changed (same size) since it was verified
    _, (big, _small) = layers_of(upstream, name, digest)
    stored = target.blob_path(big)
    data = bytearray(stored.read_bytes())
    data[-1] ^= 0xFF
    stored.write_bytes(bytes(data))
    # When it is promoted into a registry that will not mount it
    with make_copier(upstream.url, target) as copier, pytest.raises(BlobVerificationError) as caught:
        copier.promote_image(f"eksd/staging/{name}", f"eksd/prod/{name}", digest, "v1")
    # Then the re-sent bytes were refused before the upload was committed, and nothing is tagged
    assert caught.value.digest == big
    assert not tag_exists(target, f"eksd/prod/{name}", "v1")
