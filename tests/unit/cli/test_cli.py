"""The CLI's validate, plan and notification commands: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from eksd_adopt.cli.main import app
from tests.conftest import TESTDATA

runner = CliRunner()
MANIFEST = str(TESTDATA / "kubernetes-1-20-eks-1.yaml")


def test_validate_valid_manifest_exits_0() -> None:
    result = runner.invoke(app, ["validate", MANIFEST])
    assert result.exit_code == 0, result.output
    assert "1-20-1 (Kubernetes v1.20.4): valid" in result.output


def test_validate_strict_fails_on_warnings() -> None:
    result = runner.invoke(app, ["validate", MANIFEST, "--strict", "--format", "json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["valid"] is False
    assert payload["release"] == "1-20-1"
    assert all(f["severity"] == "warning" for f in payload["findings"])


def test_validate_invalid_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    doc = yaml.safe_load(Path(MANIFEST).read_text())
    doc["kind"] = "Other"
    doc["spec"]["channel"] = "x"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = runner.invoke(app, ["validate", str(path), "--format", "json"])
    assert result.exit_code == 1
    locations = {f["location"] for f in json.loads(result.stdout)["findings"] if f["severity"] == "error"}
    assert {"kind", "spec.channel", "metadata.name"} <= locations


def test_validate_malformed_yaml_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("kind: [\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "not valid YAML" in result.output


def test_validate_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_validate_url_on_a_host_not_allowed_exits_2() -> None:
    result = runner.invoke(app, ["validate", "https://169.254.169.254/latest/meta-data"])
    assert result.exit_code == 2
    assert "not allow-listed" in result.output


def test_validate_plain_http_url_exits_2() -> None:
    result = runner.invoke(
        app, ["validate", "http://distro.eks.amazonaws.com/kubernetes-1-20/kubernetes-1-20-eks-1.yaml"]
    )
    assert result.exit_code == 2
    assert "only https" in result.output


def test_plan_json() -> None:
    result = runner.invoke(app, ["plan", MANIFEST, "--format", "json", "--prefix", "acme", "--stage", "staging"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert len(plan["images"]) == 17
    assert plan["images"][0]["target_repository"].startswith("acme/staging/eks-distro/")
    assert all(
        a["target_key"].startswith("acme/staging/kubernetes-1-20/releases/1/artifacts/") for a in plan["archives"]
    )


def test_plan_table_and_invalid(tmp_path: Path) -> None:
    assert "17 images" in runner.invoke(app, ["plan", MANIFEST]).output
    path = tmp_path / "bad.yaml"
    path.write_text("kind: Release\n")
    assert runner.invoke(app, ["plan", str(path)]).exit_code == 1


def test_notification_parse_raw_and_envelope(tmp_path: Path) -> None:
    raw = TESTDATA / "sns-announcements" / "1-28-21.release-announcement.txt"
    result = runner.invoke(app, ["notification", "parse", str(raw)])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"channel": "1-28", "number": 21}
    minor = TESTDATA / "sns-announcements" / "1-19-1.release-announcement.txt"
    result = runner.invoke(app, ["notification", "parse", str(minor), "--subject", "New Release of EKS-D v1-19"])
    assert json.loads(result.stdout) == {"channel": "1-19", "number": None}
    envelope = tmp_path / "envelope.json"
    envelope.write_text(
        json.dumps({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:other", "Message": "v1-28-eks-21"})
    )
    result = runner.invoke(app, ["notification", "parse", str(envelope)])
    assert result.exit_code == 1
    assert "refused" in result.output


def test_notification_parse_garbage_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "garbage.txt"
    path.write_text("lorem ipsum")
    result = runner.invoke(app, ["notification", "parse", str(path)])
    assert result.exit_code == 1
    assert "names no EKS-D release" in result.output


def test_demo_refuses_a_manifest_it_cannot_use(tmp_path: Path) -> None:
    # The full demo runs in tests/e2e; here only its input checks, which must fail before anything starts.
    missing = runner.invoke(app, ["demo", "--manifest", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2
    assert "cannot use" in missing.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Release\n")
    invalid = runner.invoke(app, ["demo", "--manifest", str(bad)])
    assert invalid.exit_code == 2
    assert "problem(s)" in invalid.output
