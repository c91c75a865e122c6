"""`make bench` / `python -m bench [NAME [FLAGS...] ...]`: run every benchmark module (or the named ones).

Each module in this package exposes ``run()``, prints its own table, and compares against its peer in
the same run (as a ratio). Flags after a name go to that benchmark, whose ``run(argv)`` then takes
them: ``python -m bench history --seed 3 --drop 0.2`` (``make bench BENCH="history --seed 3"``, or
``make bench BENCH=history BENCH_ARGS="--seed 3"``). ``python -m bench history --help`` lists them.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys

import bench


def plan(argv: list[str], available: list[str]) -> list[tuple[str, list[str]]]:
    """Benchmark names with the flags that follow each; no names means every benchmark, without flags."""
    if not argv:
        return [(name, []) for name in available]
    if argv[0] not in available:
        raise SystemExit(f"unknown benchmark {argv[0]!r}; available: {', '.join(available)}")
    groups: list[tuple[str, list[str]]] = []
    for token in argv:
        if token in available:
            groups.append((token, []))
        else:
            groups[-1][1].append(token)
    return groups


def main(argv: list[str]) -> None:
    available = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))
    for name, flags in plan(argv, available):
        run = importlib.import_module(f"bench.{name}").run
        if flags and not inspect.signature(run).parameters:
            raise SystemExit(f"benchmark {name!r} takes no flags (got {' '.join(flags)})")
        print(f"\n=== bench.{name} ===", flush=True)
        run(flags) if flags else run()


if __name__ == "__main__":
    main(sys.argv[1:])
