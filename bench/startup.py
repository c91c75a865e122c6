"""CLI start-up: everyday ``eksd-adopt`` commands as whole processes, beside the bare-import floors and skopeo.

A person types ``eksd-adopt`` many times a day, and a warm re-run of a mirror is mostly start-up.
Each command runs as a fresh process (interpreter start, imports, work, output to a pipe); every
row is the best of ``--rounds`` (7), the rounds interleaved so that load from other work on the
machine falls on every row alike. The floors are bare interpreters importing what the CLI cannot
do without (``python -c "import pydantic"`` is the yardstick of the goals). The warm re-run of
``mirror images`` uses the release-shaped set of ``bench/images.py`` (17 images of
``kubernetes-1-20-eks-1``, 2 platforms, about 1.5 GiB) published into a local source registry and
copied once, so that the timed runs find everything present; its peer is ``skopeo sync`` re-run
over the same set into its own registry. Goals: ``--help`` and ``notification parse`` at most
1.5x ``import pydantic``; the warm re-run at most 0.35 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS = REPO_ROOT / "docs" / "benchmarks.md"
MANIFEST = "testdata/eksd/kubernetes-1-20-eks-1.yaml"
ANNOUNCEMENT = "testdata/eksd/sns-announcements/1-28-21.release-announcement.txt"
YARDSTICK = "python -c 'import pydantic'"
# The floor under a whole-process mirror: the libraries `mirror images` cannot run without, imported.
MIRROR_LIBRARIES = "python -c: the libraries mirror images loads"
_MIRROR_IMPORTS = (
    "import typer, typer.main, urllib3, yaml, tenacity, aws_lambda_powertools, rich.progress;"
    " from pydantic import BaseModel"
)
HELP_GOAL = 1.5  # x the yardstick
WARM_GOAL = 0.35  # seconds, whole process


@dataclass
class Row:
    """One command line, measured: the best wall and CPU (user + system) seconds over the rounds."""

    name: str
    argv: list[str]
    check: Callable[[subprocess.CompletedProcess[bytes]], None] | None = None
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    def measure(self) -> None:
        cpu_before = _children_cpu()
        started = time.perf_counter()
        process = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT, env=_CHILD_ENV
        )
        out, err = process.communicate()
        self.walls.append(time.perf_counter() - started)
        # The child's own CPU time: RUSAGE_CHILDREN has it once communicate() has reaped it.
        self.cpus.append(_children_cpu() - cpu_before)
        if process.returncode != 0:
            raise RuntimeError(f"{self.name} exited {process.returncode}: {err.decode(errors='replace')[-2000:]}")
        if self.check:
            self.check(subprocess.CompletedProcess(self.argv, process.returncode, out, err))

    @property
    def wall(self) -> float:
        return min(self.walls)

    @property
    def cpu(self) -> float:
        return min(self.cpus)


# The children cache bytecode as an installed package does: with PYTHONDONTWRITEBYTECODE set (some
# CI and sandbox shells set it), an editable install would compile every module it imports on every
# run, which is not what a person's eksd-adopt does. The warm-up round writes the caches.
_CHILD_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # microseconds, where os.times() counts clock ticks
    return usage.ru_utime + usage.ru_stime


def _cli() -> str:
    beside = Path(sys.executable).with_name("eksd-adopt")
    found = str(beside) if beside.exists() else shutil.which("eksd-adopt")
    if not found:
        raise SystemExit("eksd-adopt is not installed beside this python (make install)")
    return found


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def _expect_json(expected: dict[str, object]) -> Callable[[subprocess.CompletedProcess[bytes]], None]:
    def check(done: subprocess.CompletedProcess[bytes]) -> None:
        got = json.loads(done.stdout)
        if got != expected:
            raise RuntimeError(f"{done.args}: printed {got}, expected {expected}")

    return check


def _all_present(done: subprocess.CompletedProcess[bytes]) -> None:
    images = json.loads(done.stdout)["images"]
    if len(images) != 17 or not all(i["result"] and i["result"]["skipped"] for i in images):
        raise RuntimeError("the warm re-run copied something: the set was not all present")


def _command_rows(cli: str) -> list[Row]:
    python = sys.executable
    return [
        Row('python -c "pass"', [python, "-c", "pass"]),
        Row(YARDSTICK, [python, "-c", "import pydantic"]),
        Row("python -c 'import pydantic, urllib3'", [python, "-c", "import pydantic, urllib3"]),
        Row(MIRROR_LIBRARIES, [python, "-c", _MIRROR_IMPORTS]),
        Row("eksd-adopt --help", [cli, "--help"]),
        Row(f"eksd-adopt validate {Path(MANIFEST).name}", [cli, "validate", MANIFEST]),
        Row(
            f"eksd-adopt notification parse {Path(ANNOUNCEMENT).name}",
            [cli, "notification", "parse", ANNOUNCEMENT],
            _expect_json({"channel": "1-28", "number": 21}),
        ),
    ]


def _interleave(rows: Sequence[Row], rounds: int) -> None:
    for row in rows:  # warm-up, not counted: bytecode caches written, files in the page cache
        row.measure()
        row.walls.clear()
        row.cpus.clear()
    for _ in range(rounds):
        for row in rows:
            row.measure()


def _skopeo_sync_yaml(path: Path, source_host: str, jobs: list[dict[str, object]]) -> None:
    lines = [f"{source_host}:", "  tls-verify: false", "  images:"]
    for job in jobs:
        repository = str(job["source"]).split("/", 1)[1].rsplit(":", 1)[0]
        lines.append(f"    {repository}: [{json.dumps(job['tag'])}]")
    path.write_text("\n".join(lines) + "\n")


@contextmanager
def _mirror_rows(cli: str, base: Path) -> Iterator[list[Row]]:
    """Publish the set, copy it once with each tool; yield the warm re-runs while the registries are up."""
    from bench.images import _image_names, _jobs, _layer_plan, _publish
    from eksd_adopt.local.registry import LocalRegistry

    with (
        LocalRegistry(base / "source") as source,
        LocalRegistry(base / "ours") as ours,
        LocalRegistry(base / "skopeo") as theirs,
    ):
        started = time.perf_counter()
        jobs = _jobs(_publish(source.url, _layer_plan(_image_names())))
        print(f"set: {len(jobs)} images x 2 platforms published in {time.perf_counter() - started:.0f} s", flush=True)
        sync_file = base / "sync.yaml"
        _skopeo_sync_yaml(sync_file, source.host, jobs)
        mirror = Row(
            "eksd-adopt mirror images (warm re-run)",
            [
                cli,
                "mirror",
                "images",
                MANIFEST,
                "--registry",
                ours.url,
                "--endpoint",
                f"public.ecr.aws={source.url}",
                "--format",
                "json",
            ],
            _all_present,
        )
        sync = Row(
            "skopeo sync (warm re-run)",
            [
                "skopeo",
                "sync",
                "--all",
                "--preserve-digests",
                "--src",
                "yaml",
                "--dest",
                "docker",
                "--dest-tls-verify=false",
                str(sync_file),
                f"{theirs.host}/eksd/staging",
            ],
        )
        cold, cold_sync = Row("cold copy", mirror.argv), Row("cold sync", sync.argv)
        cold.measure()
        cold_sync.measure()
        print(f"copied once: eksd-adopt {cold.wall:.1f} s, skopeo sync {cold_sync.wall:.1f} s", flush=True)
        yield [mirror, sync]


def _table(rows: Sequence[Row], yardstick: Row, rounds: int) -> list[str]:
    lines = [
        f"| command (best of {rounds}) | wall s | CPU s | x {YARDSTICK} | goal |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        goal = ""
        if row.name in ("eksd-adopt --help",) or row.name.startswith("eksd-adopt notification parse"):
            met = row.wall <= HELP_GOAL * yardstick.wall
            goal = f"<= {HELP_GOAL}x: {'met' if met else 'NOT met'}"
        elif row.name.startswith("eksd-adopt mirror images"):
            goal = f"<= {WARM_GOAL} s: {'met' if row.wall <= WARM_GOAL else 'NOT met'}"
            peer = next((r for r in rows if r.name.startswith("skopeo sync")), None)
            if peer is not None:
                goal += f"; {row.wall / peer.wall:.2f}x skopeo sync's time"
        lines.append(f"| `{row.name}` | {row.wall:.3f} | {row.cpu:.3f} | {row.wall / yardstick.wall:.2f}x | {goal} |")
    return lines


def write_docs(table: list[str], context: str, path: Path = DOCS) -> None:
    """Put the figures into the "CLI start-up" section of docs/benchmarks.md (the notes after it stay)."""
    section = f"""## CLI start-up

`make bench BENCH=startup` (`bench/startup.py`; flags in `python -m bench startup --help`): each command
a fresh process, output to a pipe, best of the interleaved rounds, beside the bare-import floors
measured in the same run. The warm re-run finds the release-shaped set of `bench/images.py`
(17 images x 2 platforms, about 1.5 GiB) already present in its registry; its peer is `skopeo sync`
re-run over the same set into its own registry. CPU s: user + system time of the process.
{context}

{chr(10).join(table)}
"""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\nFigures from `make bench`.\n"
    pattern = re.compile(r"## CLI start-up\n.*?(?=\n## |\Z)", re.DOTALL)
    text = (
        pattern.sub(lambda _: section.rstrip("\n") + "\n", text)
        if pattern.search(text)
        else text.rstrip("\n") + "\n\n" + section
    )
    path.write_text(text, encoding="utf-8")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench startup", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="runs of each command; the best counts (default 7)")
    parser.add_argument(
        "--no-mirror", action="store_true", help="leave out the warm re-run (it publishes and copies 1.5 GiB first)"
    )
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    return parser


def run(argv: Sequence[str] = ()) -> None:
    args = _parser().parse_args(list(argv))
    cli = _cli()
    rows = _command_rows(cli)
    with ExitStack() as stack:
        if not args.no_mirror:
            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-startup-")))
            rows += stack.enter_context(_mirror_rows(cli, base))
        load_before = _load()
        _interleave(rows, args.rounds)
        load_after = _load()
    context = (
        f"Load average (1, 5, 15 min) {load_before} before the rounds, {load_after} after, on {os.cpu_count()} CPUs."
    )
    yardstick = next(r for r in rows if r.name == YARDSTICK)
    table = _table(rows, yardstick, args.rounds)
    print()
    print(context)
    print("\n".join(table), flush=True)
    if not args.no_docs:
        write_docs(table, context)
        print(f"figures written to {DOCS.relative_to(REPO_ROOT)}")
