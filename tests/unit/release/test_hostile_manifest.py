"""A manifest written by an attacker: what upstream's strict parser or the copiers refuse, the validator refuses.

`validate` exit 0 must mean the copy will not fail on shape: every archive URL the validator accepts is
one the archive copier accepts, and whatever the copier refuses the validator has refused already.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eksd_adopt.archives.copier import check_job
from eksd_adopt.errors import EksdAdoptError, FetchError, ManifestError
from eksd_adopt.plan import ArchiveCopyJob, plan_release
from eksd_adopt.policy import UpstreamPolicy
from eksd_adopt.release import ReleaseChannel, validate_manifest
from eksd_adopt.release.validate import MAX_FINDINGS_PER_RULE, ValidationReport
from tests.conftest import TESTDATA

BASE: dict[str, Any] = yaml.safe_load((TESTDATA / "kubernetes-1-20-eks-1.yaml").read_text())
HOST = "distro.eks.amazonaws.com"
PREFIX = f"https://{HOST}/kubernetes-1-20/releases/1/artifacts/"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def _validate(doc: dict[str, Any]) -> ValidationReport:
    return validate_manifest(yaml.safe_dump(doc))


def _assets(doc: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"status.components[{ci}].assets[{ai}]", asset)
        for ci, component in enumerate(doc["status"]["components"])
        for ai, asset in enumerate(component["assets"])
        if asset["type"] == kind
    ]


def _errors_at(report: ValidationReport, location: str) -> list[str]:
    return [f"{f.message} [{f.rule}]" for f in report.errors if f.location == location]


# --- Types are strict where upstream's Go struct is ---------------------------------------------------


@pytest.mark.reliability(
    area="manifest",
    fault="spec.number given as '1', true or 1.0 (upstream's Go int refuses them)",
    expected="invalid: schema error at spec.number, not coerced to 1",
)
@pytest.mark.parametrize("value", ["1", True, 1.0])
def test_number_of_another_type_is_refused_not_coerced(value: object, observed: Callable[[str], None]) -> None:
    doc = copy.deepcopy(BASE)
    doc["spec"]["number"] = value
    report = _validate(doc)
    assert not report.ok()
    assert _errors_at(report, "spec.number") == ["Input should be a valid integer [schema]"]
    observed(f"number: {value!r} -> {report.errors[0]}")


@pytest.mark.parametrize(
    ("field", "value"), [("latestRelease", "1"), ("latestRelease", True), ("active", "yes"), ("active", 1)]
)
def test_release_channel_types_are_strict(field: str, value: object) -> None:
    document = {"kind": "ReleaseChannel", "status": {"active": True, "latestRelease": 3, field: value}}
    with pytest.raises(ValueError, match=field):
        ReleaseChannel.model_validate(document)


def test_a_number_beyond_upstreams_int_is_refused() -> None:
    doc = copy.deepcopy(BASE)
    doc["spec"]["number"] = 2**63
    doc["metadata"]["name"] = f"kubernetes-1-20-eks-{2**63}"
    assert "from 1 to" in _errors_at(_validate(doc), "spec.number")[0]


# --- ASCII-only, whole-string patterns --------------------------------------------------------------------


def _channel(value: str) -> Callable[[dict[str, Any]], str]:
    def mutate(doc: dict[str, Any]) -> str:
        doc["spec"]["channel"] = value
        doc["metadata"]["name"] = f"kubernetes-{value}-eks-1"
        return "spec.channel"

    return mutate


def _archive_field(field: str, suffix: str) -> Callable[[dict[str, Any]], str]:
    def mutate(doc: dict[str, Any]) -> str:
        where, asset = _assets(doc, "Archive")[0]
        asset["archive"][field] += suffix
        return f"{where}.archive.{field}"

    return mutate


def _image_field(field: str, change: Callable[[str], str]) -> Callable[[dict[str, Any]], str]:
    def mutate(doc: dict[str, Any]) -> str:
        where, asset = _assets(doc, "Image")[0]
        asset["image"][field] = change(asset["image"].get(field, DIGEST_A))
        return f"{where}.image.{field}"

    return mutate


def _kubernetes_tag(doc: dict[str, Any]) -> str:
    for index, component in enumerate(doc["status"]["components"]):
        if component["name"] == "kubernetes":
            component["gitTag"] = "v1.2\u0660.4"  # ARABIC-INDIC DIGIT ZERO
            return f"status.components[{index}].gitTag"
    raise KeyError("kubernetes")


NOT_ASCII_OR_NOT_WHOLE = {
    "channel with an Arabic-Indic digit": _channel("1-2\u0660"),
    "channel with a fullwidth digit": _channel("1-\uff12\uff10"),
    "channel ending in a newline": _channel("1-20\n"),
    "channel with a leading zero": _channel("01-20"),
    "sha256 ending in a newline": _archive_field("sha256", "\n"),
    "sha512 ending in a newline": _archive_field("sha512", "\n"),
    "imageDigest ending in a newline": _image_field("imageDigest", lambda d: d + "\n"),
    "image tag with a non-ASCII letter": _image_field("uri", lambda u: u + "\u00e9"),
    "kubernetes gitTag with an Arabic-Indic digit": _kubernetes_tag,
}


@pytest.mark.reliability(
    area="manifest",
    fault="non-ASCII digits or letters, a trailing newline (channel, checksums, digests, tags)",
    expected="invalid at the exact location: every pattern is ASCII-only and matched whole",
)
@pytest.mark.parametrize("case", sorted(NOT_ASCII_OR_NOT_WHOLE))
def test_patterns_are_ascii_only_and_whole(case: str, observed: Callable[[str], None]) -> None:
    doc = copy.deepcopy(BASE)
    location = NOT_ASCII_OR_NOT_WHOLE[case](doc)
    report = _validate(doc)
    assert _errors_at(report, location), report.errors
    observed(f"{case}: {_errors_at(report, location)[0]}")


# --- Images: what the planner and the image copier would do with them ---------------------------------


@pytest.mark.reliability(
    area="manifest",
    fault="image URI with both a tag and a digest (the plan kept the tag, dropped the digest)",
    expected="invalid at image.uri: the digest belongs in imageDigest",
)
def test_image_reference_with_tag_and_digest_is_refused(observed: Callable[[str], None]) -> None:
    doc = copy.deepcopy(BASE)
    where, asset = _assets(doc, "Image")[0]
    asset["image"]["uri"] += "@" + DIGEST_A
    errors = _errors_at(_validate(doc), f"{where}.image.uri")
    assert errors and "tag only" in errors[0]
    observed(errors[0])


@pytest.mark.reliability(
    area="manifest",
    fault="the same image and tag listed twice with two different imageDigest values",
    expected="invalid at the second imageDigest (the plan would have silently kept the first)",
)
def test_same_image_with_two_digests_is_refused(observed: Callable[[str], None]) -> None:
    doc = copy.deepcopy(BASE)
    (first_where, first), _ = _assets(doc, "Image")[:2]
    first["image"]["imageDigest"] = DIGEST_A
    twin = copy.deepcopy(first)
    twin["name"] = "twin-image"
    twin["image"]["imageDigest"] = DIGEST_B
    last = len(doc["status"]["components"]) - 1
    doc["status"]["components"][last]["assets"].append(twin)
    where = f"status.components[{last}].assets[{len(doc['status']['components'][last]['assets']) - 1}]"
    errors = _errors_at(_validate(doc), f"{where}.image.imageDigest")
    assert errors and "[image-conflict]" in errors[0] and first_where in errors[0]
    observed(errors[0])


def test_the_same_image_listed_twice_alike_is_planned_once() -> None:
    doc = copy.deepcopy(BASE)
    _, first = _assets(doc, "Image")[0]
    twin = copy.deepcopy(first)
    twin["name"] = "twin-image"
    doc["status"]["components"][0]["assets"].append(twin)
    release = _validate(doc).require_valid()
    plan = plan_release(release, prefix="eksd")
    assert len(plan.images) == len(plan_release(_validate(BASE).require_valid(), prefix="eksd").images)


# --- Archives: what the archive copier would refuse -----------------------------------------------------


@pytest.mark.reliability(
    area="manifest",
    fault="two archive assets with the same URI and different checksums",
    expected="invalid: one file has one sha256/sha512",
)
def test_same_archive_with_two_checksums_is_refused(observed: Callable[[str], None]) -> None:
    doc = copy.deepcopy(BASE)
    _, first = _assets(doc, "Archive")[0]
    twin = copy.deepcopy(first)
    twin["name"] = "twin.tar.gz"
    twin["archive"]["sha256"] = "0" * 64
    last = len(doc["status"]["components"]) - 1
    assets = doc["status"]["components"][last]["assets"]
    assets.append(twin)
    errors = _errors_at(_validate(doc), f"status.components[{last}].assets[{len(assets) - 1}].archive")
    assert errors and "[archive-conflict]" in errors[0]
    observed(errors[0])


HOSTILE_ARCHIVE_URLS = {
    "percent-encoded dot segments": PREFIX + "%2e%2e/%2E%2E/secret",
    "percent-encoded slash": PREFIX + "a%2fb",
    "a backslash": PREFIX + "kubernetes\\..\\x",
    "a tab in the host": "https://distro.eks.\tamazonaws.com/kubernetes-1-20/releases/1/artifacts/x",
    "a newline at the end": PREFIX + "kubernetes/x\n",
    "userinfo": f"https://user@{HOST}/kubernetes-1-20/releases/1/artifacts/x",
    "userinfo with a look-alike host": f"https://{HOST}@169.254.169.254/kubernetes-1-20/releases/1/artifacts/x",
    "// in the path": PREFIX + "kubernetes//x",
    "an empty file name": PREFIX + "kubernetes/",
    "a dot segment": PREFIX + "kubernetes/./x",
    "an invalid port": f"https://{HOST}:99999/kubernetes-1-20/releases/1/artifacts/x",
    "a port that is no number": f"https://{HOST}:abc/kubernetes-1-20/releases/1/artifacts/x",
    "a port": f"https://{HOST}:8443/kubernetes-1-20/releases/1/artifacts/x",
    "a query": PREFIX + "x?y=1",
    "a fragment": PREFIX + "x#y",
    "a non-ASCII letter": PREFIX + "k\u00e9/x",
    "an upper-case host": "https://DISTRO.eks.amazonaws.com/kubernetes-1-20/releases/1/artifacts/x",
}


def _job(url: str) -> ArchiveCopyJob:
    return ArchiveCopyJob(
        component="kubernetes",
        asset="x",
        source_url=url,
        sha256="a" * 64,
        sha512="b" * 128,
        target_key="eksd/staging/kubernetes-1-20/releases/1/artifacts/x",
    )


@pytest.mark.reliability(
    area="manifest",
    fault="archive URI with %2e%2e, a backslash, a tab in the host, userinfo, //, an empty file name, a bad port",
    expected="invalid at archive.uri (no traceback), and the archive copier refuses the same URL",
)
@pytest.mark.parametrize("case", sorted(HOSTILE_ARCHIVE_URLS))
def test_hostile_archive_urls_are_refused_by_validator_and_copier_alike(
    case: str, observed: Callable[[str], None]
) -> None:
    url = HOSTILE_ARCHIVE_URLS[case]
    doc = copy.deepcopy(BASE)
    where, asset = _assets(doc, "Archive")[0]
    asset["archive"]["uri"] = url
    errors = _errors_at(_validate(doc), f"{where}.archive.uri")
    assert errors, f"{case}: accepted by the validator"
    with pytest.raises(FetchError, match="refusing"):
        check_job(_job(url), allowed_hosts=[HOST])
    observed(f"{case}: {errors[0][:160]}")


# Characters a hostile path may try: separators, escapes, dots, whitespace, non-ASCII, URL delimiters.
_PATH_TEXT = st.text(alphabet=st.sampled_from(list("ab09._-~+/%\\\t\n :@?#&=é\u0660")), min_size=1, max_size=40)


BASE_TEXT = yaml.safe_dump(BASE)
FIRST_ARCHIVE_WHERE, FIRST_ARCHIVE = _assets(BASE, "Archive")[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PATH_TEXT)
def test_every_archive_url_the_validator_accepts_the_copier_accepts(path: str) -> None:
    # A JSON string is a YAML double-quoted scalar: the URL goes in exactly as generated.
    text = BASE_TEXT.replace(FIRST_ARCHIVE["archive"]["uri"], json.dumps(PREFIX + path), 1)
    report = validate_manifest(text)
    if _errors_at(report, f"{FIRST_ARCHIVE_WHERE}.archive.uri"):
        with pytest.raises(EksdAdoptError):
            # Refused by the validator: the copier must not take it either (one shared check).
            check_job(_job(PREFIX + path), allowed_hosts=[HOST])
        return
    release = report.require_valid()
    for job in plan_release(release, prefix="eksd").archives:
        check_job(job, allowed_hosts=[HOST], key_prefix="eksd/staging")


# --- Every problem at once ---------------------------------------------------------------------------------


@pytest.mark.reliability(
    area="manifest",
    fault="a schema error (arch not a list, type not a string) in an asset that also breaks semantic rules",
    expected="the schema error and every semantic error of the same asset, all reported",
)
def test_a_schema_error_does_not_hide_the_semantic_errors_of_the_same_asset(observed: Callable[[str], None]) -> None:
    doc = copy.deepcopy(BASE)
    (image_where, image), (image2_where, image2) = _assets(doc, "Image")[:2]
    image["arch"] = "amd64"  # schema: not a list
    image["image"]["uri"] = image["image"]["uri"].replace("public.ecr.aws", "docker.io")  # semantic
    image["image"]["imageDigest"] = "md5:x"  # semantic
    archive_where, archive = _assets(doc, "Archive")[0]
    archive["type"] = 7  # schema: not a string
    archive["archive"]["uri"] = archive["archive"]["uri"].replace("https://", "http://")  # semantic
    archive["archive"]["sha512"] = "0"  # semantic
    image2["image"] = "public.ecr.aws/x"  # schema: not an object
    image2["name"] = image["name"]  # semantic, same asset
    doc["spec"]["channel"] = 120  # schema at the top
    report = _validate(doc)
    found = {f.location for f in report.errors}
    assert {
        f"{image_where}.arch",
        f"{image_where}.image.uri",
        f"{image_where}.image.imageDigest",
        f"{archive_where}.type",
        f"{archive_where}.archive.uri",
        f"{archive_where}.archive.sha512",
        f"{image2_where}.image",
        f"{image2_where}.name",
        "spec.channel",
    } <= found
    # A field with a schema error gets that one finding, not a second "must be ..." on top.
    assert len(_errors_at(report, "spec.channel")) == 1
    assert len(_errors_at(report, f"{archive_where}.type")) == 1
    observed(f"{len(report.errors)} errors, among them " + "; ".join(sorted(found))[:200])


def test_an_entry_of_the_wrong_shape_does_not_hide_its_neighbours() -> None:
    doc = copy.deepcopy(BASE)
    _, asset = _assets(doc, "Archive")[0]
    asset["archive"]["sha256"] = "x"
    doc["status"]["components"].insert(0, "not a component")
    doc["status"]["components"][1]["assets"].insert(0, ["not", "an", "asset"])
    report = _validate(doc)
    found = {f.location for f in report.errors}
    assert {"status.components[0]", "status.components[1].assets[0]"} <= found
    assert any(f.rule == "sha256" for f in report.errors)


# --- Bounded output ---------------------------------------------------------------------------------------


@pytest.mark.reliability(
    area="manifest",
    fault="tens of thousands of unknown keys under the 1 MiB cap (66 s, 2 GB RSS with --format json before)",
    expected=f"at most {MAX_FINDINGS_PER_RULE} findings of one kind listed, then one counting the rest",
)
def test_findings_of_one_kind_are_capped_with_a_count_of_the_rest(observed: Callable[[str], None]) -> None:
    count = 20_000
    text = yaml.safe_dump(BASE) + "".join(f"k{i}: 0\n" for i in range(count))
    report = validate_manifest(text)
    unknown = [f for f in report.findings if f.rule == "unknown-field"]
    assert len(unknown) == MAX_FINDINGS_PER_RULE + 1
    assert report.error_count == count
    assert f"{count - MAX_FINDINGS_PER_RULE} more" in unknown[-1].message
    with pytest.raises(ManifestError, match=f"{count} problem"):
        report.require_valid()
    observed(unknown[-1].message)


def test_warnings_count_towards_the_totals_when_capped() -> None:
    doc = copy.deepcopy(BASE)
    for i in range(MAX_FINDINGS_PER_RULE + 5):
        doc["status"][f"extra{i}"] = i
    report = validate_manifest(yaml.safe_dump(doc), policy=UpstreamPolicy(unknown_fields="warn"))
    assert report.ok() and not report.ok(strict=True)
    assert report.warning_count == MAX_FINDINGS_PER_RULE + 5 + len(_assets(doc, "Image"))
