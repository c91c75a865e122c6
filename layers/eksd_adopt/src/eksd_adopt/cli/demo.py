"""``demo``: a whole adoption of an EKS-D-shaped release on this machine, shown live."""

from __future__ import annotations

import shlex
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from eksd_adopt.cli.common import EXIT_INVALID, EXIT_USAGE, console, fail
from eksd_adopt.errors import EksdAdoptError

# The demo runs from a checkout (`make demo`): the real manifests live in the repository's testdata.
DEFAULT_MANIFEST = Path(__file__).resolve().parents[5] / "testdata" / "eksd" / "kubernetes-1-20-eks-1.yaml"

PHASES = {
    "publish": "upstream publishes the release",
    "notify": "notification → SNS → intake",
    "mirror": "validate, plan, mirror to private registry + bucket",
    "verify": "verify, smoke tests, approval gate",
    "approve": "approve with `eksd-adopt approve`",
    "promote": "promote to prod",
}


def demo(
    manifest: Path = typer.Option(
        DEFAULT_MANIFEST, "--manifest", help="A real release manifest to shape the release on."
    ),
    keep_running: bool = typer.Option(False, "--keep-running", help="Leave the local services up to explore."),
    no_approve: bool = typer.Option(False, "--no-approve", help="Stop at the approval gate (approve it yourself)."),
    archive_size: int = typer.Option(4096, "--archive-size", min=1, help="Bytes of each synthetic archive."),
) -> None:
    """Adopt an EKS-D-shaped release end to end on local services (embedded AWS, registries, CDN)."""
    from eksd_adopt.local.demo import DemoError, local_stack, run_adoption
    from eksd_adopt.release.validate import validate_manifest

    try:
        template = manifest.read_text()
        channel = validate_manifest(template, source=manifest.name).require_valid().channel
    except (OSError, EksdAdoptError) as exc:
        fail(f"cannot use {manifest}: {exc}", EXIT_USAGE)
    # Ctrl-C and SIGTERM both unwind through the context managers, which stop every process started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    console.rule(f"eksd-adopt demo: {manifest.name} on local services")
    with tempfile.TemporaryDirectory(prefix="eksd-adopt-demo-") as workdir:
        started = time.monotonic()
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[dim]{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            tasks: dict[str, TaskID] = {}
            boot = progress.add_task("start local services", total=1, detail="moto, 2 registries, CDN")
            with local_stack(channel, Path(workdir)) as stack:
                progress.update(boot, completed=1, detail=f"ready in {time.monotonic() - started:.1f}s")

                def report(phase: str, detail: str, done: int, total: int) -> None:
                    if phase not in tasks:
                        tasks[phase] = progress.add_task(PHASES.get(phase, phase), total=total, detail="")
                    progress.update(tasks[phase], completed=done, total=total, detail=detail[-60:])

                try:
                    result = run_adoption(
                        stack, template, approve=not no_approve, progress=report, archive_size=archive_size
                    )
                except DemoError as exc:
                    progress.stop()
                    fail(str(exc), EXIT_INVALID)
                progress.stop()
                _summary(result)
                if keep_running or no_approve:
                    _explore(result.explore, result.release_id)
                    console.print("[bold]Local services are up.[/] Press Ctrl-C to stop them.")
                    try:
                        while True:
                            time.sleep(3600)
                    except KeyboardInterrupt:
                        console.print("stopping local services…")


def _summary(result: Any) -> None:
    table = Table(title=f"Release {result.release_id}: {result.status}", show_lines=False)
    for column in ("stage", "seconds", "what"):
        table.add_column(column)
    for name, seconds, detail in result.phases:
        table.add_row(name, f"{seconds:.1f}", detail)
    tally = result.tally
    table.add_section()
    table.add_row(
        "images mirrored",
        "",
        f"{tally.images} (blobs uploaded {tally.blobs_uploaded}, mounted {tally.blobs_mounted}, "
        f"skipped {tally.blobs_skipped}; {tally.image_bytes:,} bytes)",
    )
    table.add_row(
        "archives mirrored", "", f"{tally.archives} ({tally.archive_bytes:,} bytes, sha256 + sha512 verified)"
    )
    table.add_row(
        "checked independently",
        "",
        f"{result.images_verified} image digests (staging + prod) and {result.archives_verified} archives' checksums",
    )
    if result.ssm_pointer:
        table.add_row("SSM /eksd-adopt/prod/<channel>", "", str(result.ssm_pointer))
    events = ", ".join(f"{name} x{count}" if count > 1 else name for name, count in sorted(result.events.items()))
    table.add_row("events to the subscriber queue", "", events or "none")
    if result.notification_to_promoted is not None:
        table.add_row("notification → promoted", f"{result.notification_to_promoted:.1f}", "goal: under 60 s")
    console.print(table)


def _explore(env: dict[str, str], release_id: str) -> None:
    console.rule("explore with the CLI (in another shell)")
    for key, value in env.items():
        console.print(f"export {key}={shlex.quote(value)}", highlight=False, soft_wrap=True)
    for command in (
        "eksd-adopt status",
        "eksd-adopt approvals list",
        f"eksd-adopt approve {release_id} --stage prod --comment 'looks good'",
        "eksd-adopt subscriptions",
    ):
        console.print(f"  .venv/bin/{command}", highlight=False)
