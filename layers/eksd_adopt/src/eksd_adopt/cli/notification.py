"""``notification parse``: what an upstream announcement names."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from eksd_adopt.cli.common import EXIT_INVALID, EXIT_USAGE, fail, print_json
from eksd_adopt.errors import NotificationError
from eksd_adopt.notification import MAX_ENVELOPE_CHARS, parse_announcement, parse_envelope
from eksd_adopt.shapes import DEFAULT_TOPIC_ARN

notification_app = typer.Typer(help="Upstream SNS notifications.", no_args_is_help=True)


@notification_app.command("parse")
def parse(
    file: Path = typer.Argument(..., help="An SNS envelope (JSON) or a raw message text."),
    subject: str | None = typer.Option(None, "--subject", help="The SNS Subject, for a raw message."),
    topic_arn: str = typer.Option(DEFAULT_TOPIC_ARN, "--topic-arn", help="The upstream topic trusted for envelopes."),
) -> None:
    """Print {"channel": ..., "number": ...} for an announcement (number null when it names none)."""
    # Read at most one byte over the cap, whatever size the file claims (/dev/zero, a FIFO, /proc).
    limit = MAX_ENVELOPE_CHARS * 4  # a character is at most four bytes of UTF-8
    try:
        with file.open("rb") as stream:
            data = stream.read(limit + 1)
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}", EXIT_USAGE)
    if len(data) > limit:
        fail(f"{file} is over the {limit}-byte limit", EXIT_USAGE)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"{file} is not UTF-8 text: {exc.reason} at byte {exc.start}", EXIT_USAGE)
    try:
        if text.lstrip().startswith("{"):
            announcement = parse_envelope(text, topic_arn=topic_arn)
        else:
            announcement = parse_announcement(text, subject=subject)
    except NotificationError as exc:
        fail(str(exc), EXIT_INVALID)
    print_json(json.dumps({"channel": announcement.channel, "number": announcement.number}))
