"""What every CLI command shares: consoles, exit codes, reading manifests from a path or URL.

Nothing heavy loads here at import: rich when a command module first imports a console, the domain (pydantic, yaml,
httpx) when a function needs it, so each command pays only for what it uses.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from eksd_adopt.errors import EksdAdoptError

if TYPE_CHECKING:
    from rich.console import Console

    from eksd_adopt.endpoints import EndpointMap
    from eksd_adopt.policy import UpstreamPolicy

# Exit codes: 0 success, 1 the input is invalid / the operation failed, 2 usage or I/O error.
EXIT_INVALID = 1
EXIT_USAGE = 2


if TYPE_CHECKING:
    # rich Consoles (stdout, stderr), each made when a command module first imports it.
    console: Console
    err_console: Console
else:

    def __getattr__(name: str) -> Any:
        # The consoles are made on first import, not at start-up: rich loads only for the commands
        # that print through it (notification parse does not).
        if name in ("console", "err_console"):
            return _console(name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _console(name: str) -> Console:
    made = globals().get(name)
    if made is None:
        from rich.console import Console

        made = globals()[name] = Console(stderr=name == "err_console")
    return made


def print_json(document: str) -> None:
    """Print a JSON document indented by two, as rich's ``print_json`` printed it to a pipe, without rich.

    JSON output is for tools; it is not coloured on a terminal either, which spares loading rich.
    """
    sys.stdout.write(json.dumps(json.loads(document), indent=2, ensure_ascii=False) + "\n")


PolicyOption = typer.Option(None, "--policy", help="Upstream policy file (JSON/YAML): allow-lists and switches.")
EndpointOption = typer.Option(
    None,
    "--endpoint",
    help="Serve an upstream host from another URL, e.g. public.ecr.aws=http://127.0.0.1:5001 (repeatable).",
)


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    from rich.markup import escape

    # escape: messages quote upstream text, and "[/x]" in it must print, not be read as rich markup.
    _console("err_console").print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def load_policy(path: Path | None) -> UpstreamPolicy:
    from eksd_adopt.policy import UpstreamPolicy

    try:
        return UpstreamPolicy.load(path)
    except (OSError, ValueError) as exc:
        fail(f"cannot read policy {path}: {exc}", EXIT_USAGE)


def parse_endpoints(items: list[str] | None) -> EndpointMap:
    from eksd_adopt.endpoints import EndpointMap

    try:
        return EndpointMap.parse(items or [])
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)


def read_manifest_bytes(source: str, policy: UpstreamPolicy, endpoints: EndpointMap) -> bytes:
    """A manifest's bytes from a local path or an allow-listed https URL; usage/I/O problems exit 2."""
    from eksd_adopt.release.yamlsafe import read_document_file

    try:
        if source.startswith(("http://", "https://")):
            from eksd_adopt.fetch import DocumentFetcher  # httpx, only for a URL

            fetcher = DocumentFetcher(policy.manifest_hosts, endpoints)
            return fetcher.fetch(source, max_bytes=policy.max_manifest_bytes)
        return read_document_file(Path(source), max_bytes=policy.max_manifest_bytes)
    except OSError as exc:
        fail(f"cannot read {source}: {exc.strerror or exc}", EXIT_USAGE)
    except EksdAdoptError as exc:
        fail(str(exc), EXIT_USAGE)
