"""``mirror``: copy a release's images (to a registry) and archives (to a bucket)."""

from __future__ import annotations

from enum import StrEnum

import typer
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TransferSpeedColumn

from eksd_adopt.cli.common import err_console


class SummaryFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


mirror_app = typer.Typer(help="Mirror a release's artifacts into private storage.", no_args_is_help=True)


def transfer_progress() -> Progress:
    """The mirror commands' display: artifacts done of the plan, and bytes moved (total unknown up front)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console,
    )
