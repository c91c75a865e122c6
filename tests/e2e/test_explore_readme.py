"""The README's "Exploring the local services" block, run as a person would: command by command, each
as its own process, shell 1 the demo, shells 2 and 3 with the export lines the demo printed applied.

Each command's outcome is checked as the README's table states it, against the ledger, the SSM
pointer and the commands' own output and exit codes; then Ctrl-C stops the demo and everything it
started, and its working folder (under the TMPDIR it was given) is gone.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]

SECTION = "## Exploring the local services"
ALICE = "arn:aws:sts::123456789012:assumed-role/ReleaseApprovers/alice"
BOB = "arn:aws:sts::123456789012:assumed-role/Developers/bob"
ALICE_ROLE = "arn:aws:iam::123456789012:role/ReleaseApprovers"  # what her session counts as (one vote per role)

# What the README's block must say, shell by shell; the checks below follow this order.
EXPECTED_BLOCK = [
    ("1", "make demo ARGS=--no-approve"),
    ("2", ".venv/bin/eksd-adopt status"),
    ("2", ".venv/bin/eksd-adopt approvals list"),
    ("2", ".venv/bin/eksd-adopt approvals show 1-20-1 --stage prod"),
    ("3", ".venv/bin/eksd-adopt approve 1-20-1 --stage prod"),
    ("2", ".venv/bin/eksd-adopt approve 1-20-1 --stage prod --comment 'looks good'"),
    ("2", ".venv/bin/eksd-adopt approve 1-20-1 --stage prod --comment 'looks good' --accept-findings CVE-2099-0001"),
    ("2", ".venv/bin/eksd-adopt demo publish --number 3 --kubernetes-version v1.20.5"),
    ("2", ".venv/bin/eksd-adopt approvals list"),
    ("2", ".venv/bin/eksd-adopt approve 1-20-3 --stage prod --comment 'Kubernetes patch release'"),
    ("2", ".venv/bin/eksd-adopt demo publish --number 2"),
    ("2", ".venv/bin/eksd-adopt rollback --stage prod --channel 1-20 --to 1"),
    ("2", ".venv/bin/eksd-adopt demo publish --number 4"),
    ("2", ".venv/bin/eksd-adopt reject 1-20-4 --stage prod --reason 'etcd regression'"),
    ("2", ".venv/bin/eksd-adopt status"),
]


def readme_block() -> list[tuple[str, str]]:
    """The section's first ``sh`` block as (shell, command), the shell taken from ``# shell N`` comments."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split(SECTION, 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands, shell = [], ""
    for line in block.splitlines():
        marker = re.match(r"# shell (\d+)", line)
        if marker:
            shell = marker.group(1)
        elif line.strip() and not line.startswith("#"):
            commands.append((shell, line.strip()))
    return commands


@dataclass
class RunningDemo:
    """Shell 1: the demo process, its output as it comes."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the demo never printed {text!r}:\n{self.output}")
            time.sleep(0.2)

    def exports(self, who: str) -> list[str]:
        """The block of shell lines the demo printed for ``who`` (from its ``# as who`` line to the next)."""
        block: list[str] = []
        for line in self.lines:
            if line.startswith("# as "):
                if block:
                    break
                if line.startswith(f"# as {who},"):
                    block.append(line)
            elif block:
                if not line.startswith(("export ", "unset ")):
                    break
                block.append(line)
        assert block, f"no export block for {who}:\n{self.output}"
        return block

    def stop(self) -> int:
        """Ctrl-C, as a terminal sends it: SIGINT to the whole foreground process group."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            # The demo dumps every thread's stack 30 s into a stop that hangs: show where.
            raise AssertionError(
                "the demo did not stop within 90 s of Ctrl-C:\n" + "\n".join(self.lines[-200:])
            ) from None


def shell_env(base: dict[str, str], lines: list[str]) -> dict[str, str]:
    """What pasting ``lines`` into a shell does to its environment."""
    env = dict(base)
    for line in lines:
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "unset":
            for name in words[1:]:
                env.pop(name, None)
        elif words[0] == "export":
            name, _, value = words[1].partition("=")
            env[name] = value
    return env


@dataclass
class Result:
    code: int
    out: str  # stdout and stderr, whitespace collapsed (rich wraps at 80 columns in a pipe)


def run(command: str, env: dict[str, str]) -> Result:
    done = subprocess.run(
        shlex.split(command), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    return Result(done.returncode, " ".join((done.stdout + done.stderr).split()))


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[RunningDemo]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EKSD_ADOPT_"))}
    env["TMPDIR"] = str(tmp_path)
    process = subprocess.Popen(
        shlex.split(EXPECTED_BLOCK[0][1]),
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    running = RunningDemo(process)
    try:
        yield running
    finally:
        running.stop()


def _wait(what: str, condition: Callable[[], object], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


@pytest.mark.reliability(
    area="demo",
    fault="a person follows the README's exploring section command by command",
    expected="each command does what the README's table says; Ctrl-C leaves no process and no folder",
)
def test_the_readme_exploring_section_works_as_written(
    demo: RunningDemo, tmp_path: Path, observed: Callable[[str], None]
) -> None:
    started = time.monotonic()
    assert readme_block() == EXPECTED_BLOCK
    demo.wait_for("Local services are up", timeout=240)
    folder = Path(re.search(r"working folder: (\S+)", demo.output).group(1))  # type: ignore[union-attr]
    assert folder.parent == tmp_path and (folder / "demo.json").is_file()
    assert (folder / "demo.json").stat().st_mode & 0o077 == 0  # it holds keys: owner-only

    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EKSD_ADOPT_"))}
    base["AWS_PROFILE"] = "someone-else"  # pasted blocks unset it: the identity is the exported keys
    shells = {"2": shell_env(base, demo.exports("alice")), "3": shell_env(base, demo.exports("bob"))}
    state = json.loads((folder / "demo.json").read_text())
    assert shells["2"]["EKSD_ADOPT_DEMO_STATE"] == str(folder / "demo.json")
    aws = {
        "endpoint_url": state["aws_endpoint_url"],
        "region_name": "us-east-1",
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    ledger = boto3.resource("dynamodb", **aws).Table(state["ledger_table"])
    ssm = boto3.client("ssm", **aws)

    def status(release_id: str) -> str | None:
        item = ledger.get_item(Key={"release_id": release_id}).get("Item")
        return str(item["status"]) if item else None

    def pointer() -> str | None:
        try:
            value = ssm.get_parameter(Name="/eksd-adopt/prod/1-20")["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            return None
        return str(json.loads(value)["release_id"])

    steps = iter(EXPECTED_BLOCK[1:])

    def next_command(shell: str) -> Result:
        expected_shell, command = next(steps)
        assert expected_shell == shell
        return run(command, shells[shell])

    # status: 1-20-1 awaiting approval
    listed = next_command("2")
    assert listed.code == 0 and "1-20-1" in listed.out and status("1-20-1") == "awaiting_approval"
    # approvals list: the gate, nothing promoted yet
    gate = next_command("2")
    assert gate.code == 0, gate.out
    assert "1-20-1 stage prod" in gate.out and "0/1 approvals" in gate.out and "nothing promoted yet" in gate.out
    # approvals show: the gate's findings, the new HIGH one marked blocking, the command that accepts it
    shown = next_command("2")
    assert shown.code == 0, shown.out
    assert "CVE-2099-0001 !" in shown.out and "--accept-findings CVE-2099-0001" in shown.out, shown.out
    # bob is refused, clearly, with a non-zero exit
    refused = next_command("3")
    assert refused.code == 1, refused.out
    assert f"403: {BOB} is not an approver of stage prod" in refused.out
    assert status("1-20-1") == "awaiting_approval"
    # alice's approval without accepting the new HIGH finding is refused, naming it
    blocked = next_command("2")
    assert blocked.code == 1 and "409: new findings at or above the stage's threshold" in blocked.out, blocked.out
    assert "CVE-2099-0001" in blocked.out and status("1-20-1") == "awaiting_approval"
    # alice approves, accepting it: promoted, and prod points at it
    approved = next_command("2")
    assert (
        approved.code == 0 and f"approved by {ALICE} (counts as {ALICE_ROLE}) (1/1, gate approved)" in approved.out
    ), approved.out
    _wait("1-20-1 promoted", lambda: status("1-20-1") == "promoted" and pointer() == "1-20-1")
    # another release, with a Kubernetes patch: followed to the gate
    published = next_command("2")
    assert published.code == 0, published.out
    assert "upstream published 1-20-3" in published.out and "1-20-3: awaiting_approval" in published.out
    assert status("1-20-3") == "awaiting_approval"
    diff = next_command("2")
    assert "1-20-3 stage prod (Kubernetes v1.20.5)" in diff.out and "against 1-20-1" in diff.out, diff.out
    assert "kubernetes v1.20.4 -> v1.20.5" in diff.out
    # approved: 1-20-3 replaces 1-20-1 in prod
    assert next_command("2").code == 0
    _wait("1-20-3 promoted", lambda: status("1-20-3") == "promoted" and pointer() == "1-20-3")
    # a late, older release: superseded, not started
    late = next_command("2")
    assert late.code == 0 and "1-20-2: superseded" in late.out, late.out
    assert status("1-20-2") == "superseded"
    # roll back to 1-20-1
    rolled = next_command("2")
    assert rolled.code == 0 and "prod 1-20 now points at 1-20-1" in rolled.out, rolled.out
    assert pointer() == "1-20-1"
    # 1-20-4 to the gate, then rejected: prod stays on 1-20-1
    assert "1-20-4: awaiting_approval" in next_command("2").out
    rejected = next_command("2")
    assert rejected.code == 0 and f"1-20-4 prod: rejected by {ALICE}" in rejected.out, rejected.out
    _wait("1-20-4 rejected", lambda: status("1-20-4") == "rejected")
    assert pointer() == "1-20-1"
    final = next_command("2")
    assert final.code == 0 and all(f"1-20-{n}" in final.out for n in (1, 2, 3, 4)), final.out
    assert next(steps, None) is None

    # Shell 1 told the story as it happened.
    _wait("shell 1's account of the rejection", lambda: "1-20-4: rejected" in demo.output, timeout=10)
    for line in ("1-20-1: promoted (prod: blobs mounted", "prod 1-20 now points at 1-20-3", "1-20-2: superseded"):
        assert line in demo.output, demo.output
    # Ctrl-C: every process of the group ends, the working folder goes, and nothing printed a traceback.
    code = demo.stop()
    assert code != 0 or "stopping local services" in demo.output
    _wait("the whole process group to end", lambda: not _group_alive(demo.process.pid), timeout=30)
    assert not folder.exists()
    assert "Traceback" not in demo.output, demo.output
    observed(f"13 commands as the README gives them, {time.monotonic() - started:.0f}s with the demo's start")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
