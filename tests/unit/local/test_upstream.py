"""The upstream simulator publishes a valid, real-shaped release with true checksums and digests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from eksd_adopt.errors import EksdAdoptError
from eksd_adopt.local.upstream import GO_RUNNER, MINIMAL_BASE, UpstreamSimulator, eksd_base_layers
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


def test_a_release_can_move_kubernetes_to_another_patch_version(tmp_path: Path, manifest_1_20: str) -> None:
    calls: list[tuple[str, str, list[str]]] = []
    simulator = UpstreamSimulator(tmp_path, _publisher(calls))
    published = simulator.publish_release(manifest_1_20, number=2, kubernetes_version="v1.20.5", archive_size=16)
    release = validate_manifest(published.manifest_text).require_valid(strict=True)
    assert release.kubernetes_version == "v1.20.5"
    kubernetes = next(c for c in release.status.components if c.name == "kubernetes")
    for asset in kubernetes.assets:
        uri = asset.image.uri if asset.image else asset.archive.uri if asset.archive else None
        assert uri is not None and "v1.20.4" not in uri and "v1.20.5" in uri, uri
    assert ("eks-distro/kubernetes/kube-apiserver", "v1.20.5-eks-1-20-2") in [(r, t) for r, t, _ in calls]
    # Components other than kubernetes keep their versions.
    assert ("eks-distro/etcd-io/etcd", "v3.4.15-eks-1-20-2") in [(r, t) for r, t, _ in calls]


def test_images_share_base_layers_as_eksd_builds_them() -> None:
    apiserver = eksd_base_layers("eks-distro/kubernetes/kube-apiserver")
    scheduler = eksd_base_layers("eks-distro/kubernetes/kube-scheduler")
    proxy = eksd_base_layers("eks-distro/kubernetes/kube-proxy")
    etcd = eksd_base_layers("eks-distro/etcd-io/etcd")
    snapshotter = eksd_base_layers("eks-distro/kubernetes-csi/external-snapshotter/csi-snapshotter")
    controller = eksd_base_layers("eks-distro/kubernetes-csi/external-snapshotter/snapshot-controller")
    assert eksd_base_layers("eks-distro/kubernetes/pause") == ()  # FROM scratch
    assert apiserver == scheduler  # one go-runner base, one kubernetes LICENSES
    assert MINIMAL_BASE in apiserver and MINIMAL_BASE in etcd and MINIMAL_BASE not in proxy
    assert snapshotter == controller and snapshotter != etcd  # one project's LICENSES, another project's
    # A base has bytes per platform; files from the build context are one blob for every platform.
    assert all(layer.per_platform for layer in (MINIMAL_BASE, GO_RUNNER))
    assert [layer.per_platform for layer in etcd] == [True, False, False]
