"""`make bench` / `python -m bench [NAME ...]`: run every benchmark module (or the named ones).

Each module in this package exposes ``run() -> None``, prints its own table, and compares against
its peer in the same run (as a ratio).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def main(names: list[str]) -> None:
    available = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))
    for name in names or available:
        if name not in available:
            raise SystemExit(f"unknown benchmark {name!r}; available: {', '.join(available)}")
        print(f"\n=== bench.{name} ===", flush=True)
        importlib.import_module(f"bench.{name}").run()


if __name__ == "__main__":
    main(sys.argv[1:])
