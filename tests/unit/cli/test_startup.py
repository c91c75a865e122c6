"""The CLI starts light: commands load lazily from a table, and what each quick path imports is checked.

Start-up time is measured in `make bench BENCH=startup`; these tests are structural, so that a change
which makes start-up heavy again (a module-level import of rich, pydantic or urllib3 on the way to
`--help`) fails here rather than only showing in a benchmark.
"""

from __future__ import annotations

import gc
import inspect
import json
import subprocess
import sys
from typing import Any

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from eksd_adopt.cli.lazy import LazyCommand, LazyGroup, first_paragraph
from eksd_adopt.cli.main import COMMANDS, app
from eksd_adopt.cli.mirror import mirror_app
from tests.conftest import REPO_ROOT, TESTDATA

runner = CliRunner()
# What a quick path must not load: the rendering library, the model library, the HTTP stacks and AWS.
HEAVY = ("rich", "pydantic", "pydantic_core", "urllib3", "httpx", "boto3", "botocore", "yaml", "aws_lambda_powertools")
ANNOUNCEMENT = TESTDATA / "sns-announcements" / "1-28-21.release-announcement.txt"

# Run the CLI in a fresh interpreter and report which top-level packages it had loaded when it ended.
_PROBE = """
import gc, json, sys
from eksd_adopt.cli.main import main
sys.argv = ["eksd-adopt", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
loaded = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"code": code, "loaded": loaded, "frozen": gc.get_freeze_count()}), file=sys.stderr)
"""


def _probe(*argv: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    report: dict[str, Any] = json.loads(done.stderr.strip().splitlines()[-1])
    report["stdout"] = done.stdout
    return report


def _loaded_by(*argv: str) -> tuple[object, set[str], str]:
    report = _probe(*argv)
    return report["code"], set(report["loaded"]), report["stdout"]


def _groups() -> list[tuple[str, type[LazyGroup]]]:
    return [("eksd-adopt", typer.main.get_command(app).__class__), ("mirror", mirror_app.info.cls)]  # type: ignore[list-item]


def test_help_lists_every_command_in_the_table_order() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:", 1)[1]
    names = [line.split()[0] for line in listed.splitlines() if line.startswith("  ") and not line.startswith("   ")]
    assert names == list(COMMANDS)
    assert set(COMMANDS) == {
        "validate",
        "plan",
        "adopt",
        "status",
        "approve",
        "reject",
        "rollback",
        "subscribe",
        "subscriptions",
        "unsubscribe",
        "verify",
        "demo",
        "notification",
        "mirror",
        "approvals",
    }
    mirror = runner.invoke(app, ["mirror", "--help"])
    assert mirror.exit_code == 0, mirror.output
    assert "images" in mirror.output and "archives" in mirror.output


@pytest.mark.parametrize("group_name, group", _groups())
def test_each_table_entry_is_its_commands_own_short_help(group_name: str, group: type[LazyGroup]) -> None:
    # `--help` prints the table's text without importing the command: it must be the command's own.
    assert issubclass(group, LazyGroup)
    for name, entry in group.table.items():
        assert isinstance(entry, LazyCommand)
        target = entry.target()
        own = target.info.help if isinstance(target, typer.Typer) else inspect.getdoc(target)
        assert isinstance(own, str), f"{group_name} {name}: no help"
        assert entry.help == first_paragraph(own), f"{group_name} {name}: the table's help differs from the command's"


def test_every_command_loads_and_shows_its_help() -> None:
    for name in COMMANDS:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, f"{name}: {result.output}"
        assert "Usage:" in result.output


def test_importing_the_entry_point_loads_nothing_heavy() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys; import eksd_adopt.cli.main; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=True,
    )
    loaded = set(json.loads(done.stdout))
    assert "typer" in loaded  # the probe did import the CLI
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_help_loads_nothing_heavy() -> None:
    code, loaded, out = _loaded_by("--help")
    assert code == 0
    assert "notification" in out  # the help was printed
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_notification_parse_loads_nothing_heavy() -> None:
    # The quick path people script: typer, the parser and json. Typer 0.28 and later validate every
    # parameter with pydantic, which is why requirements hold typer below it (docs/benchmarks.md).
    code, loaded, out = _loaded_by("notification", "parse", str(ANNOUNCEMENT))
    assert code == 0
    assert json.loads(out) == {"channel": "1-28", "number": 21}
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_mirror_images_loads_no_aws_sdk_and_no_httpx() -> None:
    # `mirror images` runs on urllib3 and reads a local manifest: boto3 and httpx only for ECR or a URL.
    code, loaded, _ = _loaded_by("mirror", "images", "--help")
    assert code == 0
    assert loaded.isdisjoint({"boto3", "httpx"}), sorted(loaded & {"boto3", "httpx"})


def test_the_cli_process_freezes_what_a_command_import_made_and_tests_do_not() -> None:
    # The entry point keeps the garbage collector out of a command module's import (cli/lazy.py);
    # an app invoked in-process, as here, must not freeze its host's objects.
    assert _probe("notification", "parse", str(ANNOUNCEMENT))["frozen"] > 1000
    assert _probe("--help")["frozen"] == 0  # nothing imported, nothing frozen
    before = gc.get_freeze_count()
    result = runner.invoke(app, ["notification", "parse", str(ANNOUNCEMENT)])
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() == before
