"""The demo's summary reads in an 80-column terminal and says what moved, including mounts and skips."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.console import Console

from eksd_adopt.cli.demo import export_lines, render_summary
from eksd_adopt.local.demo import DemoReport, ReleaseTally
from eksd_adopt.local.explore import DemoIdentity, DemoState


def _state(tmp_path: Path) -> DemoState:
    return DemoState(
        pid=1,
        workdir=tmp_path,
        channel="1-20",
        stage="prod",
        region="us-east-1",
        aws_endpoint_url="http://127.0.0.1:40641",
        ledger_table="eksd-adopt-ledger",
        state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:eksd-adopt-release",
        events_topic_arn="arn:aws:sns:us-east-1:123456789012:eksd-adopt-release-events",
        approvals_url="http://127.0.0.1:35391",
        endpoints=["public.ecr.aws=http://127.0.0.1:57895", "distro.eks.amazonaws.com=http://127.0.0.1:33753"],
        upstream_topic_arn="arn:aws:sns:us-east-1:123456789012:eks-distro-updates",
        upstream_registry_url="http://127.0.0.1:57895",
        cdn_root=tmp_path / "cdn",
        template=tmp_path / "template.yaml",
        archive_size=4096,
        layer_sizes=[2048, 4096],
        identities=[
            DemoIdentity(
                name="alice",
                principal_arn="arn:aws:sts::123456789012:assumed-role/ReleaseApprovers/alice",
                access_key="AKIAEB30C4F094CD9575",
                secret_key="NozpqRXJ2-KEdOpY0cxWMtWuqRGGYDVuC_ZL8bhV",
                approver=True,
            )
        ],
    )


def _report(tmp_path: Path) -> DemoReport:
    return DemoReport(
        release_id="1-20-1",
        status="promoted",
        phases=[
            ("upstream publishes the release", 1.0, "62 artifacts and the manifest"),
            ("notification → intake → workflow", 0.3, "adopting"),
            ("validate, plan, mirror to staging", 4.0, "17 images, 45 archives, 729.2 KiB"),
            ("verify, smoke tests, approval gate", 2.3, "awaiting approval"),
            ("approved by alice, promoted", 2.8, "`eksd-adopt approve`, then prod"),
        ],
        tally=ReleaseTally(
            images=17,
            archives=45,
            image_bytes=562_338,
            archive_bytes=184_320,
            blobs_uploaded=172,
            promoted_images=17,
            promoted_mounted=172,
            promoted_skipped=32,
        ),
        images_verified=17,
        archives_verified=45,
        ssm_pointer={
            "release_id": "1-20-1",
            "manifest_location": "s3://eksd-adopt-mirror/eksd/prod/kubernetes-1-20/kubernetes-1-20-eks-1.yaml",
        },
        events=Counter({"release.detected": 1, "release.mirrored": 1, "release.promoted": 1}),
        notification_to_promoted=9.5,
        state=_state(tmp_path),
    )


def test_the_summary_fits_80_columns_and_shows_mounts_and_skips(tmp_path: Path) -> None:
    console = Console(width=80, record=True, color_system=None)
    console.print(render_summary(_report(tmp_path)))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    blobs = {line.split()[0] + " " + line.split()[2]: line.split()[3:] for line in lines if "→" in line[:20]}
    # Row label, then images / uploaded / mounted / skipped / bytes sent: nothing wrapped or cut.
    assert blobs["mirror staging"] == ["17", "172", "0", "0", "562,338"]
    assert blobs["promote prod"] == ["17", "0", "172", "32", "0"]
    # A step's name and its seconds stay on one line.
    assert any(line.strip().startswith("validate, plan, mirror to staging") and "4.0" in line for line in lines)


def test_export_lines_are_one_line_each_and_name_the_identity(tmp_path: Path) -> None:
    state = _state(tmp_path)
    lines = export_lines(state, state.identity("alice"))
    assert lines[0].startswith("# as alice, an approver of prod: arn:aws:sts::")
    assert lines[1] == "unset AWS_PROFILE AWS_SESSION_TOKEN"
    assert "export AWS_ACCESS_KEY_ID=AKIAEB30C4F094CD9575" in lines
    assert f"export EKSD_ADOPT_DEMO_STATE={tmp_path / 'demo.json'}" in lines
