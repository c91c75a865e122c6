"""The release-history replay's short form (issue 18): three channels of EKS-D's real history, default faults.

Seed 1 is the short form; seeds 1 and 3 are also the seeds that found defects (see each case).
The full replay is ``make bench BENCH=history``; its figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import history
from bench.history import Faults, replay

SHORT_FORM = ("1-21", "1-22", "1-23")  # 89 releases: 6 never announced, 4 without docs, free-text first releases


@pytest.mark.parametrize(
    "seed",
    [
        # The short form. Found: a release the reconciler claimed but could not start (StartExecution
        # throttled, or its answer lost) was started by a later run as a stuck claim and never counted
        # in MissedNotifications (only "waiting" releases were).
        1,
        # Found: a reconciler run failing half-way (a DynamoDB error) lost the MissedNotifications of
        # the releases it had already started: the handler recorded the metrics only after a full run.
        3,
    ],
)
def test_every_release_is_adopted_once_or_accounted_for(seed: int) -> None:
    # Given three channels of the real history and the default faults
    result = replay(seed=seed, channels=SHORT_FORM, faults=Faults())
    # Then every release is adopted exactly once (or superseded/invalid), none lost, none twice
    assert len(result.outcomes) == 89
    bad = [
        (o.release.release_id, o.verdict, o.note)
        for o in result.outcomes
        if o.verdict not in ("adopted", "superseded", "invalid")
    ]
    assert bad == []
    assert result.count("missed") == result.count("twice") == result.count("unaccounted") == 0
    # And the faults really happened
    for fault in ("messages dropped", "messages duplicated", "races run", "deliveries failed", "reconciler runs"):
        assert result.counters[fault] > 0, fault
    # And the metric counts exactly the releases only the reconciler found (and each once)
    assert result.missed_metric == result.expected_missed == result.missed_events
    assert [o.release.release_id for o in result.outcomes if o.counted_missed != o.found_by_reconciler_only] == []
    assert re.fullmatch(
        r"history: 89 releases, 0 missed, 0 adopted twice, 0 unaccounted, detection p99 \d+ min", result.summary_line()
    )


def test_the_replay_runs_on_the_production_timing() -> None:
    from infra.constructs import intake

    assert history.VISIBILITY_TIMEOUT.total_seconds() == intake.VISIBILITY_TIMEOUT.to_seconds()
    assert history.NOT_FOUND_RETRY.total_seconds() == intake.NOT_FOUND_RETRY.to_seconds()
    assert history.MAX_RECEIVE_COUNT == intake.MAX_RECEIVE_COUNT


def test_the_history_file_is_read_strictly(tmp_path: Path) -> None:
    releases = history.load_history()
    assert len(releases) == 653
    assert sum(not r.announced for r in releases) == 52
    assert sum(not r.documented for r in releases) == 11
    bad = tmp_path / "history.yaml"
    bad.write_text('latest_production_release: {"1-18": 17}\nannounced_never: {"1-18": [18]}\nno_docs: {}\n')
    with pytest.raises(ValueError, match=re.escape("announced_never.1-18 names a release past the channel's latest")):
        history.load_history(bad)
