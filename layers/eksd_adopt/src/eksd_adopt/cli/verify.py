"""``verify``: check a stage's release against its signed adoption record, artifact by artifact (read rights only)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

# cli.common loads nothing heavy at import (the fetcher and the validator load in the functions
# that use them), so verify shares its exit codes, consoles and error line with every command.
from eksd_adopt.cli.common import EXIT_INVALID, EXIT_USAGE, console, err_console, fail, print_json

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from eksd_adopt.attestation.verify import VerificationReport


class Auth(StrEnum):
    NONE = "none"
    ECR = "ecr"


def verify(
    stage: str = typer.Option(..., "--stage", help="The stage to verify, e.g. prod."),
    channel: str | None = typer.Option(None, "--channel", help="Verify what the stage points at for this channel."),
    release: str | None = typer.Option(None, "--release", help="Or: the newest record of this release, e.g. 1-30-58."),
    bucket: str = typer.Option(..., "--bucket", envvar="EKSD_ADOPT_BUCKET", help="The artifacts bucket."),
    prefix: str = typer.Option("eksd", "--prefix", envvar="EKSD_ADOPT_PREFIX", help="Key and repository prefix."),
    registry: str = typer.Option(
        ...,
        "--registry",
        envvar="EKSD_ADOPT_REGISTRY",
        help="The private registry, e.g. https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
    ),
    auth: Auth | None = typer.Option(None, "--auth", help="none or ecr; default: ecr for *.amazonaws.com, else none."),
    kms_key: str | None = typer.Option(
        None, "--kms-key", envvar="EKSD_ADOPT_SIGNING_KEY", help="The signing key (ARN or alias): its public key."
    ),
    public_key: Path | None = typer.Option(
        None, "--public-key", help="Verify offline with this public key (PEM or DER) instead of asking KMS for it."
    ),
    deep: bool = typer.Option(False, "--deep", help="Also re-hash every archive's bytes, not only its metadata."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Verify a stage's release: its signed record, then every image and archive the record names.

    Exit 0 verified, 1 any mismatch (each one named), 2 usage or I/O error.
    """
    if (channel is None) == (release is None):
        fail("name what to verify: --channel C (what the stage points at) or --release ID", EXIT_USAGE)
    if public_key is None and kms_key is None:
        fail("the verifying key: --kms-key ARN (KMS GetPublicKey) or --public-key FILE", EXIT_USAGE)
    from eksd_adopt.attestation.errors import AttestationError
    from eksd_adopt.errors import EksdAdoptError

    chosen = auth or (Auth.ECR if ".amazonaws.com" in registry else Auth.NONE)
    try:
        report = _verify(
            stage, channel, release, bucket, prefix, registry, chosen, _verifying_key(kms_key, public_key), deep
        )
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    except (AttestationError, EksdAdoptError) as exc:
        fail(str(exc), EXIT_USAGE)
    if as_json:
        print_json(json.dumps({"ok": report.ok, **report.model_dump(mode="json")}))
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(EXIT_INVALID)


def _verifying_key(kms_key: str | None, path: Path | None) -> ec.EllipticCurvePublicKey:
    from eksd_adopt.attestation.dsse import MAX_PUBLIC_KEY_BYTES, load_public_key
    from eksd_adopt.attestation.errors import AttestationError

    try:
        if path is not None:
            with path.open("rb") as handle:
                return load_public_key(handle.read(MAX_PUBLIC_KEY_BYTES + 1))
        from eksd_adopt.attestation.kms import KmsPublicKey

        assert kms_key is not None
        return KmsPublicKey(kms_key).load()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}", EXIT_USAGE)
    except AttestationError as exc:
        fail(f"{path or kms_key}: {exc}", EXIT_USAGE)


def _verify(
    stage: str,
    channel: str | None,
    release: str | None,
    bucket: str,
    prefix: str,
    registry: str,
    auth: Auth,
    key: ec.EllipticCurvePublicKey,
    deep: bool,
) -> VerificationReport:
    # boto3 and the registry client load only for this command.
    from eksd_adopt.archives.s3store import S3ArchiveStore
    from eksd_adopt.attestation.aws import SsmStagePointers
    from eksd_adopt.attestation.registry import RegistryDigests
    from eksd_adopt.attestation.verify import verify_adoption
    from eksd_adopt.images.client import BasicCredentials, RegistryClient

    credentials: BasicCredentials | None = None
    if auth is Auth.ECR:
        from eksd_adopt.images.ecr import ecr_client, ecr_credentials

        credentials = ecr_credentials(ecr_client())
    client = RegistryClient(registry, credentials=credentials)
    try:
        return verify_adoption(
            stage=stage,
            channel=channel,
            release_id=release,
            prefix=prefix,
            bucket=S3ArchiveStore(bucket),
            bucket_name=bucket,
            pointers=SsmStagePointers(),
            registry=RegistryDigests(client),
            public_key=key,
            deep=deep,
        )
    finally:
        client.close()


def _print(report: VerificationReport) -> None:
    from rich.table import Table

    table = Table(title=f"{report.release_id or '?'} in {report.stage}", show_lines=False)
    for column in ("kind", "subject", "result", "detail"):
        table.add_column(column, overflow="fold")
    for check in sorted(report.checks, key=lambda c: (c.ok, c.kind, c.name)):  # failures first
        style = "green" if check.ok else "bold red"
        table.add_row(check.kind, escape(check.name), f"[{style}]{check.outcome.value}[/]", escape(check.detail))
    console.print(table)
    counts = ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in sorted(report.counts().items()))
    if report.ok:
        console.print(
            f"[green]verified[/]: {report.release_id} in {report.stage} ({report.record_kind}, "
            f"{report.recorded_at:%Y-%m-%d %H:%M:%SZ}, key {report.keyid[:16]}...): {counts}",
            highlight=False,
        )
    else:
        failures = report.failures
        err_console.print(
            f"[bold red]not verified[/]: {len(failures)} of {len(report.checks)} checks failed: "
            + escape("; ".join(f"{c.kind} {c.name}: {c.outcome.value}" for c in failures[:10])),
            highlight=False,
        )


__all__ = ["verify"]
