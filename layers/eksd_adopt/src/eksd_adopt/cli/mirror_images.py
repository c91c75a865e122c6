"""``mirror images``: copy a release's images into a registry by digest, verified, with progress and a summary."""

from __future__ import annotations

import json
import threading
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from eksd_adopt.cli.common import (
    EXIT_USAGE,
    EndpointOption,
    PolicyOption,
    console,
    err_console,
    fail,
    load_policy,
    parse_endpoints,
    print_json,
    read_manifest_bytes,
)
from eksd_adopt.cli.mirror import SummaryFormat, summary_json, transfer_progress
from eksd_adopt.errors import EksdAdoptError, ManifestError
from eksd_adopt.images.copier import ImageCopyResult
from eksd_adopt.images.job import build_copier
from eksd_adopt.images.settings import MirrorImageSettings
from eksd_adopt.plan import ImageCopyJob, plan_release
from eksd_adopt.policy import UpstreamPolicy
from eksd_adopt.release.validate import validate_manifest


class Auth(StrEnum):
    NONE = "none"
    ECR = "ecr"


class Upload(StrEnum):
    PUT = "put"
    PATCH = "patch"


Outcome = tuple[ImageCopyJob, ImageCopyResult | None, Exception | None]


def images(
    manifest: str = typer.Argument(..., metavar="MANIFEST", help="Release manifest: file or https URL."),
    registry: str = typer.Option(
        ..., "--registry", help="Target registry URL, e.g. https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
    ),
    prefix: str = typer.Option("eksd", "--prefix", help="Repository prefix in the target registry."),
    stage: str = typer.Option("staging", "--stage", help="Stage the copies land in (<prefix>/<stage>/...)."),
    concurrency: int = typer.Option(
        6, "--concurrency", min=1, max=32, help="Blobs in flight, largest first, across images."
    ),
    auth: Auth | None = typer.Option(None, "--auth", help="none or ecr; default: ecr for *.amazonaws.com, else none."),
    ecr_control_plane: bool | None = typer.Option(
        None, "--ecr-repositories/--no-ecr-repositories", help="Create ECR repositories on demand (default: with ecr)."
    ),
    kms_key: str | None = typer.Option(None, "--kms-key", help="KMS key ARN for ECR repositories it creates."),
    upload: Upload | None = typer.Option(
        None,
        "--upload",
        help="put: each blob streamed in its committing PUT; patch: one PATCH then the PUT."
        " Default: patch for ECR (as docker push), put otherwise.",
    ),
    chunk_mib: int | None = typer.Option(
        None,
        "--chunk-mib",
        help="With patch: PATCH in parts of this many MiB (>= 5), for registries capping requests."
        " Refused for ECR, which keeps only the first PATCH of an upload session.",
    ),
    output: SummaryFormat = typer.Option(SummaryFormat.TABLE, "--format", help="table or json."),
    policy: Path | None = PolicyOption,
    endpoint: list[str] | None = EndpointOption,
) -> None:
    """Copy every image of a release into REGISTRY/PREFIX/STAGE/<upstream path>:<tag>, by digest, verified.

    Exit 0 all copied or already present, 1 an image failed (the others are still copied; run it
    again to finish), 2 usage or I/O error.
    """
    upstream = load_policy(policy)
    endpoints = parse_endpoints(endpoint)
    chosen = auth or (Auth.ECR if ".amazonaws.com" in registry else Auth.NONE)
    try:
        settings = MirrorImageSettings(
            target_registry_url=registry,
            target_registry_auth=chosen.value,
            ecr_control_plane=chosen is Auth.ECR if ecr_control_plane is None else ecr_control_plane,
            ecr_kms_key_arn=kms_key,
            endpoints=",".join(endpoints.to_strings()),
            concurrency=concurrency,
            upload=upload.value if upload else None,
            chunk_size_mib=chunk_mib,
        )
    except ValueError as exc:
        fail(f"invalid option: {exc}", EXIT_USAGE)
    data = read_manifest_bytes(manifest, upstream, endpoints)
    try:
        release = validate_manifest(data, policy=upstream, source=manifest).require_valid()
    except ManifestError as exc:
        fail(str(exc))
    plan = plan_release(release, prefix=prefix, stage=stage)
    try:
        outcomes = _copy_with_progress(settings, upstream, plan.images, concurrency)
    except EksdAdoptError as exc:  # e.g. ECR credentials could not be had: nothing was copied
        fail(str(exc), EXIT_USAGE)
    if output is SummaryFormat.JSON:
        print_json(
            json.dumps(
                summary_json(
                    release.release_id,
                    "images",
                    outcomes,
                    lambda job: {"source": job.source, "target_repository": job.target_repository, "tag": job.tag},
                )
            )
        )
    else:
        console.print(_summary_table(release.release_id, outcomes))
    failed = [(job, error) for job, _, error in outcomes if error is not None]
    for job, error in failed:
        err_console.print(f"[red]failed[/]: {job.source}: {type(error).__name__}: {error}", highlight=False)
    if failed:
        fail(f"{len(failed)} of {len(outcomes)} images failed; nothing was tagged for them, run again to finish")


def _copy_with_progress(
    settings: MirrorImageSettings, upstream: UpstreamPolicy, jobs: tuple[ImageCopyJob, ...], concurrency: int
) -> list[Outcome]:
    progress = transfer_progress()
    count_task = progress.add_task("images", total=len(jobs))
    bytes_task = progress.add_task("blob bytes", total=None)
    lock = threading.Lock()

    def on_bytes(count: int) -> None:
        with lock:
            progress.advance(bytes_task, count)

    def on_done(job: ImageCopyJob, result: ImageCopyResult | None, exc: Exception | None) -> None:
        with lock:
            progress.advance(count_task, 1)

    with build_copier(settings, policy=upstream, on_bytes=on_bytes) as copier, progress:
        # Image threads only wait on the shared blob pool: as many as blobs in flight keeps it fed.
        return copier.copy_all(jobs, concurrency=concurrency, on_done=on_done)


def _status(result: ImageCopyResult | None, exc: Exception | None) -> str:
    if exc is not None:
        return f"[red]failed: {type(exc).__name__}[/]"
    assert result is not None
    return "[dim]present[/]" if result.skipped else "[green]copied[/]"


def _summary_table(release_id: str, outcomes: list[Outcome]) -> Table:
    copied = sum(1 for _, r, _ in outcomes if r and not r.skipped)
    present = sum(1 for _, r, _ in outcomes if r and r.skipped)
    failed = sum(1 for _, _, e in outcomes if e)
    total = sum(r.bytes_uploaded for _, r, _ in outcomes if r)
    table = Table(
        title=f"{release_id}: {copied} copied, {present} already present, {failed} failed, {total / 1e6:.1f} MB uploaded"
    )
    for column in ("image", "status", "digest", "uploaded", "mounted", "skipped", "MB", "s", "target"):
        table.add_column(
            column,
            overflow="fold",
            justify="right" if column in ("uploaded", "mounted", "skipped", "MB", "s") else "left",
        )
    for job, result, exc in outcomes:
        if result is None:
            table.add_row(
                job.source,
                _status(result, exc),
                job.known_digest or "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                job.target_repository,
            )
            continue
        table.add_row(
            job.source,
            _status(result, exc),
            result.digest[:19],
            str(result.blobs_uploaded),
            str(result.blobs_mounted),
            str(result.blobs_skipped),
            f"{result.bytes_uploaded / 1e6:.1f}",
            f"{result.seconds:.2f}",
            result.target,
        )
    return table
