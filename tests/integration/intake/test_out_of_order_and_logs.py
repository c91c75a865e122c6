"""Out-of-order announcements through the real intake path, and the intake's log lines naming their release."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from eksd_adopt.cli.main import app
from eksd_adopt.observability import SERVICE_NAME
from tests.integration.intake.conftest import IntakeWorld
from tests.integration.intake.test_intake_handler import invoke
from tests.logcapture import service_logs


@pytest.mark.reliability(
    area="intake",
    fault="release N+1 announced (and started) before release N's announcement arrives",
    expected="N is recorded superseded and not started; only an operator's --force starts it",
)
def test_older_release_announced_after_a_newer_one_is_superseded_until_forced(
    world: IntakeWorld, observed: Callable[[str], None]
) -> None:
    world.publish_release("1-30", 57)
    world.publish_release("1-30", 58)
    world.announce("Amazon EKS Distro v1-30-eks-58 is now available.")
    assert invoke(world, world.receive()) == {"batchItemFailures": []}
    world.announce("Amazon EKS Distro v1-30-eks-57 is now available.")
    # The late message is acknowledged (not retried, not dead-lettered): it is not an error.
    assert invoke(world, world.receive()) == {"batchItemFailures": []}

    assert list(world.executions()) == ["adopt-1-30-58"]
    record = world.record("1-30-57")
    assert record is not None and record["status"] == "superseded"
    assert "1-30-58" in record["problems"][0]

    refused = CliRunner().invoke(app, ["adopt", "--channel", "1-30", "--number", "57"])
    assert "already in the ledger (superseded); nothing started" in refused.output
    assert list(world.executions()) == ["adopt-1-30-58"]  # asking again without --force starts nothing
    forced = CliRunner().invoke(app, ["adopt", "--channel", "1-30", "--number", "57", "--force"])
    assert forced.exit_code == 0, forced.output
    names = sorted(world.executions())
    assert names[0] == "adopt-1-30-57-r" + names[0].rsplit("-r", 1)[1] and names[1] == "adopt-1-30-58"
    observed(f"57 superseded ({record['problems'][0]!r}); without --force: nothing started; with --force: {names[0]}")


@pytest.mark.reliability(
    area="logs",
    fault="intake of an announcement, a duplicate and a not-yet-published release, every log line captured",
    expected="every intake log line names its release id",
)
def test_every_intake_log_line_names_its_release(world: IntakeWorld, observed: Callable[[str], None]) -> None:
    world.publish_release("1-31", 9)
    with service_logs(SERVICE_NAME) as logs:
        for _ in range(2):
            world.announce("Amazon EKS Distro v1-31-eks-9 is now available.")
        invoke(world, world.receive(expected=2))
        world.announce("Amazon EKS Distro v1-31-eks-10 is now available.")  # not on the CDN yet
        invoke(world, world.receive())
    lines = logs.lines()
    assert {line["message"] for line in lines} >= {"announcement handled", "manifest not published yet; retrying later"}
    assert sorted({line["release_id"] for line in lines}) == ["1-31-10", "1-31-9"]
    assert all(line.get("release_id") for line in lines), lines
    observed(f"{len(lines)} lines, each with release_id")
