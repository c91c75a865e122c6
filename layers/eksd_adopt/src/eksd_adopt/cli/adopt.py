"""``adopt`` and ``status``: start an adoption by hand through the intake's own path, and show the ledger."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import typer

from eksd_adopt.cli.common import (
    EXIT_INVALID,
    EXIT_USAGE,
    EndpointOption,
    console,
    err_console,
    fail,
    parse_endpoints,
    print_json,
)
from eksd_adopt.errors import EksdAdoptError

if TYPE_CHECKING:
    from rich.table import Table

    from eksd_adopt.ledger import ReleaseRecord

LedgerTableOption = typer.Option(..., "--ledger-table", envvar="LEDGER_TABLE", help="The ledger's DynamoDB table.")


def adopt(
    channel: str | None = typer.Option(None, "--channel", help="Release channel, e.g. 1-30."),
    number: int | None = typer.Option(
        None, "--number", min=1, help="Release number; without it, the channel's latest release."
    ),
    manifest_url: str | None = typer.Option(
        None, "--manifest-url", help="An allow-listed https URL of the manifest (the release is read from it)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Adopt even when superseded or already adopted (a new execution, -r<unix> suffix)."
    ),
    ledger_table: str = LedgerTableOption,
    state_machine_arn: str = typer.Option(
        ..., "--state-machine-arn", envvar="STATE_MACHINE_ARN", help="The adoption state machine."
    ),
    events_topic_arn: str | None = typer.Option(
        None, "--events-topic-arn", envvar="EVENTS_TOPIC_ARN", help="Publish release.detected here."
    ),
    endpoint: list[str] | None = EndpointOption,
    policy: str | None = typer.Option(None, "--policy", envvar="EKSD_ADOPT_POLICY", help="Upstream policy file."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Start the adoption of one release, exactly as a notification would (one execution per release)."""
    from eksd_adopt.intake import AdoptOutcome, AdoptRequest, IntakeSettings  # not for `status`

    if manifest_url is None and channel is None:
        fail("name a release: --channel [--number], or --manifest-url", EXIT_USAGE)
    if manifest_url is not None and number is not None:
        fail("--number and --manifest-url exclude each other (the manifest names its number)", EXIT_USAGE)
    # --endpoint wins; otherwise the same EKSD_ADOPT_ENDPOINTS the functions read (the local runtime sets it).
    endpoints = (
        ",".join(parse_endpoints(endpoint).to_strings()) if endpoint else os.environ.get("EKSD_ADOPT_ENDPOINTS", "")
    )
    values = {
        "LEDGER_TABLE": ledger_table,
        "STATE_MACHINE_ARN": state_machine_arn,
        "EVENTS_TOPIC_ARN": events_topic_arn or "",
        "EKSD_ADOPT_ENDPOINTS": endpoints,
        "EKSD_ADOPT_POLICY": policy or "",
    }
    try:
        settings = IntakeSettings.from_env(values)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    from eksd_adopt.intake import wiring  # boto3 and httpx load only for the commands that use them

    with wiring.http_client() as client:
        service = wiring.intake_service(settings, client)
        try:
            if manifest_url is None and number is None:
                assert channel is not None
                number = service.read_channel(channel).latest_release
            request = AdoptRequest(channel=channel, number=number, manifest_url=manifest_url, force=force)
            result = service.adopt(request)
        except EksdAdoptError as exc:
            fail(str(exc), EXIT_INVALID)
    if as_json:
        print_json(result.model_dump_json())
    elif result.outcome is AdoptOutcome.STARTED:
        console.print(f"started [bold]{result.execution_name}[/] for {result.release_id}: {result.execution_arn}")
    elif result.outcome is AdoptOutcome.ALREADY_KNOWN:
        console.print(f"{result.release_id} is already in the ledger ({result.status}); nothing started")
    if result.outcome in (AdoptOutcome.STARTED, AdoptOutcome.ALREADY_KNOWN):
        return
    for problem in result.problems:
        err_console.print(f"  - {problem}", highlight=False, markup=False)
    hint = " (use --force to adopt it anyway)" if result.outcome is AdoptOutcome.SUPERSEDED else ""
    fail(f"{result.release_id} not started: {result.outcome.value}{hint}", EXIT_INVALID)


def status(
    channel: str | None = typer.Option(None, "--channel", help="Only this channel."),
    ledger_table: str = LedgerTableOption,
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
) -> None:
    """Show the release ledger, newest release first."""
    try:
        from eksd_adopt.ledger.dynamodb import DynamoDbLedger

        records = DynamoDbLedger(ledger_table).list(channel)
    except Exception as exc:  # boto3 raises many types; the operator needs the message, not a traceback
        fail(f"cannot read ledger table {ledger_table}: {exc}", EXIT_USAGE)
    if as_json:
        print_json(json.dumps([json.loads(r.model_dump_json()) for r in records]))
        return
    console.print(_table(records, channel))


def _table(records: list[ReleaseRecord], channel: str | None) -> Table:
    from rich.table import Table

    table = Table(title=f"release ledger{f' ({channel})' if channel else ''}", show_lines=False)
    for column in ("release", "status", "kubernetes", "announced", "updated", "execution / problems"):
        table.add_column(column, overflow="fold")
    for r in records:
        detail = r.execution_arn.rsplit(":", 1)[-1] if r.execution_arn else "; ".join(r.problems)[:120]
        table.add_row(
            r.release_id,
            r.status.value,
            r.kubernetes_version or "-",
            "yes" if r.announced else "no",
            r.updated_at.strftime("%Y-%m-%d %H:%M:%SZ"),
            detail or "-",
        )
    if not records:
        table.caption = "no releases recorded"
    return table


__all__ = ["adopt", "status"]
