"""Validation cost per manifest against a bare YAML load of the same bytes (issue: at most 2x).

The peer is the fastest bare load PyYAML offers (libyaml's CSafeLoader), so the ratio is honest.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from eksd_adopt.release import validate_manifest

TESTDATA = Path(__file__).resolve().parent.parent / "testdata" / "eksd"
ROUNDS = 7
LOOPS = 40


def _median_ms(fn: Callable[[], object]) -> float:
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(LOOPS):
            fn()
        samples.append((time.perf_counter() - start) / LOOPS * 1000)
    return statistics.median(samples)


def run() -> None:
    table = Table(title=f"Manifest validation vs bare yaml load (median of {ROUNDS}x{LOOPS})")
    for column in ("manifest", "bytes", "bare CSafeLoader load ms", "eksd-adopt validate ms", "ratio", "goal <= 2.0"):
        table.add_column(column, justify="right")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in sorted(TESTDATA.glob("kubernetes-*.yaml")):
        data = path.read_bytes()
        assert validate_manifest(data).ok()
        bare = _median_ms(lambda d=data: yaml.load(d, Loader=loader))
        full = _median_ms(lambda d=data: validate_manifest(d))
        ratio = full / bare
        table.add_row(
            path.name, str(len(data)), f"{bare:.2f}", f"{full:.2f}", f"{ratio:.2f}x", "yes" if ratio <= 2 else "NO"
        )
    Console(width=150).print(table)
