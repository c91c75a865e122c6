"""``validate`` and ``plan``: check a release manifest and show what adopting it would copy."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.markup import escape

from eksd_adopt.cli.common import (
    EXIT_INVALID,
    EXIT_USAGE,
    EndpointOption,
    PolicyOption,
    console,
    fail,
    load_policy,
    parse_endpoints,
    print_json,
    read_manifest_bytes,
)
from eksd_adopt.errors import ManifestError
from eksd_adopt.plan import plan_release
from eksd_adopt.release.validate import ValidationReport, validate_manifest


class ReportFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class PlanFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def _validate(source: str, policy_path: Path | None, endpoint: list[str] | None) -> ValidationReport:
    policy = load_policy(policy_path)
    data = read_manifest_bytes(source, policy, parse_endpoints(endpoint))
    try:
        return validate_manifest(data, policy=policy, source=source)
    except ManifestError as exc:
        fail(str(exc), EXIT_INVALID)


def validate(
    source: str = typer.Argument(..., metavar="PATH_OR_URL", help="Manifest file or https URL."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors."),
    output: ReportFormat = typer.Option(ReportFormat.TEXT, "--format", help="text or json."),
    policy: Path | None = PolicyOption,
    endpoint: list[str] | None = EndpointOption,
) -> None:
    """Validate a release manifest. Exit 0 valid, 1 invalid (every problem listed), 2 usage or I/O error."""
    report = _validate(source, policy, endpoint)
    ok = report.ok(strict=strict)
    if output is ReportFormat.JSON:
        payload = {
            "source": source,
            "valid": ok,
            "release": report.release.release_id if report.release else None,
            "kubernetesVersion": report.release.kubernetes_version if report.release else None,
            "errorCount": report.error_count,
            "warningCount": report.warning_count,
            "findings": [f.model_dump(mode="json") for f in report.findings],
        }
        print_json(json.dumps(payload))
    else:
        for finding in report.findings:
            colour = "red" if finding.severity == "error" else "yellow"
            # escape: locations and messages quote the manifest, whose "[...]" must not be read as markup.
            console.print(
                f"[{colour}]{finding.severity.value}[/]: {escape(finding.location)}: {escape(finding.message)}"
                f" [dim]({finding.rule})[/]",
                highlight=False,
            )
        release = report.release
        summary = (
            f"{release.release_id} (Kubernetes {release.kubernetes_version})"
            if release and release.kubernetes_version
            else source
        )
        verdict = "[green]valid[/]" if ok else "[red]invalid[/]"
        console.print(
            f"{escape(summary)}: {verdict}, {report.error_count} error(s), {report.warning_count} warning(s)",
            highlight=False,
        )
    if not ok:
        raise typer.Exit(EXIT_INVALID)


def plan(
    source: str = typer.Argument(..., metavar="PATH", help="Manifest file or https URL."),
    prefix: str = typer.Option("eksd", "--prefix", help="Repository and key prefix in the private account."),
    stage: str = typer.Option("staging", "--stage", help="Stage the copies land in."),
    output: PlanFormat = typer.Option(PlanFormat.TABLE, "--format", help="table or json."),
    policy: Path | None = PolicyOption,
    endpoint: list[str] | None = EndpointOption,
) -> None:
    """Show the copy jobs adopting a release would run (images to ECR, archives to S3)."""
    report = _validate(source, policy, endpoint)
    if not report.ok() or report.release is None:
        for finding in report.errors:
            console.print(f"[red]error[/]: {escape(finding.location)}: {escape(finding.message)}", highlight=False)
        fail(f"{source} is not a valid release manifest; nothing to plan", EXIT_INVALID)
    copy_plan = plan_release(report.release, prefix=prefix, stage=stage)
    if output is PlanFormat.JSON:
        print_json(copy_plan.model_dump_json())
        return
    from rich.table import Table  # only for the tables

    images = Table(title=f"{copy_plan.release_id}: {len(copy_plan.images)} images", show_lines=False)
    for column in ("component", "source", "digest", "target"):
        images.add_column(column, overflow="fold")
    # Cells are rich markup: escape what the manifest named (a component may be called "[/x]").
    for job in copy_plan.images:
        images.add_row(
            *map(
                escape,
                (
                    job.component,
                    job.source,
                    job.known_digest or "(resolve at copy)",
                    f"{job.target_repository}:{job.tag}",
                ),
            )
        )
    archives = Table(title=f"{copy_plan.release_id}: {len(copy_plan.archives)} archives")
    for column in ("component", "source", "sha256", "target key"):
        archives.add_column(column, overflow="fold")
    for archive in copy_plan.archives:
        archives.add_row(
            *map(escape, (archive.component, archive.source_url, archive.sha256[:12] + "…", archive.target_key))
        )
    console.print(images)
    console.print(archives)


__all__ = ["EXIT_USAGE", "plan", "validate"]
