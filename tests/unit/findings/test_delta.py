"""The delta against the release a stage runs: new and fixed by advisory id, images matched by upstream path."""

from __future__ import annotations

from eksd_adopt.findings import ScanStatus, Severity, findings_delta
from tests.unit.findings.builders import finding, scan

PROXY = "eks-distro/kubernetes/kube-proxy"
PAUSE = "eks-distro/kubernetes/pause"
ETCD = "eks-distro/etcd-io/etcd"


def ids(entries: tuple) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(e.image, e.id) for e in entries]


def test_new_and_fixed_by_id_matching_images_by_upstream_path_not_tag_or_digest() -> None:
    before = [scan(PROXY, [finding("CVE-2024-0001"), finding("CVE-2024-0002", Severity.LOW)], release="1-20-1")]
    after = [scan(PROXY, [finding("CVE-2024-0002", Severity.LOW), finding("CVE-2024-0003")], release="1-20-3")]
    # Other digests and tags in each release: the image is the same one by its upstream path.
    assert before[0].target.digest != after[0].target.digest
    delta = findings_delta(after, before, "1-20-1")
    assert ids(delta.new) == [(PROXY, "CVE-2024-0003")]
    assert ids(delta.fixed) == [(PROXY, "CVE-2024-0001")]
    assert delta.baseline_release_id == "1-20-1" and not delta.new_images and not delta.removed_images


def test_nothing_promoted_yet_every_finding_is_new_and_none_fixed() -> None:
    after = [scan(PROXY, [finding("CVE-2024-0001")]), scan(PAUSE)]
    delta = findings_delta(after, None)
    assert ids(delta.new) == [(PROXY, "CVE-2024-0001")] and not delta.fixed
    assert delta.baseline_release_id is None and not delta.new_images


def test_an_id_is_matched_within_its_image_over_all_platforms() -> None:
    before = [
        scan(PROXY, [finding("CVE-2024-0001")], platform="linux/amd64", release="1"),
        scan(PROXY, [], platform="linux/arm64", release="1"),
    ]
    after = [
        scan(PROXY, [], platform="linux/amd64", release="3"),
        scan(PROXY, [finding("CVE-2024-0001")], platform="linux/arm64", release="3"),  # moved platform: not new
        scan(ETCD, [finding("CVE-2024-0001")], release="3"),  # the same id in another image is new there
    ]
    delta = findings_delta(after, [*before, scan(ETCD, [], release="1")], "1-20-1")
    assert ids(delta.new) == [(ETCD, "CVE-2024-0001")] and not delta.fixed
    assert delta.new[0].platforms == ("linux/amd64",)


def test_new_findings_are_listed_most_severe_first_with_unknown_severities_before_low() -> None:
    after = [
        scan(
            PROXY,
            [
                finding("CVE-2024-0001", Severity.LOW),
                finding("CVE-2024-0002", Severity.CRITICAL),
                finding("CVE-2024-0003", Severity.UNDEFINED),
                finding("CVE-2024-0004", Severity.MEDIUM),
                finding("CVE-2024-0005", Severity.HIGH),
            ],
        )
    ]
    order = [e.severity for e in findings_delta(after, None).new]
    assert order == [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.UNDEFINED, Severity.LOW]


def test_a_new_image_brings_all_its_findings_and_a_dropped_one_takes_its_findings_away() -> None:
    before = [scan(PROXY, [], release="1"), scan(ETCD, [finding("CVE-2024-0009")], release="1")]
    after = [scan(PROXY, [], release="3"), scan(PAUSE, [finding("CVE-2024-0001")], release="3")]
    delta = findings_delta(after, before, "1-20-1")
    assert ids(delta.new) == [(PAUSE, "CVE-2024-0001")] and delta.new_images == (PAUSE,)
    assert ids(delta.fixed) == [(ETCD, "CVE-2024-0009")] and delta.removed_images == (ETCD,)


def test_an_incomplete_scan_in_this_release_claims_nothing_fixed() -> None:
    """A platform not scanned may still hold the finding: fixed is only said of an image scanned whole."""
    before = [scan(PROXY, [finding("CVE-2024-0001")], release="1")]
    after = [
        scan(PROXY, [], platform="linux/amd64", release="3"),
        scan(PROXY, platform="linux/arm64", release="3", status=ScanStatus.IN_PROGRESS),
    ]
    delta = findings_delta(after, before, "1-20-1")
    assert not delta.fixed and delta.unconfirmed_fixed == (PROXY,)


def test_an_incomplete_baseline_counts_its_image_findings_as_new() -> None:
    """The safe side: what the baseline's failed scan may have known is shown as new, and flagged."""
    before = [scan(PROXY, release="1", status=ScanStatus.FAILED)]
    after = [scan(PROXY, [finding("CVE-2024-0001")], release="3")]
    delta = findings_delta(after, before, "1-20-1")
    assert ids(delta.new) == [(PROXY, "CVE-2024-0001")] and delta.baseline_gaps == (PROXY,)


def test_an_image_unscannable_in_both_releases_carries_no_notes() -> None:
    """Notes are for findings that may be misread: an image without any in either release has none."""
    before = [scan(PAUSE, release="1", status=ScanStatus.UNSUPPORTED_IMAGE)]
    after = [scan(PAUSE, release="3", status=ScanStatus.UNSUPPORTED_IMAGE)]
    delta = findings_delta(after, before, "1-20-1")
    assert not delta.new and not delta.fixed and not delta.baseline_gaps and not delta.unconfirmed_fixed


def test_the_package_shown_for_an_id_in_several_packages_is_stable() -> None:
    after = [scan(PROXY, [finding("CVE-2024-0001", package="zlib"), finding("CVE-2024-0001", package="libssl")])]
    first = findings_delta(after, None).new
    assert len(first) == 1 and first[0].package == "libssl"
    assert findings_delta(list(reversed(after)), None).new == first
