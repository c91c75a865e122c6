"""``demo``: a whole adoption of an EKS-D-shaped release on this machine, shown live; ``demo publish``
and ``demo env`` reach a demo left running, from another shell."""

from __future__ import annotations

import faulthandler
import re
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.console import Console, Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from eksd_adopt.cli.common import EXIT_INVALID, EXIT_USAGE, console, fail
from eksd_adopt.errors import EksdAdoptError

if TYPE_CHECKING:
    from eksd_adopt.local.demo import DemoReport
    from eksd_adopt.local.explore import DemoIdentity, DemoState

_KUBERNETES_VERSION = re.compile(r"v\d{1,3}\.\d{1,3}\.\d{1,4}", re.ASCII)

PHASES = {
    "publish": "upstream publishes the release",
    "notify": "notification → SNS → intake",
    "mirror": "validate, plan, mirror to staging",
    "verify": "verify, smoke tests, approval gate",
    "approve": "approve with `eksd-adopt approve`",
    "promote": "promote to prod",
    "record": "verify the signed record",
}

demo_app = typer.Typer(
    help=(
        "Adopt an EKS-D-shaped release end to end on local services (their files: a working folder under "
        "$TMPDIR, printed at start); `publish` and `env` reach a demo left running."
    ),
    invoke_without_command=True,
)

StateOption = typer.Option(
    None,
    "--state",
    help="The running demo's state file (default: $EKSD_ADOPT_DEMO_STATE, else the one demo running under $TMPDIR).",
)


@demo_app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    manifest: Path | None = typer.Option(
        None,
        "--manifest",
        help="A real release manifest to shape the releases on [default: the checkout's kubernetes-1-20-eks-1.yaml].",
    ),
    keep_running: bool = typer.Option(False, "--keep-running", help="Leave the local services up to explore."),
    no_approve: bool = typer.Option(
        False, "--no-approve", help="Stop at the approval gate (approve it yourself) and leave the services up."
    ),
    archive_size: int = typer.Option(4096, "--archive-size", min=1, help="Bytes of each synthetic archive."),
) -> None:
    """Adopt an EKS-D-shaped release end to end on local services (embedded AWS, registries, CDN).

    The services keep their files in a working folder under $TMPDIR (printed at start, removed on exit).
    """
    if ctx.invoked_subcommand is not None:
        return
    from eksd_adopt.local.checkout import demo_manifest
    from eksd_adopt.local.demo import DemoError, DemoWatch, local_stack, run_adoption
    from eksd_adopt.local.explore import WORKDIR_PREFIX
    from eksd_adopt.release.validate import validate_manifest

    try:
        manifest = manifest or demo_manifest()
        template = manifest.read_text()
        validate_manifest(template, source=manifest.name).require_valid()
    except (OSError, EksdAdoptError) as exc:
        fail(f"cannot use {manifest}: {exc}", EXIT_USAGE)
    # Ctrl-C and SIGTERM both unwind through the context managers, which stop every process started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    console.rule(f"eksd-adopt demo: {manifest.name} on local services")
    with tempfile.TemporaryDirectory(prefix=WORKDIR_PREFIX) as workdir:
        _describe_workdir(Path(workdir))
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
            with local_stack(template, Path(workdir), archive_size=archive_size) as stack:
                progress.update(boot, completed=1, detail=f"ready in {time.monotonic() - started:.1f}s")

                def report(phase: str, detail: str, done: int, total: int) -> None:
                    if phase not in tasks:
                        tasks[phase] = progress.add_task(PHASES.get(phase, phase), total=total, detail="")
                    progress.update(tasks[phase], completed=done, total=total, detail=detail[-60:])

                try:
                    result = run_adoption(stack, approve=not no_approve, progress=report)
                except DemoError as exc:
                    progress.stop()
                    fail(str(exc), EXIT_INVALID)
                progress.stop()
                console.print(render_summary(result))
                if keep_running or no_approve:
                    _explore(result.state, result.release_id, awaiting=no_approve)
                    _watch(DemoWatch(stack))


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _describe_workdir(workdir: Path) -> None:
    console.print(f"working folder: {workdir}", highlight=False, soft_wrap=True)
    console.print(
        "  (under $TMPDIR; removed when the demo stops) cdn/: what upstream publishes; upstream-registry/,"
        " private-registry/: the registries' storage and logs; demo.json: for `eksd-adopt demo publish`",
        highlight=False,
        style="dim",
    )


def _watch(watch: Any) -> None:
    console.print("[bold]Local services are up.[/] What happens next shows here. Press Ctrl-C to stop them.")
    # Ctrl-C and SIGTERM end the watch between two looks, never halfway through one: a KeyboardInterrupt
    # raised inside a boto3 call can be caught, or leave a lock held, in library code. The handler only
    # records the signal (setting a threading.Event from a handler can deadlock on the Event's own lock).
    stopping: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: stopping.append(signum)) for sig in _STOP_SIGNALS}
    try:
        while not stopping:
            time.sleep(1)  # a signal ends the sleep early only by its handler; PEP 475 resumes it
            if stopping:
                break
            try:
                lines = watch.changes()
            except Exception as exc:  # a look that failed is tried again; the services stay up
                lines = [f"(could not read the local services: {exc})"]
            for line in lines:
                console.print(f"{time.strftime('%H:%M:%S')} {line}", highlight=False)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("stopping local services…")
    # Stopping takes seconds. Should it ever hang, every thread's stack goes to stderr after 30 s, and again
    # every 30 s: the place to look, rather than a terminal that just waits.
    faulthandler.dump_traceback_later(30, repeat=True, file=2)  # fd 2: the terminal, whatever wraps sys.stderr


def render_summary(result: DemoReport) -> RenderableType:
    """The demo's summary: each step's time, what moved (readable in 80 columns), what was checked."""
    t = result.tally
    steps = Table(title=f"Release {result.release_id}: {result.status}", box=box.SIMPLE_HEAD, title_justify="left")
    steps.add_column("step")
    steps.add_column("s", justify="right")
    steps.add_column("what")
    for name, seconds, detail in result.phases:
        steps.add_row(name, f"{seconds:.1f}", detail)
    if result.notification_to_promoted is not None:
        steps.add_row("notification → promoted", f"{result.notification_to_promoted:.1f}", "goal: under 60 s")

    blobs = Table(
        title="image blobs",
        caption="mounted: linked from another repository, no bytes sent; skipped: the repository had it",
        box=box.SIMPLE_HEAD,
        title_justify="left",
        caption_justify="left",
    )
    for column in ("", "images", "uploaded", "mounted", "skipped", "bytes sent"):
        blobs.add_column(column, justify="left" if not column else "right")
    blobs.add_row(
        "mirror → staging",
        str(t.images),
        str(t.blobs_uploaded),
        str(t.blobs_mounted),
        str(t.blobs_skipped),
        f"{t.image_bytes:,}",
    )
    if t.promoted_images:
        stage = result.state.stage
        blobs.add_row(
            f"promote → {stage}",
            str(t.promoted_images),
            "0",
            str(t.promoted_mounted),
            str(t.promoted_skipped),
            "0",
        )

    facts = Table.grid(padding=(0, 1))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")  # a location is one long word: fold it, never cut it
    facts.add_row("archives", f"{t.archives} mirrored, {t.archive_bytes:,} bytes, sha256 + sha512 verified")
    stages = "staging + prod" if result.ssm_pointer else "staging"
    facts.add_row(
        "checked",
        f"{result.images_verified} image digests and {result.archives_verified} archives' checksums "
        f"({stages}), read back independently",
    )
    if result.ssm_pointer:
        pointer = result.ssm_pointer
        facts.add_row(
            "pointer",
            f"/eksd-adopt/{result.state.stage}/{result.state.channel} → {pointer.get('release_id')} "
            f"({pointer.get('manifest_location')})",
        )
    if result.record is not None:
        facts.add_row(
            "record",
            f"{result.record.key}: `eksd-adopt verify` {result.record.verify}; openssl recipe {result.record.openssl}",
        )
    events = ", ".join(f"{name} x{count}" if count > 1 else name for name, count in sorted(result.events.items()))
    facts.add_row("events", f"to the subscriber queue: {events or 'none'}")
    if not result.approval_view:
        return Group(steps, blobs, facts)
    shown = Text(f"\n$ eksd-adopt approvals show {result.release_id} --stage {result.state.stage}\n", style="bold")
    return Group(shown, Text(result.approval_view), steps, blobs, facts)


def _eksd_adopt() -> str:
    """How to run this CLI from the current folder, as a person would type it."""
    here = Path(sys.argv[0])
    try:
        return str(here.absolute().relative_to(Path.cwd())) if here.name == "eksd-adopt" else "eksd-adopt"
    except ValueError:
        return str(here.absolute())


def export_lines(state: DemoState, identity: DemoIdentity) -> list[str]:
    """The shell lines that make a shell act as ``identity`` against the running demo."""
    role = "an approver of " + state.stage if identity.approver else "not an approver"
    lines = [f"# as {identity.name}, {role}: {identity.principal_arn}", "unset AWS_PROFILE AWS_SESSION_TOKEN"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in state.env(identity).items()]
    return lines


def _explore(state: DemoState, release_id: str, *, awaiting: bool) -> None:
    from eksd_adopt.local.scanner import DEMO_HIGH

    cli = _eksd_adopt()
    alice, bob = state.identity("alice"), state.identity("bob")
    console.rule("explore with the CLI: paste each block into a shell of its own, in this folder")
    for identity in (alice, bob):
        for line in export_lines(state, identity):
            console.print(line, highlight=False, soft_wrap=True)
    console.print(f"then, as {alice.name}:", highlight=False)
    commands = [f"{cli} status", f"{cli} approvals list"]
    if awaiting:
        commands.append(f"{cli} approvals show {release_id} --stage {state.stage}")
        commands.append(
            f"{cli} approve {release_id} --stage {state.stage} --comment 'looks good' --accept-findings {DEMO_HIGH.id}"
        )
    commands.append(f"{cli} demo publish --number {_next_number(release_id)}   # another release, announced")
    for command in commands:
        console.print(f"  {command}", highlight=False, soft_wrap=True)
    if awaiting:
        console.print(f"as {bob.name}:", highlight=False)
        console.print(
            f"  {cli} approve {release_id} --stage {state.stage}   # refused", highlight=False, soft_wrap=True
        )


def _next_number(release_id: str) -> int:
    return int(release_id.rsplit("-", 1)[1]) + 1


@demo_app.command("publish")
def publish(
    number: int = typer.Option(..., "--number", min=1, max=100_000, help="The release number to publish."),
    channel: str | None = typer.Option(None, "--channel", help="The demo's channel (the only one it tracks)."),
    kubernetes_version: str | None = typer.Option(
        None, "--kubernetes-version", help="Move Kubernetes to this patch version, e.g. v1.20.5 (default: unchanged)."
    ),
    state_file: Path | None = StateOption,
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until the service has settled the release."),
    timeout: float = typer.Option(180, "--timeout", min=1, help="Seconds to wait for it."),
) -> None:
    """Publish another release upstream and announce it to a running demo, as EKS-D does; follow it.

    Exit 0 once the ledger shows where the release settled (awaiting approval, superseded, ...),
    1 when it does not settle in time, 2 when no demo is running or the options do not fit it.
    """
    from eksd_adopt.local.explore import DemoError, announce, find_state, follow, publish_release

    if kubernetes_version is not None and not _KUBERNETES_VERSION.fullmatch(kubernetes_version):
        fail(f"--kubernetes-version {kubernetes_version!r} is not like v1.20.5", EXIT_USAGE)
    try:
        state = find_state(state_file)
    except DemoError as exc:
        fail(str(exc), EXIT_USAGE)
    if channel is not None and channel != state.channel:
        fail(f"--channel {channel}: the running demo tracks channel {state.channel} only", EXIT_USAGE)
    release_id = f"{state.channel}-{number}"
    try:
        release = publish_release(state, number=number, kubernetes_version=kubernetes_version)
        message_id = announce(state, release)
    except (OSError, EksdAdoptError) as exc:
        fail(f"cannot publish {release_id}: {exc}", EXIT_INVALID)
    console.print(
        f"upstream published {release_id} ({len(release.images)} images, {len(release.archives)} archives, "
        f"{release.manifest_path.name}) and announced it (SNS message {message_id})",
        highlight=False,
    )
    if not wait:
        return
    try:
        record = follow(
            state,
            release_id,
            timeout=timeout,
            on_status=lambda r: console.print(f"  {r.release_id}: {r.status.value}", highlight=False),
        )
    except DemoError as exc:
        fail(str(exc), EXIT_INVALID)
    detail = record.failure_cause or "; ".join(record.problems)
    if detail:
        console.print(f"  {detail}", highlight=False, markup=False)


@demo_app.command("env")
def env(
    identity: str = typer.Argument("alice", help="alice (an approver) or bob (not an approver)."),
    state_file: Path | None = StateOption,
) -> None:
    """Print the export lines that make a shell act as IDENTITY against a running demo (for eval)."""
    from eksd_adopt.local.explore import DemoError, find_state

    try:
        state = find_state(state_file)
        lines = export_lines(state, state.identity(identity))
    except DemoError as exc:
        fail(str(exc), EXIT_USAGE)
    plain = Console(highlight=False, soft_wrap=True)
    for line in lines:
        plain.print(line, markup=False)
