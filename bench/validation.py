"""Validation cost per manifest against a bare YAML load of the same bytes (issue: at most 2x).

The peer is the fastest bare load PyYAML offers (libyaml's CSafeLoader), so the ratio is honest.
A second table runs the hostile case whole, as processes: ``eksd-adopt validate --format json`` on
a manifest padded to the 1 MiB cap with unknown keys (66 s and 2 GB RSS before findings were capped),
against a process that only loads the same bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
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
HOSTILE_ROUNDS = 3
_BARE_LOAD = "import sys, yaml; yaml.load(open(sys.argv[1], 'rb').read(), Loader=yaml.CSafeLoader)"


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
    _hostile()


def _process(args: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child process (its own rusage, from wait4)."""
    start = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = 0  # reaped by wait4 above; Popen must not wait for it again
    return seconds, usage.ru_maxrss * 1024


def _hostile() -> None:
    header = (TESTDATA / "kubernetes-1-20-eks-1.yaml").read_text()
    lines, size, index = [header], len(header), 0
    while size < 1024 * 1024 - 32:
        line = f"k{index}: 0\n"
        lines.append(line)
        size, index = size + len(line), index + 1
    table = Table(title=f"Hostile manifest: {index} unknown keys in 1 MiB, whole processes (best of {HOSTILE_ROUNDS})")
    for column in ("process", "seconds", "ratio to bare load", "peak RSS MiB"):
        table.add_column(column, justify="right")
    cli = str(Path(sys.executable).with_name("eksd-adopt"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hostile.yaml"
        path.write_text("".join(lines))
        runs: dict[str, list[tuple[float, int]]] = {"bare load": [], "validate --format json": []}
        for _ in range(HOSTILE_ROUNDS):  # interleaved, so machine noise hits both alike
            runs["bare load"].append(_process([sys.executable, "-c", _BARE_LOAD, str(path)]))
            runs["validate --format json"].append(_process([cli, "validate", str(path), "--format", "json"]))
    bare = min(seconds for seconds, _ in runs["bare load"])
    for name, samples in runs.items():
        seconds = min(s for s, _ in samples)
        peak = max(rss for _, rss in samples)
        table.add_row(name, f"{seconds:.2f}", f"{seconds / bare:.2f}x", f"{peak / 2**20:.0f}")
    Console(width=150).print(table)
