"""Finding a running demo from another shell, and what `demo publish` / `demo env` refuse."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eksd_adopt.cli.main import app
from eksd_adopt.local.explore import STATE_ENV, DemoError, DemoState, find_state
from tests.unit.local.test_demo_summary import _state

runner = CliRunner()


def _running(tmp_path: Path, name: str, pid: int | None = None) -> DemoState:
    workdir = tmp_path / f"eksd-adopt-demo-{name}"
    workdir.mkdir()
    state = _state(workdir).model_copy(update={"pid": pid or os.getpid()})
    state.write()
    return state


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def tmpdir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv(STATE_ENV, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    return tmp_path


def test_the_state_file_is_owner_only_and_reads_back(tmp_path: Path) -> None:
    state = _running(tmp_path, "a")
    assert state.path.stat().st_mode & 0o777 == 0o600
    assert DemoState.load(state.path) == state


def test_the_one_running_demo_under_tmpdir_is_found(tmpdir_env: Path) -> None:
    with pytest.raises(DemoError, match="no running demo found under"):
        find_state()
    _running(tmpdir_env, "gone", pid=_dead_pid())  # a killed demo leaves its folder: ignored
    live = _running(tmpdir_env, "live")
    assert find_state() == live
    _running(tmpdir_env, "other")
    with pytest.raises(DemoError, match="2 demos are running"):
        find_state()
    assert find_state(environ={STATE_ENV: str(live.path)}) == live


def test_a_state_file_of_a_stopped_demo_or_of_something_else_is_refused(tmp_path: Path) -> None:
    stopped = _running(tmp_path, "stopped", pid=_dead_pid())
    with pytest.raises(DemoError, match=r"\(pid \d+\) is no longer running"):
        DemoState.load(stopped.path)
    junk = tmp_path / "junk.json"
    junk.write_text('{"pid": "not a number"}')
    with pytest.raises(DemoError, match="is not a demo state file"):
        DemoState.load(junk)


def test_publish_refuses_what_does_not_fit_the_running_demo(tmpdir_env: Path) -> None:
    nothing = runner.invoke(app, ["demo", "publish", "--number", "2"])
    assert nothing.exit_code == 2 and "no running demo found" in nothing.output
    _running(tmpdir_env, "live")
    channel = runner.invoke(app, ["demo", "publish", "--number", "2", "--channel", "1-30"])
    assert channel.exit_code == 2 and "tracks channel 1-20 only" in channel.output
    version = runner.invoke(app, ["demo", "publish", "--number", "2", "--kubernetes-version", "1.20.5"])
    assert version.exit_code == 2 and "--kubernetes-version '1.20.5' is not like v1.20.5" in version.output
    number = runner.invoke(app, ["demo", "publish", "--number", "0"])
    assert number.exit_code == 2 and "--number" in number.output


def test_env_prints_an_identitys_export_lines(tmpdir_env: Path) -> None:
    state = _running(tmpdir_env, "live")
    printed = runner.invoke(app, ["demo", "env", "alice"])
    assert printed.exit_code == 0, printed.output
    assert f"export {STATE_ENV}={state.path}" in printed.output.splitlines()
    unknown = runner.invoke(app, ["demo", "env", "mallory"])
    assert unknown.exit_code == 2 and "no identity 'mallory'" in unknown.output
