"""The validator: every real manifest passes; each rule fails when one thing is broken."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from eksd_adopt.errors import ManifestError
from eksd_adopt.policy import ImageRegistryRule, UpstreamPolicy
from eksd_adopt.release import validate_manifest
from tests.conftest import REAL_MANIFESTS, TESTDATA

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    return yaml.safe_load((TESTDATA / "kubernetes-1-20-eks-1.yaml").read_text())


def _component(doc: dict[str, Any], name: str) -> tuple[int, dict[str, Any]]:
    for index, component in enumerate(doc["status"]["components"]):
        if component["name"] == name:
            return index, component
    raise KeyError(name)


def _first_asset(doc: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    for ci, component in enumerate(doc["status"]["components"]):
        for ai, asset in enumerate(component["assets"]):
            if asset["type"] == kind:
                return f"status.components[{ci}].assets[{ai}]", asset
    raise KeyError(kind)


def _validate(doc: dict[str, Any], **policy: Any) -> Any:
    return validate_manifest(yaml.safe_dump(doc), policy=UpstreamPolicy(**policy))


@pytest.mark.parametrize("path", REAL_MANIFESTS, ids=lambda p: p.name)
def test_every_real_manifest_is_valid(path: Any) -> None:
    report = validate_manifest(path.read_bytes(), source=path.name)
    assert report.errors == [], report.errors
    assert report.release is not None
    assert report.release.kubernetes_version and report.release.kubernetes_version.startswith("v1.")
    # These 2020-2021 manifests predate imageDigest: one warning per image.
    assert {f.rule for f in report.warnings} == {"image-digest"}
    assert len(report.warnings) == len(report.release.image_assets())


def test_re_indented_yaml_style_is_read_the_same(base: dict[str, Any]) -> None:
    class Indented(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
            return super().increase_indent(flow, False)

    text = "---\n" + yaml.dump(base, Dumper=Indented, default_flow_style=False)
    report = validate_manifest(text)
    assert report.errors == []
    assert report.release is not None and report.release.release_id == "1-20-1"


Mutation = Callable[[dict[str, Any]], str]


def _set_api(doc: dict[str, Any]) -> str:
    doc["apiVersion"] = "distro.eks.amazonaws.com/v1beta1"
    return "apiVersion"


def _set_kind(doc: dict[str, Any]) -> str:
    doc["kind"] = "ReleaseChannel"
    return "kind"


def _bad_name(doc: dict[str, Any]) -> str:
    doc["metadata"]["name"] = "kubernetes-1-20-eks-2"
    return "metadata.name"


def _bad_channel(doc: dict[str, Any]) -> str:
    doc["spec"]["channel"] = "1.20"
    return "spec.channel"


def _zero_number(doc: dict[str, Any]) -> str:
    doc["spec"]["number"] = 0
    doc["metadata"]["name"] = "kubernetes-1-20-eks-0"
    return "spec.number"


def _bad_date(doc: dict[str, Any]) -> str:
    doc["status"]["date"] = "2021-02-30 noon"
    return "status.date"


def _date_without_offset(doc: dict[str, Any]) -> str:
    doc["status"]["date"] = "2021-05-18T20:14:48"
    return "status.date"


def _duplicate_component(doc: dict[str, Any]) -> str:
    _, component = _component(doc, "etcd")
    clone = copy.deepcopy(component)
    for asset in clone["assets"]:
        asset["name"] = "copy-" + asset["name"]
    doc["status"]["components"].append(clone)
    return f"status.components[{len(doc['status']['components']) - 1}].name"


def _duplicate_asset(doc: dict[str, Any]) -> str:
    index, component = _component(doc, "etcd")
    component["assets"].append(copy.deepcopy(component["assets"][0]))
    return f"status.components[{index}].assets[{len(component['assets']) - 1}].name"


def _no_kubernetes(doc: dict[str, Any]) -> str:
    _, component = _component(doc, "kubernetes")
    component["name"] = "kube"
    return "status.components"


def _bad_kubernetes_tag(doc: dict[str, Any]) -> str:
    index, component = _component(doc, "kubernetes")
    component["gitTag"] = "1.20.4"
    return f"status.components[{index}].gitTag"


def _kubernetes_other_minor(doc: dict[str, Any]) -> str:
    index, component = _component(doc, "kubernetes")
    component["gitTag"] = "v1.21.2"
    return f"status.components[{index}].gitTag"


def _image_with_archive(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Image")
    asset["archive"] = {"uri": "https://distro.eks.amazonaws.com/x", "sha256": "a" * 64, "sha512": "b" * 128}
    return f"{where}.archive"


def _image_without_image(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Image")
    del asset["image"]
    return f"{where}.image"


def _archive_with_image(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Archive")
    asset["image"] = {"uri": "public.ecr.aws/eks-distro/x:v1"}
    return f"{where}.image"


def _archive_without_archive(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Archive")
    del asset["archive"]
    return f"{where}.archive"


def _unknown_arch(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Image")
    asset["arch"] = ["amd64", "riscv64"]
    return f"{where}.arch[1]"


def _uri_without_registry(doc: dict[str, Any]) -> str:
    # The real mistake seen in an old published copy of 1-19-eks-1.
    where, asset = _first_asset(doc, "Image")
    asset["image"]["uri"] = "/kubernetes/kube-apiserver:v1.19.6-eks-1-19-1"
    return f"{where}.image.uri"


def _registry_not_allowed(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Image")
    asset["image"]["uri"] = asset["image"]["uri"].replace("public.ecr.aws", "docker.io")
    return f"{where}.image.uri"


def _path_not_allowed(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Image")
    asset["image"]["uri"] = asset["image"]["uri"].replace("eks-distro/", "someone-else/")
    return f"{where}.image.uri"


def _image_without_tag(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Image")
    asset["image"]["uri"] = asset["image"]["uri"].rsplit(":", 1)[0]
    return f"{where}.image.uri"


def _bad_image_digest(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Image")
    asset["image"]["imageDigest"] = "sha256:" + "AB" * 32
    return f"{where}.image.imageDigest"


def _http_archive(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Archive")
    asset["archive"]["uri"] = asset["archive"]["uri"].replace("https://", "http://")
    return f"{where}.archive.uri"


def _archive_other_host(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Archive")
    asset["archive"]["uri"] = asset["archive"]["uri"].replace("distro.eks.amazonaws.com", "169.254.169.254")
    return f"{where}.archive.uri"


def _archive_other_release_path(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Archive")
    asset["archive"]["uri"] = asset["archive"]["uri"].replace("/releases/1/", "/releases/2/")
    return f"{where}.archive.uri"


def _archive_path_traversal(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Archive")
    asset["archive"]["uri"] = asset["archive"]["uri"].replace("/artifacts/", "/artifacts/../../../")
    return f"{where}.archive.uri"


def _short_sha256(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Archive")
    asset["archive"]["sha256"] = asset["archive"]["sha256"][:-1]
    return f"{where}.archive.sha256"


def _upper_sha512(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Archive")
    asset["archive"]["sha512"] = asset["archive"]["sha512"].upper()
    return f"{where}.archive.sha512"


def _bad_asset_type(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Image")
    asset["type"] = "Chart"
    return f"{where}.type"


def _bad_os(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Image")
    asset["os"] = "plan9"
    return f"{where}.os"


def _number_as_text(doc: dict[str, Any]) -> str:
    doc["spec"]["number"] = "one"
    return "spec.number"


def _unknown_top_field(doc: dict[str, Any]) -> str:
    doc["status"]["kubernetesVersion"] = "v1.20.4"
    return "status.kubernetesVersion"


def _unknown_nested_field(doc: dict[str, Any]) -> str:
    where, asset = _first_asset(doc, "Image")
    asset["image"]["signature"] = "xyz"
    return f"{where}.image.signature"


RULES: dict[str, Mutation] = {
    "api-version": _set_api,
    "kind": _set_kind,
    "name": _bad_name,
    "channel": _bad_channel,
    "number": _zero_number,
    "date": _bad_date,
    "date-offset": _date_without_offset,
    "unique-component": _duplicate_component,
    "unique-asset": _duplicate_asset,
    "kubernetes-component": _no_kubernetes,
    "kubernetes-version": _bad_kubernetes_tag,
    "kubernetes-minor": _kubernetes_other_minor,
    "image-has-archive": _image_with_archive,
    "image-missing": _image_without_image,
    "archive-has-image": _archive_with_image,
    "archive-missing": _archive_without_archive,
    "arch": _unknown_arch,
    "image-no-registry": _uri_without_registry,
    "image-registry": _registry_not_allowed,
    "image-path": _path_not_allowed,
    "image-tag": _image_without_tag,
    "image-digest": _bad_image_digest,
    "archive-http": _http_archive,
    "archive-host": _archive_other_host,
    "archive-path": _archive_other_release_path,
    "archive-traversal": _archive_path_traversal,
    "sha256": _short_sha256,
    "sha512": _upper_sha512,
    "asset-type-enum": _bad_asset_type,
    "os-enum": _bad_os,
    "number-type": _number_as_text,
    "unknown-field": _unknown_top_field,
    "unknown-nested-field": _unknown_nested_field,
}


@pytest.mark.reliability(
    area="manifest",
    fault="one rule broken in a real manifest (each rule)",
    expected="invalid, error at the exact location",
)
@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_rejects_one_broken_thing_at_its_location(
    base: dict[str, Any], rule: str, observed: Callable[[str], None]
) -> None:
    doc = copy.deepcopy(base)
    location = RULES[rule](doc)
    report = _validate(doc)
    assert not report.ok()
    locations = [f.location for f in report.errors]
    assert location in locations, report.errors
    observed(f"{rule}: " + next(str(f) for f in report.errors if f.location == location))


def test_all_problems_are_reported_at_once(base: dict[str, Any]) -> None:
    doc = copy.deepcopy(base)
    expected = {mutate(doc) for mutate in (_set_kind, _bad_date, _short_sha256, _registry_not_allowed, _unknown_arch)}
    report = _validate(doc)
    assert expected <= {f.location for f in report.errors}


def test_unknown_fields_can_be_let_through_as_warnings(base: dict[str, Any]) -> None:
    doc = copy.deepcopy(base)
    location = _unknown_top_field(doc)
    report = _validate(doc, unknown_fields="warn")
    assert report.ok()
    assert not report.ok(strict=True)
    assert location in [f.location for f in report.warnings]


def test_tag_naming_another_release_is_a_warning_not_an_error(base: dict[str, Any]) -> None:
    # Real for metrics-server after 1-32: its tag still names 1-32-8.
    doc = copy.deepcopy(base)
    index, component = _component(doc, "metrics-server")
    image = component["assets"][0]["image"]
    image["uri"] = image["uri"].replace("eks-1-20-1", "eks-1-19-8")
    image["imageDigest"] = DIGEST
    report = _validate(doc)
    assert report.ok()
    where = f"status.components[{index}].assets[0].image.uri"
    assert [f.rule for f in report.warnings if f.location == where] == ["image-tag-release"]
    assert not report.ok(strict=True)


def test_digest_present_silences_the_missing_digest_warning(base: dict[str, Any]) -> None:
    doc = copy.deepcopy(base)
    for component in doc["status"]["components"]:
        for asset in component["assets"]:
            if asset["type"] == "Image":
                asset["image"]["imageDigest"] = DIGEST
    report = _validate(doc)
    assert report.findings == []
    assert report.ok(strict=True)


def test_csi_components_registry_path_is_allowed(base: dict[str, Any]) -> None:
    doc = copy.deepcopy(base)
    where, asset = _first_asset(doc, "Image")
    asset["image"]["uri"] = "public.ecr.aws/csi-components/csi-snapshotter:v8.2.0-eksbuild.1"
    assert where not in [f.location for f in _validate(doc).errors]


def test_allow_lists_are_configuration(base: dict[str, Any]) -> None:
    doc = copy.deepcopy(base)
    _registry_not_allowed(doc)
    policy = {"image_registries": (ImageRegistryRule(host="docker.io", path_prefixes=("eks-distro/",)),)}
    report = _validate(doc, **policy)
    rules = {f.rule for f in report.errors}
    assert "image-registry" in rules  # every other image is now on a host the policy no longer allows
    first = _first_asset(doc, "Image")[0] + ".image.uri"
    assert first not in [f.location for f in report.errors]


def test_require_valid_lists_every_problem(base: dict[str, Any]) -> None:
    doc = copy.deepcopy(base)
    _set_kind(doc)
    _bad_date(doc)
    report = _validate(doc)
    with pytest.raises(ManifestError, match=r"2 problem\(s\).*kind.*status\.date"):
        report.require_valid()


def test_non_mapping_document_is_invalid() -> None:
    report = validate_manifest("- just\n- a list\n")
    assert [f.location for f in report.errors] == ["(document)"]
