"""A running demo as other shells see it: its state file, the identities' environments, another release.

``eksd-adopt demo --keep-running``/``--no-approve`` writes ``demo.json`` into its working folder
(``$TMPDIR/eksd-adopt-demo-*``, mode 0600: it holds the local identities' keys) and prints where
it is. ``eksd-adopt demo publish`` reads it to act as upstream does for a real release: it writes
the artifacts and manifest into the CDN's folder, pushes the images into the upstream registry and
announces the release on the upstream topic; the running demo's pipeline does the rest.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from pydantic import BaseModel, ConfigDict, Field

from eksd_adopt.errors import EksdAdoptError
from eksd_adopt.ledger.dynamodb import DynamoDbLedger
from eksd_adopt.ledger.model import ReleaseRecord, ReleaseStatus
from eksd_adopt.local.images import image_publisher
from eksd_adopt.local.upstream import PublishedRelease, UpstreamSimulator, eksd_base_layers

STATE_ENV = "EKSD_ADOPT_DEMO_STATE"
STATE_FILE = "demo.json"
WORKDIR_PREFIX = "eksd-adopt-demo-"
IMAGE_SEED = "demo"
LOCAL_KEY = "local"  # moto accepts any credentials; the approvals endpoint checks the identities' own

# Where `demo publish` stops waiting: the release needs a person now, or the service is done with it.
SETTLED = frozenset(
    {
        ReleaseStatus.AWAITING_APPROVAL,
        ReleaseStatus.PROMOTED,
        ReleaseStatus.REJECTED,
        ReleaseStatus.EXPIRED,
        ReleaseStatus.FAILED,
        ReleaseStatus.SUPERSEDED,
        ReleaseStatus.INVALID,
    }
)


class DemoError(EksdAdoptError):
    """The demo could not do what was asked; the message says where it stopped."""


class DemoIdentity(BaseModel):
    """A local principal whose keys sign requests to the approvals endpoint."""

    model_config = ConfigDict(frozen=True)

    name: str
    principal_arn: str
    access_key: str
    secret_key: str
    approver: bool


class DemoState(BaseModel):
    """What another shell needs to reach a running demo's services."""

    pid: int
    workdir: Path
    channel: str
    stage: str
    region: str
    aws_endpoint_url: str
    ledger_table: str
    state_machine_arn: str
    events_topic_arn: str
    approvals_url: str
    endpoints: list[str]
    upstream_topic_arn: str
    upstream_registry_url: str
    cdn_root: Path
    template: Path
    archive_size: int = Field(ge=1)
    layer_sizes: list[int]
    identities: list[DemoIdentity]

    @property
    def path(self) -> Path:
        return self.workdir / STATE_FILE

    def identity(self, name: str) -> DemoIdentity:
        for identity in self.identities:
            if identity.name == name:
                return identity
        raise DemoError(f"the demo has no identity {name!r} ({', '.join(i.name for i in self.identities)})")

    def env(self, identity: DemoIdentity) -> dict[str, str]:
        """The environment of ``eksd-adopt`` commands run as ``identity`` against the local services."""
        return {
            STATE_ENV: str(self.path),
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "AWS_ACCESS_KEY_ID": identity.access_key,
            "AWS_SECRET_ACCESS_KEY": identity.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "LEDGER_TABLE": self.ledger_table,
            "STATE_MACHINE_ARN": self.state_machine_arn,
            "EVENTS_TOPIC_ARN": self.events_topic_arn,
            "EKSD_ADOPT_EVENTS_TOPIC_ARN": self.events_topic_arn,
            "EKSD_ADOPT_APPROVALS_URL": self.approvals_url,
            "EKSD_ADOPT_ENDPOINTS": ",".join(self.endpoints),
        }

    def write(self) -> Path:
        """Write the state file (owner-only: it holds the identities' keys), replacing it at once."""
        partial = self.path.with_suffix(".partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(self.model_dump_json(indent=2))
        partial.replace(self.path)
        return self.path

    @classmethod
    def load(cls, path: Path) -> DemoState:
        try:
            state = cls.model_validate_json(path.read_text())
        except OSError as exc:
            raise DemoError(f"cannot read the demo's state file {path}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise DemoError(f"{path} is not a demo state file: {exc}") from exc
        if not _alive(state.pid):
            raise DemoError(f"the demo that wrote {path} (pid {state.pid}) is no longer running")
        return state

    # ----- clients of the local services --------------------------------------------------------
    def client(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.aws_endpoint_url,
            region_name=self.region,
            aws_access_key_id=LOCAL_KEY,
            aws_secret_access_key=LOCAL_KEY,
        )

    def ledger(self) -> DynamoDbLedger:
        resource = boto3.resource(
            "dynamodb",
            endpoint_url=self.aws_endpoint_url,
            region_name=self.region,
            aws_access_key_id=LOCAL_KEY,
            aws_secret_access_key=LOCAL_KEY,
        )
        return DynamoDbLedger(self.ledger_table, resource=resource)


def find_state(path: Path | None = None, environ: dict[str, str] | None = None) -> DemoState:
    """The running demo: ``path``, else ``$EKSD_ADOPT_DEMO_STATE``, else the one running demo under ``$TMPDIR``."""
    environ = dict(os.environ) if environ is None else environ
    if path is not None:
        return DemoState.load(path)
    if environ.get(STATE_ENV):
        return DemoState.load(Path(environ[STATE_ENV]))
    running: list[DemoState] = []
    for candidate in sorted(Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*/{STATE_FILE}")):
        try:
            running.append(DemoState.load(candidate))
        except DemoError:
            continue  # a demo that was killed leaves its folder behind
    if not running:
        raise DemoError(
            f"no running demo found under {tempfile.gettempdir()}: start one with "
            "`eksd-adopt demo --keep-running` (or --no-approve), or name its state file with --state"
        )
    if len(running) > 1:
        listed = ", ".join(str(state.path) for state in running)
        raise DemoError(f"{len(running)} demos are running ({listed}): name one with --state or ${STATE_ENV}")
    return running[0]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


# ----- upstream, as the demo plays it -----------------------------------------------------------
def publish_release(
    state: DemoState,
    *,
    number: int | None = None,
    kubernetes_version: str | None = None,
    on_artifact: Callable[[str], None] | None = None,
) -> PublishedRelease:
    """Upstream publishes a release of the demo's channel, shaped like the demo's manifest (the template's number by default)."""
    publisher = image_publisher(
        state.upstream_registry_url,
        layer_sizes=tuple(state.layer_sizes),
        seed=IMAGE_SEED,
        shared_layers=eksd_base_layers,
    )
    simulator = UpstreamSimulator(state.cdn_root, publisher)
    return simulator.publish_release(
        state.template.read_text(),
        channel=state.channel,
        number=number,
        archive_size=state.archive_size,
        kubernetes_version=kubernetes_version,
        on_artifact=on_artifact,
    )


def announce(state: DemoState, release: PublishedRelease) -> str:
    """Send the release's plain-text notification on the upstream topic; returns the SNS message id."""
    sent = state.client("sns").publish(
        TopicArn=state.upstream_topic_arn, Subject=release.subject, Message=release.announcement
    )
    return str(sent["MessageId"])


def follow(
    state: DemoState,
    release_id: str,
    *,
    until: frozenset[ReleaseStatus] = SETTLED,
    timeout: float = 180,
    on_status: Callable[[ReleaseRecord], None] | None = None,
) -> ReleaseRecord:
    """Wait until the ledger shows ``release_id`` in one of ``until``; ``on_status`` hears every new status."""
    ledger = state.ledger()
    deadline = time.monotonic() + timeout
    seen: ReleaseStatus | None = None
    while True:
        record = ledger.get(release_id)
        if record is not None and record.status is not seen:
            seen = record.status
            if on_status:
                on_status(record)
            if record.status in until:
                return record
        if time.monotonic() > deadline:
            where = f"still {seen.value}" if seen else "not in the ledger"
            raise DemoError(f"timed out after {timeout:.0f}s waiting for {release_id} ({where})")
        time.sleep(0.2)


__all__ = [
    "SETTLED",
    "STATE_ENV",
    "DemoError",
    "DemoIdentity",
    "DemoState",
    "announce",
    "find_state",
    "follow",
    "publish_release",
]
