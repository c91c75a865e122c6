"""Validation cost per manifest against a bare YAML load of the same bytes (issue: at most 2x).

The peer is the fastest bare load PyYAML offers (libyaml's CSafeLoader), so the ratio is honest.
"""

from __future__ import annotations

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


def _round_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(LOOPS):
        fn()
    return (time.perf_counter() - start) / LOOPS * 1000


def _interleaved_ms(a: Callable[[], object], b: Callable[[], object]) -> tuple[float, float]:
    """Best round of each, rounds interleaved so that machine noise hits both sides alike."""
    samples_a, samples_b = [], []
    for _ in range(ROUNDS):
        samples_a.append(_round_ms(a))
        samples_b.append(_round_ms(b))
    return min(samples_a), min(samples_b)


def run() -> None:
    table = Table(title=f"Manifest validation vs bare yaml load (best of {ROUNDS} interleaved rounds x {LOOPS})")
    for column in ("manifest", "bytes", "bare CSafeLoader load ms", "eksd-adopt validate ms", "ratio", "goal <= 2.0"):
        table.add_column(column, justify="right")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in sorted(TESTDATA.glob("kubernetes-*.yaml")):
        data = path.read_bytes()
        assert validate_manifest(data).ok()
        bare, full = _interleaved_ms(
            lambda d=data: yaml.load(d, Loader=loader),
            lambda d=data: validate_manifest(d),
        )
        ratio = full / bare
        table.add_row(
            path.name, str(len(data)), f"{bare:.2f}", f"{full:.2f}", f"{ratio:.2f}x", "yes" if ratio <= 2 else "NO"
        )
    Console(width=150).print(table)
