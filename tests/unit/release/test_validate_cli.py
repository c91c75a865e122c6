"""`eksd-adopt validate` and `plan` on hostile input: a clear error and exit 1 or 2, never a traceback or a hang."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from eksd_adopt.cli.main import app
from eksd_adopt.release.validate import MAX_FINDINGS_PER_RULE
from tests.conftest import TESTDATA

runner = CliRunner()
BASE = (TESTDATA / "kubernetes-1-20-eks-1.yaml").read_text()


def _run(*args: str) -> Result:
    result = runner.invoke(app, list(args))
    # CliRunner turns an uncaught exception into exit 1 with result.exception set: that is a crash.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.mark.reliability(
    area="cli",
    fault="validate /dev/zero (st_size 0, endless)",
    expected="exit 2 after reading one byte over the 1 MiB cap",
)
def test_validate_dev_zero_stops_at_the_cap(observed: Callable[[str], None]) -> None:
    result = _run("validate", "/dev/zero")
    assert result.exit_code == 2
    assert "over the 1048576-byte limit" in result.output
    observed(result.output.strip())


@pytest.mark.reliability(
    area="cli",
    fault="manifest text that is rich markup ('[/x]' in a channel, a component name)",
    expected="printed as text; exit 1 for validate, 0 for plan (no MarkupError traceback)",
)
def test_markup_in_a_manifest_is_printed_as_text(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("channel: 1-20", "channel: '[/x]'"))
    result = _run("validate", str(bad))
    assert result.exit_code == 1
    assert "got '[/x]'" in result.output
    named = tmp_path / "named.yaml"
    named.write_text(BASE.replace("name: etcd\n", "name: '[/etcd]'\n"))
    result = _run("plan", str(named))
    assert result.exit_code == 0
    assert "[/etcd]" in result.output


@pytest.mark.reliability(
    area="cli",
    fault="validate https://host:99999/..., https://host:abc/... (urlsplit raises ValueError)",
    expected="exit 2 naming the port, no traceback, no connection",
)
@pytest.mark.parametrize("port", ["99999", "abc"])
def test_validate_a_url_with_an_invalid_port_exits_2(port: str, observed: Callable[[str], None]) -> None:
    result = _run("validate", f"https://distro.eks.amazonaws.com:{port}/kubernetes-1-20/kubernetes-1-20-eks-1.yaml")
    assert result.exit_code == 2
    assert "Port" in result.output
    observed(" ".join(result.output.split()))


def test_validate_json_lists_a_bounded_number_of_findings_with_the_totals(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(BASE + "".join(f"k{i}: 0\n" for i in range(5000)))
    result = _run("validate", str(path), "--format", "json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["errorCount"] == 5000
    assert len([f for f in payload["findings"] if f["rule"] == "unknown-field"]) == MAX_FINDINGS_PER_RULE + 1


def test_validate_text_prints_the_totals(tmp_path: Path) -> None:
    doc = yaml.safe_load(BASE)
    for i in range(40):
        doc["status"][f"k{i}"] = i
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = _run("validate", str(path))
    assert result.exit_code == 1
    assert "invalid, 40 error(s)" in result.output
