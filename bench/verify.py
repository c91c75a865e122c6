"""`eksd-adopt verify` on a kubernetes-1-20-eks-1-shaped release, on the local services (issue: well under a second).

The release: 17 images of two platforms in a local docker-registry, 45 archives, the stage manifest,
its SSM pointer and the KMS-signed record in a moto server (KMS held to AWS's MessageType rules), as
tests/integration/attestation/support.py builds them. Timed, best and median of several rounds:

- in-process, warm: ``verify_adoption`` with its clients already built (a warm Lambda, or a caller
  verifying repeatedly); then the whole command in-process (clients, KMS GetPublicKey, output);
- whole process: ``eksd-adopt verify`` as a consumer runs it, and with ``--deep`` (every archive re-hashed);
- peers, as processes: the documented openssl recipe (jq, base64, openssl: the signature alone, no
  artifact re-checked), and skopeo reading the 17 stage tags' digests one process per image (the images'
  share of the check, done with the usual tool).
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from rich.console import Console
from rich.table import Table

from eksd_adopt.archives.s3store import S3ArchiveStore
from eksd_adopt.attestation.aws import SsmStagePointers
from eksd_adopt.attestation.kms import KmsPublicKey
from eksd_adopt.attestation.registry import RegistryDigests
from eksd_adopt.attestation.verify import verify_adoption
from eksd_adopt.images.client import RegistryClient
from eksd_adopt.local.kms import enforce_kms_message_types
from eksd_adopt.local.registry import LocalRegistry
from tests.integration.attestation.support import PromotedRelease, promote_release

REPO_ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 7
PROCESS_ROUNDS = 5
GOAL_SECONDS = 1.0
REGION = "us-east-1"
CLI = Path(sys.executable).parent / "eksd-adopt"


def _times(fn: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def _recipe() -> str:
    text = (REPO_ROOT / "docs" / "attestation.md").read_text()
    return text.split("<!-- openssl-recipe -->\n```sh\n", 1)[1].split("\n```\n<!-- /openssl-recipe -->", 1)[0]


def _check(result: subprocess.CompletedProcess[bytes], what: str) -> None:
    if result.returncode != 0:
        raise SystemExit(f"{what} failed ({result.returncode}): {result.stderr.decode()[-500:]}")


def run() -> None:
    from moto.server import ThreadedMotoServer
    from typer.testing import CliRunner

    from eksd_adopt.cli.main import app

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request from moto's server
    undo = enforce_kms_message_types()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    work = Path(tempfile.mkdtemp(prefix="eksd-bench-verify-"))
    try:
        with LocalRegistry(work / "registry") as registry:
            clients: dict[str, Any] = {n: boto3.client(n, region_name=REGION) for n in ("s3", "ssm", "kms")}  # type: ignore[call-overload]
            started = time.perf_counter()
            release = promote_release(registry.url, registry.host, bucket="eksd-bench-artifacts", **clients)
            print(f"set up a 1-20-eks-1-shaped promoted release in {time.perf_counter() - started:.1f} s", flush=True)
            _table(release, registry, clients, work, CliRunner(), app)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()
        undo()
        shutil.rmtree(work, ignore_errors=True)


def _table(
    release: PromotedRelease, registry: LocalRegistry, clients: dict[str, Any], work: Path, runner: Any, app: Any
) -> None:
    args = ["verify", "--stage", release.stage, "--channel", release.channel, "--bucket", release.bucket]
    args += ["--prefix", release.prefix, "--registry", registry.url, "--kms-key", release.kms_key]
    key = KmsPublicKey(release.kms_key, client=clients["kms"]).load()
    client = RegistryClient(registry.url)
    store, pointers = S3ArchiveStore(release.bucket, client=clients["s3"]), SsmStagePointers(client=clients["ssm"])

    def warm() -> None:
        report = verify_adoption(
            stage=release.stage,
            channel=release.channel,
            prefix=release.prefix,
            bucket=store,
            pointers=pointers,
            registry=RegistryDigests(client),
            public_key=key,
        )
        assert report.ok and len(report.checks) == 65, report.failures

    def command() -> None:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output

    def process(*extra: str) -> Callable[[], None]:
        return lambda: _check(subprocess.run([str(CLI), *args, *extra], capture_output=True, check=False), "verify")

    (work / "pub.pem").write_bytes(
        clients["s3"].get_object(Bucket=release.bucket, Key=release.public_key_key)["Body"].read()
    )
    (work / "record.intoto.jsonl").write_bytes(
        clients["s3"].get_object(Bucket=release.bucket, Key=release.record_key)["Body"].read()
    )
    recipe = _recipe()

    def openssl() -> None:
        _check(
            subprocess.run(["bash", "-euo", "pipefail", "-c", recipe], cwd=work, capture_output=True, check=False),
            "recipe",
        )

    def skopeo() -> None:
        for image in release.statement.predicate.images:
            repository = image.name.split("/", 1)[1]
            result = subprocess.run(
                [
                    "skopeo",
                    "inspect",
                    "--tls-verify=false",
                    "--raw",
                    f"docker://{registry.host}/{repository}:{image.tag}",
                ],
                capture_output=True,
                check=False,
            )
            _check(result, "skopeo inspect")

    rows: list[tuple[str, list[float], str]] = []
    warm()  # first calls open connections; what is timed is a warm caller
    rows.append(("in-process, warm: verify_adoption (65 checks)", _times(warm, ROUNDS), ""))
    command()
    rows.append(("in-process: the verify command (clients, GetPublicKey, table)", _times(command, ROUNDS), ""))
    rows.append(("whole process: eksd-adopt verify", _times(process(), PROCESS_ROUNDS), ""))
    rows.append(("whole process: eksd-adopt verify --deep", _times(process("--deep"), PROCESS_ROUNDS), ""))
    # The same command as a process of its own, without cli.main importing every other command first.
    alone = [sys.executable, "-c", "import sys, typer; from eksd_adopt.cli.verify import verify; typer.run(verify)"]
    rows.append(
        (
            "whole process: the verify command alone (typer.run)",
            _times(
                lambda: _check(subprocess.run([*alone, *args[1:]], capture_output=True, check=False), "alone"),
                PROCESS_ROUNDS,
            ),
            "",
        )
    )
    rows.append(("peer: openssl recipe (signature only, no artifact checked)", _times(openssl, PROCESS_ROUNDS), ""))
    if shutil.which("skopeo"):
        rows.append(("peer: skopeo inspect of the 17 stage tags (one process each)", _times(skopeo, 3), ""))
    python = _times(
        lambda: subprocess.run([sys.executable, "-c", "import boto3, pydantic"], check=True), PROCESS_ROUNDS
    )
    rows.append(("floor: python -c 'import boto3, pydantic'", python, ""))
    client.close()

    table = Table(
        title="eksd-adopt verify, kubernetes-1-20-eks-1 shape (17 images, 45 archives), local registry + moto"
    )
    for column in ("run", "best s", "median s", f"goal < {GOAL_SECONDS:.0f} s", "vs whole process"):
        table.add_column(column, justify="right")
    whole = min(rows[2][1])
    for label, samples, _ in rows:
        best = min(samples)
        goal = ("met" if best < GOAL_SECONDS else "not met") if label.startswith(("in-process", "whole")) else ""
        table.add_row(label, f"{best:.3f}", f"{statistics.median(samples):.3f}", goal, f"{best / whole:.2f}x")
    Console(width=170).print(table)
