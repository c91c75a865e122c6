"""Pure parts of the image mirror: manifests, descriptors, the verifying reader, credentials, settings, policy."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator

import pytest
import urllib3
from moto import mock_aws

from eksd_adopt.endpoints import EndpointMap
from eksd_adopt.images.client import BasicCredentials, RegistryClient
from eksd_adopt.images.copier import ECR_MONOLITHIC_MAX, ImageCopier, SourceRegistries, UploadMode, _VerifyingReader
from eksd_adopt.images.ecr import EcrRepositories, ecr_credentials, lifecycle_policy
from eksd_adopt.images.errors import BlobVerificationError, RegistryError, RegistryUnavailableError
from eksd_adopt.images.job import check_target
from eksd_adopt.images.media import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Descriptor, Manifest
from eksd_adopt.images.settings import MirrorImageSettings, is_ecr_target
from eksd_adopt.plan import ImageCopyJob
from eksd_adopt.reference import ImageReference
from eksd_adopt.retry import TransientError

DIGEST = "sha256:" + "a" * 64


def _descriptor(data: bytes) -> Descriptor:
    return Descriptor(OCI_MANIFEST, "sha256:" + hashlib.sha256(data).hexdigest(), len(data))


def _reader(chunks: list[bytes], descriptor: Descriptor) -> _VerifyingReader:
    return _VerifyingReader(iter(chunks), descriptor, "public.ecr.aws/eks-distro/x:v1", lambda n: None)


# --- manifests and descriptors ------------------------------------------------------------------


def test_manifest_keeps_bytes_and_computes_digest() -> None:
    body = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}'
    manifest = Manifest.from_bytes(body, OCI_INDEX + "; charset=utf-8", "x")
    assert manifest.body is body and manifest.is_index
    assert manifest.digest == "sha256:" + hashlib.sha256(body).hexdigest()


def test_manifest_type_comes_from_the_body_when_the_header_is_generic() -> None:
    body = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": {}}).encode()
    assert Manifest.from_bytes(body, "application/json", "x").media_type == DOCKER_MANIFEST


@pytest.mark.parametrize(
    ("body", "media_type", "message"),
    [
        (b"not json", OCI_MANIFEST, "manifest is not JSON"),
        (b"[1, 2]", OCI_MANIFEST, "manifest is not a JSON object"),
        (
            b'{"schemaVersion": 1}',
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            "unsupported manifest media type",
        ),
    ],
)
def test_bad_manifests_are_refused_naming_the_image(body: bytes, media_type: str, message: str) -> None:
    with pytest.raises(RegistryError, match=f"img@x: {message}"):
        Manifest.from_bytes(body, media_type, "img@x")


@pytest.mark.parametrize(
    "data",
    [
        {"size": 1},
        {"digest": DIGEST},
        {"digest": "sha512:" + "a" * 128, "size": 1},
        {"digest": DIGEST, "size": -1},
        {"digest": DIGEST, "size": "x"},
    ],
)
def test_bad_descriptors_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(RegistryError, match="where"):
        Descriptor.parse(data, "where")


def test_image_manifest_without_config_is_refused() -> None:
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()
    with pytest.raises(RegistryError, match="without a config"):
        Manifest.from_bytes(body, OCI_MANIFEST, "x").blobs("x")


# --- the verifying reader -----------------------------------------------------------------------


def test_reader_splits_chunks_at_part_boundaries_and_verifies() -> None:
    data = bytes(range(256)) * 40
    reader = _reader([data[:1000], data[1000:7000], data[7000:]], _descriptor(data))
    parts = [b"".join(reader.take(n)) for n in (3000, 3000, len(data) - 6000)]
    reader.finish()
    assert b"".join(parts) == data and [len(p) for p in parts[:2]] == [3000, 3000]


def test_reader_refuses_wrong_bytes_naming_the_blob() -> None:
    data = b"x" * 100
    descriptor = _descriptor(data)
    with pytest.raises(BlobVerificationError) as caught:
        _reader([b"y" * 100], descriptor).read_all()
    assert caught.value.digest == descriptor.digest and "eks-distro/x:v1" in str(caught.value)


def test_reader_holds_back_the_last_piece_until_the_blob_hashes_right() -> None:
    # A streamed upload body: wrong bytes must cut the request short, so nothing can be committed.
    data = b"x" * 300
    sent: list[bytes] = []
    with pytest.raises(BlobVerificationError):
        for piece in _reader([b"x" * 100, b"x" * 100, b"y" * 100], _descriptor(data)).take(300):
            sent.append(piece)
    assert sent == [b"x" * 100, b"x" * 100]
    # Right bytes: every piece goes out, and the check at the end passes again.
    reader = _reader([b"x" * 100, b"x" * 200], _descriptor(data))
    assert b"".join(reader.take(300)) == data
    reader.finish()


def test_reader_checks_an_empty_blob_before_sending_nothing() -> None:
    assert list(_reader([], _descriptor(b"")).take(0)) == []
    with pytest.raises(BlobVerificationError, match="more than the 0 bytes"):
        list(_reader([b"surprise"], _descriptor(b"")).take(0))


def test_reader_refuses_a_short_blob() -> None:
    data = b"x" * 100
    with pytest.raises(BlobVerificationError, match="short of the 100"):
        _reader([data[:60]], _descriptor(data)).read_all()


def test_reader_refuses_a_long_blob() -> None:
    data = b"x" * 100
    with pytest.raises(BlobVerificationError, match="more than the 100 bytes"):
        _reader([data, b"extra"], _descriptor(data)).read_all()


# --- credentials, settings, policy ---------------------------------------------------------------


def test_ecr_token_decodes_to_basic_credentials_that_never_print_the_password() -> None:
    token = base64.b64encode(b"AWS:s3cret").decode()
    credentials = BasicCredentials.from_token(token)
    assert (credentials.username, credentials.password) == ("AWS", "s3cret")
    assert credentials.header() == "Basic " + token
    assert "s3cret" not in repr(credentials)


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"TARGET_REGISTRY_URL": "registry.local"}, "TARGET_REGISTRY_URL"),
        ({"TARGET_REGISTRY_URL": "http://r:5000", "TARGET_REGISTRY_AUTH": "token"}, "TARGET_REGISTRY_AUTH"),
        ({"TARGET_REGISTRY_URL": "http://r:5000", "EKSD_ADOPT_ENDPOINTS": "public.ecr.aws"}, "EKSD_ADOPT_ENDPOINTS"),
        ({"TARGET_REGISTRY_URL": "http://r:5000", "MIRROR_CHUNK_MIB": "1"}, "MIRROR_CHUNK_MIB"),
        ({"TARGET_REGISTRY_URL": "http://r:5000", "MIRROR_CONCURRENCY": "0"}, "MIRROR_CONCURRENCY"),
        ({}, "TARGET_REGISTRY_URL"),
    ],
)
def test_settings_refuse_bad_environment_naming_the_variable(env: dict[str, str], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        MirrorImageSettings.from_env(env)


def test_settings_from_env() -> None:
    settings = MirrorImageSettings.from_env(
        {
            "TARGET_REGISTRY_URL": "https://1.dkr.ecr.us-east-1.amazonaws.com",
            "ECR_CONTROL_PLANE": "true",
            "EKSD_ADOPT_ENDPOINTS": "public.ecr.aws=http://127.0.0.1:5001",
            "ECR_KMS_KEY_ARN": "",
        }
    )
    assert settings.ecr_control_plane and settings.target_registry_auth == "ecr" and settings.ecr_kms_key_arn is None
    assert settings.endpoint_map.base_url("public.ecr.aws") == "http://127.0.0.1:5001"
    assert settings.registry_host == "1.dkr.ecr.us-east-1.amazonaws.com"


def test_jobs_outside_the_repository_prefix_are_refused() -> None:
    settings = MirrorImageSettings(target_registry_url="http://r:5000", repository_prefix="eksd/staging")
    job = ImageCopyJob(
        component="c",
        asset="a",
        source="public.ecr.aws/eks-distro/x:v1",
        known_digest=None,
        target_repository="eksd/staging-evil/x",
        tag="v1",
    )
    with pytest.raises(RegistryError, match="outside 'eksd/staging/'"):
        check_target(settings, job)
    check_target(settings, job.model_copy(update={"target_repository": "eksd/staging/eks-distro/x"}))


def test_sources_are_checked_against_the_policy_before_mapping() -> None:
    sources = SourceRegistries(
        endpoints=EndpointMap.parse(["public.ecr.aws=http://127.0.0.1:5001", "evil.example.com=http://127.0.0.1:5001"])
    )
    assert (
        sources.client(ImageReference.parse("public.ecr.aws/eks-distro/kubernetes/pause:v1")).base_url
        == "http://127.0.0.1:5001"
    )
    with pytest.raises(RegistryError, match="not allow-listed"):
        sources.client(ImageReference.parse("evil.example.com/eks-distro/kubernetes/pause:v1"))
    with pytest.raises(RegistryError, match="not allow-listed"):
        sources.client(ImageReference.parse("public.ecr.aws/someone-else/pause:v1"))
    unmapped = SourceRegistries().client(ImageReference.parse("public.ecr.aws/csi-components/livenessprobe:v2"))
    assert unmapped.base_url == "https://public.ecr.aws" and unmapped.host == "public.ecr.aws"


def test_registry_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="must be http"):
        RegistryClient("registry.local:5000")


def test_tiny_chunks_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 5 MiB"):
        UploadMode(monolithic_max=0, chunk_size=1024 * 1024)


def test_ecr_gets_one_patch_per_large_blob_and_no_chunks() -> None:
    assert UploadMode.for_target(ecr=True) == UploadMode(monolithic_max=ECR_MONOLITHIC_MAX, single_patch=True)
    assert UploadMode.for_target(ecr=False) == UploadMode(monolithic_max=None)
    assert UploadMode.for_target(ecr=True, upload="put").monolithic_max is None
    with pytest.raises(ValueError, match="chunked uploads cannot go to ECR"):
        UploadMode.for_target(ecr=True, chunk_size=8 * 1024 * 1024)
    copier = ImageCopier(RegistryClient("http://127.0.0.1:9"), uploads=UploadMode.for_target(ecr=True))
    copier.close()


@pytest.mark.parametrize(
    ("url", "auth", "ecr"),
    [
        ("https://123456789012.dkr.ecr.us-east-1.amazonaws.com", "none", True),
        ("https://123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/", "none", True),
        ("https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "none", True),
        ("http://127.0.0.1:5000", "ecr", True),
        ("http://127.0.0.1:5000", "none", False),
        ("https://public.ecr.aws", "none", False),
        ("https://123456789012.dkr.ecr.us-east-1.amazonaws.com.example.com", "none", False),
    ],
)
def test_which_targets_are_ecr(url: str, auth: str, ecr: bool) -> None:
    assert is_ecr_target(url, auth) is ecr


def _answer(location: str | None) -> urllib3.HTTPResponse:
    return urllib3.HTTPResponse(status=202, headers={"Location": location} if location is not None else {})


@pytest.mark.parametrize(
    ("location", "accepted"),
    [
        ("/v2/eksd/x/blobs/uploads/abc?_state=s", True),
        ("https://registry.example:443/v2/eksd/x/blobs/uploads/abc", True),
        ("https://REGISTRY.example/v2/eksd/x/blobs/uploads/abc", True),
        ("https://elsewhere.example/v2/eksd/x/blobs/uploads/abc", False),  # our credentials would follow it
        ("http://registry.example/v2/eksd/x/blobs/uploads/abc", False),
        ("https://registry.example:8443/v2/x", False),
        ("https://registry.example:bad/v2/x", False),
        ("uploads/abc", False),
        ("/v2/x/blobs/uploads/a b", False),
        ("/v2/x/blobs/uploads/\u00e9", False),
    ],
)
def test_an_upload_location_must_stay_on_the_registry(location: str, accepted: bool) -> None:
    client = RegistryClient("https://registry.example")
    if accepted:
        assert client._location(_answer(location), "push") == location
    else:
        with pytest.raises(RegistryError, match="push: the registry sent"):
            client._location(_answer(location), "push")


def test_an_upload_answer_without_location_keeps_the_url_only_where_allowed() -> None:
    client = RegistryClient("https://registry.example")
    assert client._location(_answer(None), "patch", default="/v2/x/blobs/uploads/1") == "/v2/x/blobs/uploads/1"
    with pytest.raises(RegistryError, match="without a Location header"):
        client._location(_answer(None), "start")


def test_registry_unavailable_is_transient_and_a_domain_error() -> None:
    error = RegistryUnavailableError("x")
    assert isinstance(error, TransientError) and isinstance(error, RegistryError)


# --- ECR control plane (moto, in-process) -------------------------------------------------------


@pytest.fixture
def ecr(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("ecr", region_name="us-east-1")


def test_repositories_are_created_once_with_scan_kms_immutable_tags_and_lifecycle(ecr: object) -> None:
    import boto3

    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    repositories = EcrRepositories(ecr, kms_key_arn=key)
    repositories.ensure_repository("eksd/staging/eks-distro/kubernetes/pause")
    EcrRepositories(ecr, kms_key_arn=key).ensure_repository("eksd/staging/eks-distro/kubernetes/pause")  # exists: fine
    described = ecr.describe_repositories()["repositories"]  # type: ignore[attr-defined]
    assert len(described) == 1
    repository = described[0]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key}
    text = ecr.get_lifecycle_policy(repositoryName=repository["repositoryName"])["lifecyclePolicyText"]  # type: ignore[attr-defined]
    assert json.loads(text) == json.loads(lifecycle_policy())


def test_ecr_errors_become_domain_errors(ecr: object) -> None:
    with pytest.raises(RegistryError, match="create ECR repository") as caught:
        EcrRepositories(ecr).ensure_repository("Not A Valid Name")
    assert not isinstance(caught.value, RegistryUnavailableError)


def test_ecr_credentials_come_from_get_authorization_token(ecr: object) -> None:
    credentials = ecr_credentials(ecr)
    assert credentials.username == "AWS" and credentials.password
