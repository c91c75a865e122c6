"""Ctrl-C or SIGTERM while the demo watches its services ends the watch between two looks, never inside one."""

from __future__ import annotations

import faulthandler
import os
import signal
from collections.abc import Iterator

import pytest

from eksd_adopt.cli.demo import _watch


class SignalledMidLook:
    """A look at the services that takes a signal halfway through (as a boto3 call would)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.looks = 0

    def changes(self) -> list[str]:
        self.looks += 1
        os.kill(os.getpid(), self.signum)
        return [f"look {self.looks} finished"]


@pytest.fixture(autouse=True)
def no_stack_dump() -> Iterator[None]:
    yield
    faulthandler.cancel_dump_traceback_later()  # the watch arms it for a hanging stop


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_lets_the_current_look_finish_then_ends_the_watch(
    signum: int, capsys: pytest.CaptureFixture[str]
) -> None:
    before = signal.getsignal(signum)
    watch = SignalledMidLook(signum)

    _watch(watch)

    out = capsys.readouterr().out
    assert watch.looks == 1
    assert "look 1 finished" in out and out.index("look 1 finished") < out.index("stopping local services")
    assert signal.getsignal(signum) is before  # the handler the command had is back for the clean-up
