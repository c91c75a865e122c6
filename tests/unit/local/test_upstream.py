"""The upstream simulator publishes a valid, real-shaped release with true checksums and digests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from eksd_adopt.errors import EksdAdoptError
from eksd_adopt.local.upstream import UpstreamSimulator
from eksd_adopt.notification import parse_announcement
from eksd_adopt.release import validate_manifest


def _publisher(calls: list[tuple[str, str, list[str]]]):  # type: ignore[no-untyped-def]
    def publish(repository: str, tag: str, arch: list[str]) -> str:
        calls.append((repository, tag, arch))
        return "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()

    return publish


def test_publishes_a_release_shaped_like_the_template(tmp_path: Path, manifest_1_20: str) -> None:
    calls: list[tuple[str, str, list[str]]] = []
    published = UpstreamSimulator(tmp_path, _publisher(calls)).publish_release(manifest_1_20, archive_size=64)
    report = validate_manifest(published.manifest_text)
    assert report.ok(strict=True), report.findings  # digests present now: not even a warning
    release = report.release
    assert release is not None and release.release_id == "1-20-1"
    template = validate_manifest(manifest_1_20).require_valid()
    assert [a.name for _, a in release.image_assets()] == [a.name for _, a in template.image_assets()]
    assert len(calls) == 17 and all(arch == ["amd64", "arm64"] for _, _, arch in calls)
    for _, asset in release.archive_assets():
        assert asset.archive is not None and asset.archive.uri is not None
        path = tmp_path / asset.archive.uri.split("distro.eks.amazonaws.com/", 1)[1]
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == asset.archive.sha256
        assert hashlib.sha512(data).hexdigest() == asset.archive.sha512
        assert path.with_name(path.name + ".sha512").read_text().split()[0] == asset.archive.sha512
    assert (tmp_path / "kubernetes-1-20" / "kubernetes-1-20-eks-1.yaml").read_text() == published.manifest_text
    channel = yaml.safe_load((tmp_path / "releasechannels" / "1-20.yaml").read_text())
    assert channel["status"]["latestRelease"] == 1
    parsed = parse_announcement(published.announcement, subject=published.subject)
    assert (parsed.channel, parsed.number) == ("1-20", 1)


def test_renumbered_release_and_write_once(tmp_path: Path, manifest_1_20: str) -> None:
    simulator = UpstreamSimulator(tmp_path, _publisher([]))
    published = simulator.publish_release(manifest_1_20, channel="1-30", number=58, archive_size=16)
    release = validate_manifest(published.manifest_text).require_valid(strict=True)
    assert release.release_id == "1-30-58"
    assert release.kubernetes_version == "v1.30.4"
    assert yaml.safe_load((tmp_path / "releasechannels" / "1-30.yaml").read_text())["status"]["latestRelease"] == 58
    # Same release again with other bytes: upstream never overwrites a manifest.
    with pytest.raises(EksdAdoptError, match="already published"):
        UpstreamSimulator(tmp_path, _publisher([]), seed=2).publish_release(manifest_1_20, channel="1-30", number=58)
