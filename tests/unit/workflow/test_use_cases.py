"""Workflow use cases on in-memory fakes: manifests, validation, rollback, outcomes, the ASL file."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from eksd_adopt.approvals.errors import NotAnApproverError
from eksd_adopt.approvals.models import ApprovalStatus, StageRule
from eksd_adopt.errors import ManifestError
from eksd_adopt.events import InMemoryPublisher
from eksd_adopt.ledger import InMemoryLedger, ReleaseRecord, ReleaseStatus
from eksd_adopt.ledger.store import mark_promoted
from eksd_adopt.workflow.errors import RollbackError, WorkflowInputError
from eksd_adopt.workflow.manifests import rewrite_manifest
from eksd_adopt.workflow.models import AdoptionInput, ReleaseRef, StagePointer
from eksd_adopt.workflow.plans import load_plan
from eksd_adopt.workflow.promotion import OutcomeRequest, record_outcome, rollback
from eksd_adopt.workflow.steps import ValidateRequest, validate_and_plan
from tests.unit.approvals.fakes import BOB, ROLE, gate
from tests.unit.workflow.fakes import FakePointers, FakeStore

ASL = Path(__file__).resolve().parents[3] / "infra" / "workflows" / "adopt_release.asl.json"
RULES = {"prod": StageRule(approvers=(ROLE, BOB), required_approvals=2)}


def test_rewrite_pins_images_by_digest_and_refuses_unmapped_assets() -> None:
    document = {
        "status": {
            "components": [
                {
                    "name": "k",
                    "assets": [
                        {
                            "name": "pause-image",
                            "type": "Image",
                            "image": {"uri": "public.ecr.aws/eks-distro/kubernetes/pause:v1-eks-1-30-58"},
                        },
                        {
                            "name": "a.tar.gz",
                            "type": "Archive",
                            "archive": {"uri": "https://distro.eks.amazonaws.com/x/a.tar.gz"},
                        },
                    ],
                }
            ]
        }
    }
    images = {
        "public.ecr.aws/eks-distro/kubernetes/pause:v1-eks-1-30-58": (
            "reg.example/eksd/prod/eks-distro/kubernetes/pause",
            "sha256:" + "a" * 64,
        )
    }
    archives = {"https://distro.eks.amazonaws.com/x/a.tar.gz": "s3://bucket/eksd/prod/a.tar.gz"}
    out = rewrite_manifest(document, images=images, archives=archives)
    assets = out["status"]["components"][0]["assets"]
    assert assets[0]["image"] == {
        "uri": f"reg.example/eksd/prod/eks-distro/kubernetes/pause@sha256:{'a' * 64}",
        "imageDigest": "sha256:" + "a" * 64,
    }
    assert assets[1]["archive"]["uri"] == "s3://bucket/eksd/prod/a.tar.gz"
    assert document["status"]["components"][0]["assets"][0]["image"]["uri"].startswith(
        "public.ecr.aws"
    )  # input untouched
    with pytest.raises(ValueError, match=r"a\.tar\.gz"):
        rewrite_manifest(document, images=images, archives={})


def test_validate_refuses_a_manifest_that_changed_since_intake(manifest_1_20: str) -> None:
    request = ValidateRequest(
        release_id="1-20-1",
        channel="1-20",
        number=1,
        manifest_url="https://x",
        manifest_sha256="0" * 64,
        manifest_yaml=manifest_1_20,
    )
    with pytest.raises(WorkflowInputError, match="manifest_sha256"):
        validate_and_plan(request, store=FakeStore())


def test_the_adoption_input_refuses_a_key_it_does_not_know() -> None:
    # A mistyped key (here manifest_yml) must not be dropped in silence: Validate would then fetch the URL.
    given = {
        "release_id": "1-20-1",
        "channel": "1-20",
        "number": 1,
        "manifest_url": "https://x",
        "manifest_sha256": "0" * 64,
        "manifest_yml": "kind: Release",
    }
    with pytest.raises(ValidationError, match="manifest_yml"):
        ValidateRequest.model_validate({**given, "prefix": "eksd"})
    with pytest.raises(ValidationError, match="manifest_yml"):
        AdoptionInput.model_validate(given)


def test_validate_refuses_another_release_and_plans_without_the_text(manifest_1_20: str) -> None:
    sha = hashlib.sha256(manifest_1_20.encode()).hexdigest()
    with pytest.raises(ManifestError, match="not 1-20-2"):
        validate_and_plan(
            ValidateRequest(
                release_id="1-20-2",
                channel="1-20",
                number=2,
                manifest_url="https://x",
                manifest_sha256=sha,
                manifest_yaml=manifest_1_20,
            ),
            store=FakeStore(),
        )
    store, ledger = FakeStore(), InMemoryLedger()
    result = validate_and_plan(
        ValidateRequest(
            release_id="1-20-1",
            channel="1-20",
            number=1,
            manifest_url="https://x",
            manifest_sha256=sha,
            manifest_yaml=manifest_1_20,
        ),
        store=store,
        ledger=ledger,
    )
    assert result.release.manifest_location == "s3://bucket/eksd/upstream/kubernetes-1-20/kubernetes-1-20-eks-1.yaml"
    assert store.objects["eksd/upstream/kubernetes-1-20/kubernetes-1-20-eks-1.yaml"] == manifest_1_20.encode()
    assert ledger.get("1-20-1").status is ReleaseStatus.ADOPTING
    state = result.model_dump_json()
    assert "manifest_yaml" not in state and len(state) < 256 * 1024
    plan = load_plan(result.plan, store)
    assert result.plan.location == "s3://bucket/eksd/upstream/kubernetes-1-20/kubernetes-1-20-eks-1.plan.json"
    assert [(i.kind, i.index) for i in result.items] == [("image", n) for n in range(len(plan.images))] + [
        ("archive", n) for n in range(len(plan.archives))
    ]
    assert plan.images and plan.archives and "sha512" not in state  # the jobs stay in the bucket


def test_rollback_only_to_a_release_promoted_in_that_stage() -> None:
    ledger, pointers, store, events = InMemoryLedger(), FakePointers(), FakeStore(), InMemoryPublisher()
    for number in (57, 58):
        ledger.create(
            ReleaseRecord(release_id=f"1-30-{number}", channel="1-30", number=number, status=ReleaseStatus.ADOPTING)
        )
        store.put(f"eksd/prod/kubernetes-1-30/kubernetes-1-30-eks-{number}.yaml", b"x")
    mark_promoted(ledger, "1-30-57", "prod")
    ledger.create(ReleaseRecord(release_id="1-30-56", channel="1-30", number=56, status=ReleaseStatus.REJECTED))
    pointers.put(
        "prod", StagePointer(release_id="1-30-58", channel="1-30", number=58, manifest_location="s3://bucket/m58")
    )
    args: dict[str, Any] = {
        "rules": RULES,
        "ledger": ledger,
        "pointers": pointers,
        "store": store,
        "publisher": events,
        "prefix": "eksd",
    }
    with pytest.raises(RollbackError, match="never promoted"):
        rollback(BOB, "prod", "1-30", 56, **args)
    with pytest.raises(NotAnApproverError):
        rollback("arn:aws:iam::111122223333:user/mallory", "prod", "1-30", 57, **args)
    pointer = rollback(BOB, "prod", "1-30", 57, **args)
    assert pointers.get("prod", "1-30") == pointer and pointer.release_id == "1-30-57"
    assert [e.event_type.value for e in events.events] == ["release.rolled_back"]
    assert events.events[0].detail["from_release_id"] == "1-30-58"
    with pytest.raises(RollbackError, match="already"):
        rollback(BOB, "prod", "1-30", 57, **args)


def test_outcome_records_status_event_and_closes_the_gate() -> None:
    approvals, ledger = gate()
    events = InMemoryPublisher()
    result = record_outcome(
        OutcomeRequest(
            release=ReleaseRef(release_id="1-30-58", channel="1-30", number=58),
            outcome="expired",
            stage="prod",
            error={"Error": "States.Timeout", "Cause": ""},
        ),
        ledger=ledger,
        approvals=approvals,
        publisher=events,
    )
    assert ledger.get("1-30-58").status is ReleaseStatus.EXPIRED
    assert approvals.get("1-30-58", "prod").status is ApprovalStatus.EXPIRED
    assert events.events[0].event_type.value == "release.expired" and "States.Timeout" in result["cause"]
    with pytest.raises(ValueError, match="outcome"):
        record_outcome(
            OutcomeRequest(release=ReleaseRef(release_id="1-30-58", channel="1-30", number=58), outcome="lost"),
            ledger=ledger,
            approvals=None,
            publisher=events,
        )


def test_asl_every_forward_task_has_a_catch_and_placeholders_are_known() -> None:
    definition = json.loads(ASL.read_text())
    top = definition["States"]
    for name in (
        "Validate",
        "Mirror",
        "Verify",
        "SmokeTest",
        "TeamTestLambda",
        "TeamTestStateMachine",
        "RecordTested",
        "Stages",
    ):
        assert top[name].get("Catch"), name
    assert top["Stages"]["ItemProcessor"]["States"]["AwaitApproval"]["Resource"].endswith(".waitForTaskToken")
    assert "TimeoutSecondsPath" in top["Stages"]["ItemProcessor"]["States"]["AwaitApproval"]
    assert top["Mirror"]["MaxConcurrencyPath"]
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL.read_text()))
    from eksd_adopt.local.aws import LocalAws

    assert placeholders == set(LocalAws().substitutions())
    assert yaml.safe_load(
        ASL.read_text()
    )  # plain JSON before substitution: CDK and the local runtime load the same text
