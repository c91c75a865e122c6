"""Each way ECR's registry API departs from the spec, reproduced by the ECR front, and the mirror coping with it.

Every test here fails if the client or copier went back to what only a spec-following registry
accepts: 202 only on PATCH, chunks into ECR, a retry inside a failed session, promotion that needs
mounts, re-tagging, bearer-only auth.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from eksd_adopt.cli.main import app
from eksd_adopt.images.client import BasicCredentials, RegistryClient
from eksd_adopt.images.copier import MIB, UploadMode
from eksd_adopt.images.errors import RegistryError
from eksd_adopt.images.settings import MirrorImageSettings
from eksd_adopt.local.ecrfront import ECR_SERVICE, LOCAL_CREDENTIALS, EcrFront
from eksd_adopt.local.images import publish_image
from eksd_adopt.local.registry import LocalRegistry
from eksd_adopt.retry import TransientError
from tests.integration.images.conftest import FAST_RETRY, Target, job_for, make_copier


@pytest.fixture(scope="module")
def registry() -> Iterator[LocalRegistry]:
    with LocalRegistry() as server:
        yield server


@pytest.fixture
def ecr(registry: LocalRegistry) -> Iterator[EcrFront]:
    with EcrFront(registry.url) as front:
        yield front


def ecr_target(front: EcrFront, registry: LocalRegistry) -> Target:
    return Target("ecr", registry, front)


def one_blob(size: int) -> tuple[bytes, str]:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


def test_patch_answered_201_is_taken_and_a_large_blob_goes_in_one_patch(
    upstream: LocalRegistry, registry: LocalRegistry, ecr: EcrFront, name: str
) -> None:
    # ECR answers PATCH 201 Created (a client taking only 202 fails here on its first large layer)
    digest = publish_image(upstream.url, name, "v1", layer_sizes=[11 * MIB], platforms=["linux/amd64"])
    with make_copier(upstream.url, ecr_target(ecr, registry)) as copier:
        result = copier.copy(job_for(name, digest))
    assert result.digest == digest
    patches = [r for r in ecr.requests if r.method == "PATCH"]
    assert [(r.status, r.note) for r in patches] == [(201, "")]  # one PATCH, nothing dropped


def test_a_patch_answer_without_location_keeps_the_upload_url(
    upstream: LocalRegistry, registry: LocalRegistry, name: str
) -> None:
    digest = publish_image(upstream.url, name, "v1", layer_sizes=[6 * MIB], platforms=["linux/amd64"])
    with (
        EcrFront(registry.url, location_on_patch=False) as front,
        make_copier(upstream.url, ecr_target(front, registry)) as copier,
    ):
        assert copier.copy(job_for(name, digest)).digest == digest
        (patch,) = [r for r in front.requests if r.method == "PATCH"]
        (put,) = [r for r in front.requests if r.method == "PUT" and r.session == patch.session]
    assert put.status == 201


def test_the_front_drops_every_patch_after_the_first_so_chunks_corrupt_an_upload(
    registry: LocalRegistry, ecr: EcrFront
) -> None:
    # The harness itself: two PATCHes into one session, both answered 201, and the commit fails.
    data, digest = one_blob(10 * MIB)
    client = RegistryClient(ecr.url, credentials=LOCAL_CREDENTIALS, retry=FAST_RETRY)
    location = client.start_upload("eksd/staging/chunked")
    location = client.patch_upload("eksd/staging/chunked", location, [data[: 5 * MIB]], 0, 5 * MIB)
    location = client.patch_upload("eksd/staging/chunked", location, [data[5 * MIB :]], 5 * MIB, 5 * MIB)
    with pytest.raises(RegistryError, match="HTTP 400"):
        client.finish_upload("eksd/staging/chunked", location, digest)
    assert [r.note for r in ecr.requests if r.method == "PATCH"] == [
        "",
        "body dropped: not the session's first PATCH",
    ]
    assert not registry.blob_path(digest).exists()


@pytest.mark.reliability(
    area="images",
    fault="a chunk size configured for an ECR target (MIRROR_CHUNK_MIB / --chunk-mib)",
    expected="refused before any request, naming the setting: ECR keeps only one PATCH per session",
)
def test_chunks_are_refused_for_ecr_naming_the_setting(ecr: EcrFront) -> None:
    with pytest.raises(ValueError, match="aws/containers-roadmap#2831"):
        UploadMode(chunk_size=5 * MIB, single_patch=True)
    with pytest.raises(ValueError, match=r"MIRROR_CHUNK_MIB \(--chunk-mib\) cannot be used with an ECR target"):
        MirrorImageSettings.from_env(
            {"TARGET_REGISTRY_URL": ecr.url, "TARGET_REGISTRY_AUTH": "ecr", "MIRROR_CHUNK_MIB": "8"}
        )
    with pytest.raises(ValueError, match="MIRROR_CHUNK_MIB"):  # an ECR registry URL is ECR whatever the auth
        MirrorImageSettings.from_env(
            {
                "TARGET_REGISTRY_URL": "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                "TARGET_REGISTRY_AUTH": "none",
                "MIRROR_CHUNK_MIB": "8",
            }
        )
    args = ["mirror", "images", "nope.yaml", "--registry", ecr.url, "--auth", "ecr", "--chunk-mib", "8"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "MIRROR_CHUNK_MIB (--chunk-mib)" in result.stderr
    assert ecr.requests == []


@pytest.mark.reliability(
    area="images",
    fault="ECR answers 500 to a blob PATCH (the session is dead: a retry inside it gets 416)",
    expected="retried in a new upload session; copy byte-identical; no 416",
)
def test_a_failed_upload_is_retried_in_a_new_session(
    upstream: LocalRegistry, registry: LocalRegistry, ecr: EcrFront, name: str
) -> None:
    digest = publish_image(upstream.url, name, "v1", layer_sizes=[6 * MIB], platforms=["linux/amd64"])
    ecr.fail_patches(500)
    with make_copier(upstream.url, ecr_target(ecr, registry)) as copier:
        assert copier.copy(job_for(name, digest)).digest == digest
    patches = [r for r in ecr.requests if r.method == "PATCH"]
    assert [r.status for r in patches] == [500, 201]
    failed, retried = patches[0].session, patches[1].session
    assert failed != retried
    # the failed session was only cancelled, never written to again
    assert [r.method for r in ecr.requests if r.session == failed] == ["POST", "PATCH", "DELETE"]
    assert not [r for r in ecr.requests if r.status == 416]


def test_the_front_answers_416_to_a_retry_inside_a_failed_session(ecr: EcrFront) -> None:
    # What a client that retried in place would meet (and the copier never does).
    data, digest = one_blob(6 * MIB)
    client = RegistryClient(ecr.url, credentials=LOCAL_CREDENTIALS, retry=FAST_RETRY)
    location = client.start_upload("eksd/staging/retry")
    ecr.fail_patches(500)
    with pytest.raises(TransientError, match="HTTP 500"):
        client.patch_upload("eksd/staging/retry", location, [data], 0, len(data))
    with pytest.raises(RegistryError, match="HTTP 416"):
        client.patch_upload("eksd/staging/retry", location, [data], 0, len(data))
    with pytest.raises(RegistryError, match="HTTP 416"):
        client.finish_upload("eksd/staging/retry", location, digest, data)
    # and a PATCH that does not start where the session's bytes end (a stale Range) kills a session too
    fresh = client.start_upload("eksd/staging/retry")
    with pytest.raises(RegistryError, match="HTTP 416"):
        client.patch_upload("eksd/staging/retry", fresh, [data[:MIB]], MIB, MIB)
    status = httpx.get(f"{ecr.url}{fresh}", headers={"Authorization": LOCAL_CREDENTIALS.header()})
    assert status.status_code == 404  # ECR keeps no readable upload status


def test_mounts_open_an_upload_session_unless_blob_mounting_is_enabled(registry: LocalRegistry, ecr: EcrFront) -> None:
    data, digest = one_blob(4096)
    client = RegistryClient(ecr.url, credentials=LOCAL_CREDENTIALS, retry=FAST_RETRY)
    client.push_blob("eksd/staging/mounted", data, digest)
    session = client.mount_blob("eksd/prod/mounted", digest, "eksd/staging/mounted")
    assert session is not None and not client.blob_exists("eksd/prod/mounted", digest)
    client.cancel_upload("eksd/prod/mounted", session)
    ecr.blob_mounting = True  # aws ecr put-account-setting --name BLOB_MOUNTING --value ENABLED
    assert client.mount_blob("eksd/prod/mounted", digest, "eksd/staging/mounted") is None
    assert client.blob_exists("eksd/prod/mounted", digest)


@pytest.mark.reliability(
    area="images",
    fault="a tag already names another image in an ECR repository with immutable tags",
    expected="RegistryError naming TAG_INVALID; the tag keeps its image; the same image again is accepted",
)
def test_tags_are_immutable_and_the_same_digest_is_accepted(
    upstream: LocalRegistry, registry: LocalRegistry, ecr: EcrFront, name: str
) -> None:
    target = ecr_target(ecr, registry)
    first = publish_image(upstream.url, name, "v1", seed="first", platforms=["linux/amd64"])
    with make_copier(upstream.url, target) as copier:
        copier.copy(job_for(name, first))
    moved = publish_image(upstream.url, name, "v1", seed="moved", platforms=["linux/amd64"])
    with make_copier(upstream.url, target) as copier, pytest.raises(RegistryError, match="TAG_INVALID") as caught:
        copier.copy(job_for(name, moved))
    assert "cannot be overwritten because the tag is immutable" in str(caught.value)
    client = target.client()
    stored = client.head_manifest(f"eksd/staging/{name}", "v1")
    assert stored is not None and stored.digest == first
    manifest = client.get_manifest(f"eksd/staging/{name}", first)
    assert client.put_manifest(f"eksd/staging/{name}", "v1", manifest) == first  # same digest: accepted


def test_ecr_auth_is_basic_with_ecrs_challenge(upstream: LocalRegistry, registry: LocalRegistry, ecr: EcrFront) -> None:
    challenge = httpx.get(f"{ecr.url}/v2/").headers["www-authenticate"]
    assert challenge == f'Basic realm="{ecr.url}/",service="{ECR_SERVICE}"'
    anonymous = RegistryClient(ecr.url, retry=FAST_RETRY)
    with pytest.raises(RegistryError, match=r"refused the credentials \(HTTP 401\)"):
        anonymous.head_manifest("eksd/staging/anything", "v1")
    wrong = RegistryClient(ecr.url, credentials=BasicCredentials("AWS", "expired"), retry=FAST_RETRY)
    with pytest.raises(RegistryError, match="HTTP 401"):
        wrong.blob_exists("eksd/staging/anything", "sha256:" + "0" * 64)
    assert RegistryClient(ecr.url, credentials=LOCAL_CREDENTIALS).head_manifest("eksd/staging/anything", "v1") is None
