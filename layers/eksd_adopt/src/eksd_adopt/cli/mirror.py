"""``mirror``: copy a release's images (to a registry) and archives (to a bucket)."""

from __future__ import annotations

import typer

mirror_app = typer.Typer(help="Mirror a release's artifacts into private storage.", no_args_is_help=True)
