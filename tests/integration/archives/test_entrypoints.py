"""The mirror-archive Lambda handler (in-process, env per call) and the ``mirror archives`` CLI, end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from eksd_adopt.cli.main import app
from eksd_adopt.local.cdn import Fault, LocalCdn
from eksd_adopt.local.lambdas import LambdaContext, load_handler
from eksd_adopt.local.upstream import UpstreamSimulator
from tests.conftest import TESTDATA
from tests.integration.archives.conftest import BUCKET, HOST, bucket_is_empty, publish, source_bytes, stored_bytes


def test_handler_copies_one_job_with_settings_read_per_call(
    cdn_clean: LocalCdn, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = load_handler("archives_mirror").handler
    job = publish(cdn_clean, "handler-archive.tar.gz", 60_000)
    s3.create_bucket(Bucket="second-bucket")
    for bucket in (BUCKET, "second-bucket"):  # two calls, two environments, one process
        monkeypatch.setenv("ARCHIVE_BUCKET", bucket)
        monkeypatch.setenv("EKSD_ADOPT_ENDPOINTS", f"{HOST}={cdn_clean.base_url}")
        monkeypatch.setenv("ARCHIVE_KEY_PREFIX", "eksd/staging")
        result = handler({"job": job.model_dump(mode="json")}, LambdaContext.of("archives_mirror"))
        assert result["target_key"] == job.target_key and result["skipped"] is False
        assert bytes(s3.get_object(Bucket=bucket, Key=job.target_key)["Body"].read()) == source_bytes(cdn_clean, job)


@pytest.mark.reliability(
    area="archives", fault="Lambda job with a key outside the function's prefix", expected="InvalidArchiveJobError"
)
def test_handler_refuses_a_key_outside_its_prefix(
    cdn_clean: LocalCdn, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eksd_adopt.archives.errors import InvalidArchiveJobError

    job = publish(cdn_clean, "handler-archive.tar.gz", 60_000).model_copy(update={"target_key": "eksd/prod/x.tar.gz"})
    monkeypatch.setenv("ARCHIVE_BUCKET", BUCKET)
    monkeypatch.setenv("EKSD_ADOPT_ENDPOINTS", f"{HOST}={cdn_clean.base_url}")
    monkeypatch.setenv("ARCHIVE_KEY_PREFIX", "eksd/staging")
    with pytest.raises(InvalidArchiveJobError, match="outside the allowed prefix"):
        load_handler("archives_mirror").handler(
            {"job": job.model_dump(mode="json")}, LambdaContext.of("archives_mirror")
        )
    assert bucket_is_empty(s3) and cdn_clean.requests == []


@pytest.fixture(scope="module")
def published(cdn: LocalCdn) -> Any:
    simulator = UpstreamSimulator(cdn.root, lambda repo, tag, arch: "sha256:" + "ab" * 32)
    return simulator.publish_release((TESTDATA / "kubernetes-1-20-eks-1.yaml").read_text(), number=7, archive_size=3000)


def _cli(cdn: LocalCdn, manifest: Path, *extra: str) -> Any:
    args = [
        "mirror",
        "archives",
        str(manifest),
        "--bucket",
        BUCKET,
        "--prefix",
        "eksd",
        "--endpoint",
        f"{HOST}={cdn.base_url}",
    ]
    return CliRunner().invoke(app, [*args, *extra])


def test_cli_mirrors_a_release_with_checksum_files_and_manifest(cdn_clean: LocalCdn, s3: Any, published: Any) -> None:
    result = _cli(cdn_clean, published.manifest_path, "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert len(summary["archives"]) == len(published.archives) > 10
    staged = "eksd/staging/kubernetes-1-20/releases/7/artifacts"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1000)["Contents"]}
    for uri, (_, sha256, _) in published.archives.items():
        key = staged + uri.split("/artifacts", 1)[1]
        assert key in keys and f"{key}.sha256" in keys and f"{key}.sha512" in keys
        assert stored_bytes(s3, f"{key}.sha256").decode().startswith(sha256 + "  ")
    assert any(k.endswith("/SHA256SUM") for k in keys) and any(k.endswith("/SHA512SUM") for k in keys)
    assert (
        stored_bytes(s3, "eksd/staging/kubernetes-1-20/kubernetes-1-20-eks-7.yaml")
        == published.manifest_path.read_bytes()
    )
    again = _cli(cdn_clean, published.manifest_path)
    assert again.exit_code == 0 and "already present" in again.stdout


@pytest.mark.reliability(
    area="archives", fault="one archive corrupt on the CDN during `mirror archives`", expected="exit 1, no manifest"
)
def test_cli_fails_cleanly_when_an_archive_is_corrupt(
    cdn_clean: LocalCdn, s3: Any, published: Any, observed: Callable[[str], None]
) -> None:
    uri = sorted(published.archives)[0]
    cdn_clean.inject(Fault.WRONG_BYTES, path="/" + uri.split("/", 3)[3], times=None, after_bytes=10)
    result = _cli(cdn_clean, published.manifest_path)
    assert result.exit_code == 1
    assert "ArchiveChecksumError" in result.output and "manifest not written" in result.output
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1000).get("Contents", [])}
    assert not any(k.endswith((".yaml", "SUM", ".sha256")) for k in keys)
    assert "eksd/staging/kubernetes-1-20/releases/7/artifacts" + uri.split("/artifacts", 1)[1] not in keys
    observed("exit 1; the corrupt archive, checksum files and manifest absent")


@pytest.mark.reliability(
    area="archives",
    fault="`mirror archives` with a different manifest for a stored release",
    expected="exit 1 before copying",
)
def test_cli_refuses_a_conflicting_manifest_before_copying(
    cdn_clean: LocalCdn, s3: Any, published: Any, tmp_path: Path
) -> None:
    s3.put_object(Bucket=BUCKET, Key="eksd/staging/kubernetes-1-20/kubernetes-1-20-eks-7.yaml", Body=b"kind: Release\n")
    result = _cli(cdn_clean, published.manifest_path)
    assert result.exit_code == 1 and "different manifest" in result.output
    assert cdn_clean.requests == []
