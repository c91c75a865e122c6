"""What every CLI command shares: consoles, exit codes, reading manifests from a path or URL."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from eksd_adopt.endpoints import EndpointMap
from eksd_adopt.errors import EksdAdoptError
from eksd_adopt.fetch import DocumentFetcher
from eksd_adopt.policy import UpstreamPolicy
from eksd_adopt.release.yamlsafe import read_document_file

# Exit codes: 0 success, 1 the input is invalid / the operation failed, 2 usage or I/O error.
EXIT_INVALID = 1
EXIT_USAGE = 2

console = Console()
err_console = Console(stderr=True)

PolicyOption = typer.Option(None, "--policy", help="Upstream policy file (JSON/YAML): allow-lists and switches.")
EndpointOption = typer.Option(
    None,
    "--endpoint",
    help="Serve an upstream host from another URL, e.g. public.ecr.aws=http://127.0.0.1:5001 (repeatable).",
)


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    # escape: messages quote upstream text, and "[/x]" in it must print, not be read as rich markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def load_policy(path: Path | None) -> UpstreamPolicy:
    try:
        return UpstreamPolicy.load(path)
    except (OSError, ValueError) as exc:
        fail(f"cannot read policy {path}: {exc}", EXIT_USAGE)


def parse_endpoints(items: list[str] | None) -> EndpointMap:
    try:
        return EndpointMap.parse(items or [])
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)


def read_manifest_bytes(source: str, policy: UpstreamPolicy, endpoints: EndpointMap) -> bytes:
    """A manifest's bytes from a local path or an allow-listed https URL; usage/I/O problems exit 2."""
    try:
        if source.startswith(("http://", "https://")):
            fetcher = DocumentFetcher(policy.manifest_hosts, endpoints)
            return fetcher.fetch(source, max_bytes=policy.max_manifest_bytes)
        return read_document_file(Path(source), max_bytes=policy.max_manifest_bytes)
    except OSError as exc:
        fail(f"cannot read {source}: {exc.strerror or exc}", EXIT_USAGE)
    except EksdAdoptError as exc:
        fail(str(exc), EXIT_USAGE)
