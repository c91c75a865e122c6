"""The planner: deterministic copy jobs with the target layout the design fixes."""

from __future__ import annotations

import random

import yaml

from eksd_adopt.plan import plan_release
from eksd_adopt.release import validate_manifest


def _release(text: str) -> object:
    return validate_manifest(text).require_valid()


def test_plan_targets_and_counts(manifest_1_20: str) -> None:
    plan = plan_release(_release(manifest_1_20), prefix="eksd", stage="staging")  # type: ignore[arg-type]
    assert plan.release_id == "1-20-1"
    assert len(plan.images) == 17
    job = next(j for j in plan.images if j.asset == "kube-apiserver-image")
    assert job.source == "public.ecr.aws/eks-distro/kubernetes/kube-apiserver:v1.20.4-eks-1-20-1"
    assert job.target_repository == "eksd/staging/eks-distro/kubernetes/kube-apiserver"
    assert job.tag == "v1.20.4-eks-1-20-1"
    assert job.known_digest is None
    assert job.arch == ("amd64", "arm64")
    archive = next(a for a in plan.archives if a.asset == "kubernetes-server-linux-amd64.tar.gz")
    assert archive.source_url.endswith(
        "/kubernetes-1-20/releases/1/artifacts/kubernetes/v1.20.4/kubernetes-server-linux-amd64.tar.gz"
    )
    assert (
        archive.target_key
        == "eksd/staging/kubernetes-1-20/releases/1/artifacts/kubernetes/v1.20.4/kubernetes-server-linux-amd64.tar.gz"
    )
    assert len(archive.sha256) == 64 and len(archive.sha512) == 128


def test_plan_is_independent_of_component_order(manifest_1_20: str) -> None:
    doc = yaml.safe_load(manifest_1_20)
    first = plan_release(_release(manifest_1_20), prefix="p", stage="prod")  # type: ignore[arg-type]
    random.Random(7).shuffle(doc["status"]["components"])
    for component in doc["status"]["components"]:
        random.Random(3).shuffle(component["assets"])
    second = plan_release(_release(yaml.safe_dump(doc)), prefix="p", stage="prod")  # type: ignore[arg-type]
    assert first == second
    assert [j.target_repository for j in first.images] == sorted(j.target_repository for j in first.images)
    assert all(j.target_repository.startswith("p/prod/") for j in first.images)
