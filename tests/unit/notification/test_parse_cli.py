"""`eksd-adopt notification parse` on hostile files: a clear error and exit 1 or 2, never a traceback or a hang."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eksd_adopt.cli.main import app

runner = CliRunner()


@pytest.mark.reliability(
    area="cli",
    fault="notification parse /dev/zero (read whole before, without bound)",
    expected="exit 2 after reading one byte over the cap",
)
def test_parse_dev_zero_stops_at_the_cap(observed: Callable[[str], None]) -> None:
    result = runner.invoke(app, ["notification", "parse", "/dev/zero"])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2
    assert "byte limit" in result.output
    observed(" ".join(result.output.split()))


@pytest.mark.parametrize(
    ("text", "code", "error"),
    [
        ("[/x] v1-28", 1, "names no EKS-D release"),  # rich markup in the quoted text
        ("{" * 1000 + "}" * 1000, 1, "nests deeper"),
        ('{"Message": ' + "9" * 5000 + "}", 1, "integer of 5000 digits"),
        ("Amazon EKS Distro v1-28-eks-" + "9" * 5000, 1, "out of range"),
    ],
)
def test_hostile_files_exit_with_a_clear_error(tmp_path: Path, text: str, code: int, error: str) -> None:
    path = tmp_path / "message.txt"
    path.write_text(text)
    result = runner.invoke(app, ["notification", "parse", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code
    assert error in " ".join(result.output.split())


def test_bytes_that_are_not_utf8_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "message.txt"
    path.write_bytes(b"Amazon EKS Distro \xff\xfe v1-28-eks-21")
    result = runner.invoke(app, ["notification", "parse", str(path)])
    assert result.exit_code == 2
    assert "not UTF-8" in result.output
