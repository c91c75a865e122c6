"""``mirror``: copy a release's images (to a registry) and archives (to a bucket)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from eksd_adopt.cli.lazy import LazyCommand, lazy_group

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.progress import Progress


class SummaryFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


Job = TypeVar("Job")


def summary_json(
    release_id: str,
    kind: str,
    outcomes: Iterable[tuple[Job, BaseModel | None, Exception | None]],
    describe: Callable[[Job], dict[str, Any]],
) -> dict[str, object]:
    """``--format json`` of both mirror commands: per job its own fields, then its result or its error."""
    return {
        "release": release_id,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        kind: [
            {
                **describe(job),
                "result": result.model_dump(mode="json") if result else None,
                "error": {"type": type(exc).__name__, "message": str(exc)} if exc else None,
            }
            for job, result, exc in outcomes
        ],
    }


# Each mirror command's module is imported only when it runs: `mirror images` never loads boto3's S3 store.
mirror_app = typer.Typer(
    help="Mirror a release's artifacts into private storage.",
    no_args_is_help=True,
    cls=lazy_group(
        {
            "images": LazyCommand(
                "eksd_adopt.cli.mirror_images",
                "images",
                "Copy every image of a release into REGISTRY/PREFIX/STAGE/<upstream path>:<tag>, by digest, verified.",
            ),
            "archives": LazyCommand(
                "eksd_adopt.cli.mirror_archives",
                "archives",
                "Copy every archive of a release into s3://BUCKET/PREFIX/STAGE/..., sha256 and sha512 verified.",
            ),
        }
    ),
)


def transfer_progress() -> Progress:
    """The mirror commands' display: artifacts done of the plan, and bytes moved (total unknown up front)."""
    from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TransferSpeedColumn

    from eksd_adopt.cli.common import err_console

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console,
    )
