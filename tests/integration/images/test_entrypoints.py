"""The mirror-image Lambda handler (in-process, env per call, ECR control plane on moto) and ``mirror images``.

Each runs against every kind of target; against the ECR front, with ECR auth: the credentials come
from moto's ``GetAuthorizationToken``, as the function and the CLI get them from ECR.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import yaml
from moto import mock_aws
from typer.testing import CliRunner

from eksd_adopt.cli.main import app
from eksd_adopt.images.errors import RegistryError
from eksd_adopt.local.faultproxy import Fault, FaultProxy
from eksd_adopt.local.images import image_publisher, publish_image
from eksd_adopt.local.lambdas import LambdaContext, load_handler
from eksd_adopt.local.registry import LocalRegistry
from eksd_adopt.local.upstream import PublishedRelease, UpstreamSimulator
from tests.conftest import TESTDATA
from tests.integration.images.conftest import Target, job_for


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def auth_of(target: Target) -> str:
    return "ecr" if target.ecr else "none"


def test_handler_copies_one_job_and_creates_its_ecr_repository(
    upstream: LocalRegistry, target: Target, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = load_handler("images_mirror").handler
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    digest = publish_image(upstream.url, name, "v1")
    # Two calls, two environments, one process: the second targets another (plain) registry.
    with LocalRegistry() as other:
        for registry, auth in ((target, auth_of(target)), (other, "none")):
            monkeypatch.setenv("TARGET_REGISTRY_URL", registry.url)
            monkeypatch.setenv("TARGET_REGISTRY_AUTH", auth)
            monkeypatch.setenv("ECR_CONTROL_PLANE", "true")
            monkeypatch.setenv("ECR_KMS_KEY_ARN", key)
            monkeypatch.setenv("EKSD_ADOPT_ENDPOINTS", f"public.ecr.aws={upstream.url}")
            monkeypatch.setenv("MIRROR_REPOSITORY_PREFIX", "eksd/staging")
            result = handler({"job": job_for(name, digest).model_dump(mode="json")}, LambdaContext.of("images_mirror"))
            assert result["digest"] == digest and result["skipped"] is False and result["blobs_uploaded"] == 6
            assert result["target"] == f"{registry.host}/eksd/staging/{name}:v1"
    repository = boto3.client("ecr").describe_repositories(repositoryNames=[f"eksd/staging/{name}"])["repositories"][0]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key}
    policy = json.loads(
        boto3.client("ecr").get_lifecycle_policy(repositoryName=f"eksd/staging/{name}")["lifecyclePolicyText"]
    )
    assert policy["rules"][0]["selection"]["tagStatus"] == "untagged"


@pytest.mark.reliability(
    area="images",
    fault="Lambda job targeting a repository outside the function's prefix",
    expected="RegistryError, nothing requested",
)
def test_handler_refuses_a_target_outside_its_prefix(
    upstream: LocalRegistry, target: Target, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TARGET_REGISTRY_URL", target.url)
    monkeypatch.setenv("TARGET_REGISTRY_AUTH", auth_of(target))
    monkeypatch.setenv("MIRROR_REPOSITORY_PREFIX", "eksd/staging")
    job = job_for(name, None, stage="prod")
    with pytest.raises(RegistryError, match="outside 'eksd/staging/'"):
        load_handler("images_mirror").handler({"job": job.model_dump(mode="json")}, LambdaContext.of("images_mirror"))


@pytest.mark.reliability(
    area="images",
    fault="mirror-image function misconfigured (bad TARGET_REGISTRY_URL)",
    expected="ValidationError naming the variable",
)
def test_handler_settings_are_validated(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("TARGET_REGISTRY_URL", "ftp://registry")
    with pytest.raises(ValueError, match="TARGET_REGISTRY_URL"):
        load_handler("images_mirror").handler(
            {"job": job_for(name, None).model_dump(mode="json")}, LambdaContext.of("images_mirror")
        )


def _small_template() -> str:
    """kubernetes-1-20-eks-1 cut down to three images (and no archives): the real shape, a lean test."""
    document = yaml.safe_load((TESTDATA / "kubernetes-1-20-eks-1.yaml").read_text())
    kept = []
    for component in document["status"]["components"]:
        if component["name"] not in ("kubernetes", "coredns"):
            continue
        component["assets"] = [a for a in component["assets"] if a["type"] == "Image"][:2]
        kept.append(component)
    document["status"]["components"] = kept
    return yaml.safe_dump(document)


@pytest.fixture(scope="module")
def release(upstream: LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> PublishedRelease:
    simulator = UpstreamSimulator(tmp_path_factory.mktemp("cdn"), image_publisher(upstream.url))
    return simulator.publish_release(_small_template(), number=9)


def _cli(release: PublishedRelease, target: Target, source: str, *extra: str) -> Any:
    args = [
        "mirror",
        "images",
        str(release.manifest_path),
        "--registry",
        target.url,
        "--auth",
        auth_of(target),
        "--prefix",
        "cli",
        "--endpoint",
        f"public.ecr.aws={source}",
        *extra,
    ]
    return CliRunner().invoke(app, args)


def test_cli_copies_a_release_then_finds_it_all_present(
    release: PublishedRelease, upstream: LocalRegistry, target: Target
) -> None:
    first = _cli(release, target, upstream.url, "--format", "json")
    assert first.exit_code == 0, first.output
    images = json.loads(first.stdout)["images"]
    assert len(images) == len(release.images) == 3
    for image in images:
        assert image["result"]["digest"] == release.images[image["source"]] and not image["result"]["skipped"]
        assert image["target_repository"].startswith("cli/staging/eks-distro/")
    second = _cli(release, target, upstream.url)
    assert second.exit_code == 0, second.output
    assert "0 copied, 3 already present, 0 failed" in second.stdout.replace("\n", " ")


@pytest.mark.reliability(
    area="images",
    fault="one image's blobs keep failing upstream during `mirror images`",
    expected="exit 1, others copied, rerun finishes",
)
def test_cli_reports_a_failed_image_and_a_rerun_finishes(
    release: PublishedRelease, upstream: LocalRegistry, target: Target
) -> None:
    victim = sorted(release.images)[0].split("/", 1)[1].rsplit(":", 1)[0]
    with FaultProxy(upstream.url) as proxy:
        proxy.inject(Fault.SERVER_ERROR, f"/v2/{victim}/blobs/", times=10_000)
        failed = _cli(release, target, proxy.url, "--stage", "flaky")
        assert failed.exit_code == 1
        assert "1 of 3 images failed" in failed.stderr and "RegistryUnavailableError" in failed.stderr
        assert (
            httpx.head(
                f"{target.registry.url}/v2/cli/flaky/{victim}/manifests/{sorted(release.images)[0].rsplit(':', 1)[1]}"
            ).status_code
            == 404
        )
        proxy.clear()
        again = _cli(release, target, proxy.url, "--stage", "flaky")
    assert again.exit_code == 0, again.output
    assert "1 copied, 2 already present" in again.stdout.replace("\n", " ")


@pytest.mark.reliability(
    area="images", fault="`mirror images` with a malformed --endpoint", expected="exit 2 naming the option"
)
def test_cli_refuses_a_bad_endpoint(release: PublishedRelease, target: Target) -> None:
    result = CliRunner().invoke(
        app, ["mirror", "images", str(release.manifest_path), "--registry", target.url, "--endpoint", "public.ecr.aws"]
    )
    assert result.exit_code == 2 and "HOST=URL" in result.stderr


@pytest.mark.reliability(area="images", fault="`mirror images` with a registry that is not a URL", expected="exit 2")
def test_cli_refuses_a_bad_registry(release: PublishedRelease) -> None:
    result = CliRunner().invoke(
        app, ["mirror", "images", str(release.manifest_path), "--registry", "registry.local/path"]
    )
    assert result.exit_code == 2 and "target_registry_url" in result.stderr


def test_cli_manifest_missing_is_a_usage_error(tmp_path: Path, target: Target) -> None:
    result = CliRunner().invoke(app, ["mirror", "images", str(tmp_path / "nope.yaml"), "--registry", target.url])
    assert result.exit_code == 2 and "cannot read" in result.stderr


def test_cli_upload_mode_patch_in_chunks_copies_the_release(
    release: PublishedRelease, upstream: LocalRegistry, target: Target
) -> None:
    result = _cli(
        release,
        target,
        upstream.url,
        "--stage",
        "chunked",
        "--upload",
        "patch",
        "--chunk-mib",
        "5",
        "--format",
        "json",
    )
    if target.ecr:  # ECR keeps one PATCH per upload session: chunks are refused, naming the option
        assert result.exit_code == 2 and "MIRROR_CHUNK_MIB (--chunk-mib)" in result.stderr
        assert all("/cli/chunked/" not in r.path for r in target.ecr.requests)
        return
    assert result.exit_code == 0, result.output
    for image in json.loads(result.stdout)["images"]:
        assert image["result"]["digest"] == release.images[image["source"]]
        assert image["target_repository"].startswith("cli/chunked/")


@pytest.mark.reliability(
    area="images", fault="`mirror images --chunk-mib 1` (under ECR's 5 MiB part minimum)", expected="exit 2 naming it"
)
def test_cli_refuses_a_chunk_size_under_five_mib(release: PublishedRelease, target: Target) -> None:
    result = _cli(release, target, "http://127.0.0.1:9", "--upload", "patch", "--chunk-mib", "1")
    assert result.exit_code == 2 and "chunk_size_mib" in result.stderr
