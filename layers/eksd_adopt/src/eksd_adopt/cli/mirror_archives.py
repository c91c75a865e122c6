"""``mirror archives``: stream a release's archives into the private bucket, verified, with progress and a summary."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import typer
from rich.table import Table

from eksd_adopt.archives.checksums import write_checksum_files
from eksd_adopt.archives.copier import ArchiveCopier, ArchiveCopyResult, copy_archives
from eksd_adopt.archives.errors import ArchiveStoreError, ManifestConflictError
from eksd_adopt.archives.manifests import check_manifest, manifest_key, store_manifest
from eksd_adopt.archives.settings import MIN_PART_SIZE_MIB
from eksd_adopt.archives.store import ArchiveStore
from eksd_adopt.cli.common import (
    EXIT_INVALID,
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
from eksd_adopt.endpoints import EndpointMap
from eksd_adopt.errors import ManifestError
from eksd_adopt.plan import ArchiveCopyJob, plan_release
from eksd_adopt.release.validate import validate_manifest

Outcome = tuple[ArchiveCopyJob, ArchiveCopyResult | None, Exception | None]


def archives(
    manifest: str = typer.Argument(..., metavar="MANIFEST", help="Release manifest: file or https URL."),
    bucket: str = typer.Option(..., "--bucket", help="The private artifacts bucket."),
    prefix: str = typer.Option("eksd", "--prefix", help="Key prefix in the bucket."),
    stage: str = typer.Option("staging", "--stage", help="Stage the copies land in."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=32, help="Archives copied at the same time."),
    part_size_mib: int = typer.Option(
        16, "--part-size-mib", min=MIN_PART_SIZE_MIB, max=512, help="Multipart part size (memory: ~3 parts per copy)."
    ),
    output: SummaryFormat = typer.Option(SummaryFormat.TABLE, "--format", help="table or json."),
    policy: Path | None = PolicyOption,
    endpoint: list[str] | None = EndpointOption,
) -> None:
    """Copy every archive of a release into s3://BUCKET/PREFIX/STAGE/..., sha256 and sha512 verified.

    Then write the SHA256SUM/SHA512SUM and <file>.sha256/.sha512 files and the manifest (write-once).
    Exit 0 all copied or already present, 1 an archive failed or the manifest conflicts, 2 usage or I/O error.
    """
    upstream = load_policy(policy)
    endpoints = parse_endpoints(endpoint)
    data = read_manifest_bytes(manifest, upstream, endpoints)
    try:
        release = validate_manifest(data, policy=upstream, source=manifest).require_valid()
    except ManifestError as exc:
        fail(str(exc), EXIT_INVALID)
    plan = plan_release(release, prefix=prefix, stage=stage)

    from eksd_adopt.archives.s3store import S3ArchiveStore, s3_client  # boto3 only for this command

    store = S3ArchiveStore(bucket, client=s3_client(max_pool_connections=concurrency * 2 + 2))
    key = manifest_key(prefix, stage, release.channel, release.number)
    try:
        # Refuse a conflicting manifest before a single byte is copied.
        check_manifest(store, key, data)
    except ManifestConflictError as exc:
        fail(str(exc), EXIT_INVALID)
    except ArchiveStoreError as exc:
        fail(str(exc), EXIT_USAGE)

    outcomes = _copy_with_progress(store, plan.archives, upstream.archive_hosts, endpoints, concurrency, part_size_mib)
    failed = [(job, error) for job, _, error in outcomes if error is not None]
    if output is SummaryFormat.JSON:
        print_json(
            json.dumps(
                summary_json(
                    release.release_id,
                    "archives",
                    outcomes,
                    lambda job: {"asset": job.asset, "target_key": job.target_key},
                )
            )
        )
    else:
        console.print(_summary_table(release.release_id, outcomes))
    if failed:
        for job, error in failed:
            err_console.print(f"[red]failed[/]: {job.asset}: {type(error).__name__}: {error}", highlight=False)
        fail(f"{len(failed)} of {len(outcomes)} archives failed; checksum files and manifest not written")
    try:
        sums = write_checksum_files(store, plan.archives)
        stored = store_manifest(store, key, data)
    except ManifestConflictError as exc:
        fail(str(exc), EXIT_INVALID)
    except ArchiveStoreError as exc:
        fail(str(exc), EXIT_INVALID)
    err_console.print(
        f"{release.release_id}: {len(outcomes)} archives in s3://{bucket}/{plan.archives[0].target_key.rsplit('/artifacts/', 1)[0]}/ "
        f"({len(sums.written)} checksum files written, {len(sums.unchanged)} unchanged); "
        f"manifest {'stored' if stored.created else 'already stored'} at {stored.key}",
        highlight=False,
    )


def _copy_with_progress(
    store: ArchiveStore,
    jobs: tuple[ArchiveCopyJob, ...],
    hosts: tuple[str, ...],
    endpoints: EndpointMap,
    concurrency: int,
    part_size_mib: int,
) -> list[Outcome]:
    # Two bars: archives done (of the plan) and bytes received (the total is unknown up front).
    progress = transfer_progress()
    count_task = progress.add_task("archives", total=len(jobs))
    bytes_task = progress.add_task("received", total=None)
    lock = threading.Lock()

    def on_progress(job: ArchiveCopyJob, received: int) -> None:
        with lock:
            progress.advance(bytes_task, received)

    def on_done(job: ArchiveCopyJob, result: ArchiveCopyResult | None, exc: Exception | None) -> None:
        with lock:
            progress.advance(count_task, 1)

    copier = ArchiveCopier(
        store, allowed_hosts=hosts, endpoints=endpoints, part_size=part_size_mib * 1024 * 1024, on_progress=on_progress
    )
    with progress:
        return copy_archives(copier, jobs, concurrency=concurrency, on_done=on_done)


def _status(result: ArchiveCopyResult | None, exc: Exception | None) -> str:
    if exc is not None:
        return f"[red]failed: {type(exc).__name__}[/]"
    assert result is not None
    if result.skipped:
        return "[dim]present[/]"
    return "[green]copied (resumed)[/]" if result.resumed else "[green]copied[/]"


def _summary_table(release_id: str, outcomes: list[Outcome]) -> Table:
    copied = sum(1 for _, r, _ in outcomes if r and not r.skipped)
    skipped = sum(1 for _, r, _ in outcomes if r and r.skipped)
    failed = sum(1 for _, _, e in outcomes if e)
    total = sum(r.bytes for _, r, _ in outcomes if r and not r.skipped)
    table = Table(
        title=f"{release_id}: {copied} copied, {skipped} already present, {failed} failed, {total / 1e6:.1f} MB moved"
    )
    for column in ("asset", "status", "MB", "s", "MB/s", "target key"):
        table.add_column(column, overflow="fold", justify="right" if column in ("MB", "s", "MB/s") else "left")
    for job, result, exc in outcomes:
        mb = result.bytes / 1e6 if result else 0.0
        seconds = result.seconds if result else 0.0
        rate = f"{mb / seconds:.0f}" if result and not result.skipped and seconds > 0 else "-"
        table.add_row(job.asset, _status(result, exc), f"{mb:.1f}", f"{seconds:.2f}", rate, job.target_key)
    return table
