"""The end-to-end demo: a whole EKS-D release adoption on this machine, through the real pipeline.

Local services stand in for AWS and upstream (moto server with Step Functions execution, two
Debian ``docker-registry`` instances for ECR Public and the private ECR endpoint, a CDN, an
upstream topic); the upstream simulator publishes a release shaped like a real manifest; then
nothing is shortcut: notification → SNS → intake queue → intake function → workflow (validate,
mirror, verify, test) → approval gate → the ``eksd-adopt approve`` CLI (SigV4-signed) → promotion →
events to a subscriber queue. Every step is checked independently at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from eksd_adopt.ledger.dynamodb import DynamoDbLedger
from eksd_adopt.ledger.model import ReleaseRecord, ReleaseStatus
from eksd_adopt.local.aws import ACCOUNT, REGION, LocalAws, RuntimeSettings, function_arn
from eksd_adopt.local.cdn import LocalCdn
from eksd_adopt.local.eventsource import SqsEventSource
from eksd_adopt.local.images import image_publisher
from eksd_adopt.local.registry import LocalRegistry
from eksd_adopt.local.upstream import PublishedRelease, UpstreamSimulator
from eksd_adopt.release.validate import validate_manifest

APPROVER = f"arn:aws:iam::{ACCOUNT}:role/ReleaseApprovers"
UPSTREAM_TOPIC = "eks-distro-updates"  # same name as the real topic; the intake trusts only its ARN
STAGE = "prod"
_MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
TERMINAL = frozenset({ReleaseStatus.PROMOTED, ReleaseStatus.FAILED, ReleaseStatus.REJECTED, ReleaseStatus.EXPIRED})


class DemoError(RuntimeError):
    """The demo could not finish; the message says where it stopped."""


@dataclass
class MirrorTally:
    """Totals of the mirror functions' results, counted as the workflow calls them."""

    images: int = 0
    archives: int = 0
    image_bytes: int = 0
    archive_bytes: int = 0
    blobs_uploaded: int = 0
    blobs_mounted: int = 0
    blobs_skipped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, function: str, result: dict[str, Any]) -> None:
        with self.lock:
            if function == "mirror_image":
                self.images += 1
                self.image_bytes += int(result.get("bytes_uploaded", 0))
                self.blobs_uploaded += int(result.get("blobs_uploaded", 0))
                self.blobs_mounted += int(result.get("blobs_mounted", 0))
                self.blobs_skipped += int(result.get("blobs_skipped", 0))
            else:
                self.archives += 1
                self.archive_bytes += int(result.get("bytes", 0))


@dataclass
class DemoReport:
    release_id: str
    status: str
    phases: list[tuple[str, float, str]]
    tally: MirrorTally
    images_verified: int
    archives_verified: int
    ssm_pointer: dict[str, Any] | None
    events: Counter[str]
    notification_to_promoted: float | None
    explore: dict[str, str]


@dataclass
class LocalStack:
    """The running local services, and what a person needs to explore them with the CLI."""

    runtime: LocalAws
    upstream_registry: LocalRegistry
    private_registry: LocalRegistry
    cdn: LocalCdn
    upstream_topic_arn: str
    subscriber_queue_url: str
    intake_source: SqsEventSource
    tally: MirrorTally

    def cli_env(self) -> dict[str, str]:
        """Environment for ``eksd-adopt`` commands against the local services (credentials are local-only)."""
        return {
            "AWS_ENDPOINT_URL": self.runtime.url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "LEDGER_TABLE": self.runtime.ledger_table,
            "STATE_MACHINE_ARN": self.runtime.state_machine_arn,
            "EVENTS_TOPIC_ARN": self.runtime.events_topic_arn,
            "EKSD_ADOPT_EVENTS_TOPIC_ARN": self.runtime.events_topic_arn,
            "EKSD_ADOPT_APPROVALS_URL": self.runtime.approvals_url,
            "EKSD_ADOPT_ENDPOINTS": ",".join(self.runtime.settings.endpoints),
        }


@contextmanager
def local_stack(channel: str, workdir: Path, *, approvers: tuple[str, ...] = (APPROVER,)) -> Iterator[LocalStack]:
    """Start every local service; everything started is stopped on exit (also on Ctrl-C)."""
    with ExitStack() as stack:
        upstream_registry = stack.enter_context(LocalRegistry(workdir / "upstream-registry"))
        private_registry = stack.enter_context(LocalRegistry(workdir / "private-registry"))
        cdn = LocalCdn(workdir / "cdn")
        cdn.start()
        stack.callback(cdn.stop)
        settings = RuntimeSettings(
            stages=(STAGE,),
            approval_timeout_seconds=3600,
            mirror_concurrency=8,
            stage_rules={STAGE: {"approvers": list(approvers), "required_approvals": 1}},
            target_registry_url=private_registry.url,
            endpoints=(f"public.ecr.aws={upstream_registry.url}", f"distro.eks.amazonaws.com={cdn.base_url}"),
        )
        runtime = stack.enter_context(LocalAws(settings))
        sns, sqs = runtime.client("sns"), runtime.client("sqs")
        upstream_topic_arn = sns.create_topic(Name=UPSTREAM_TOPIC)["TopicArn"]
        # The intake queue keeps the SNS envelope (no raw delivery), as the deployed subscription does.
        intake_url = sqs.create_queue(QueueName="eksd-adopt-intake", Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
        intake_arn = sqs.get_queue_attributes(QueueUrl=intake_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=upstream_topic_arn, Protocol="sqs", Endpoint=intake_arn)
        # A team's subscription: every event of this channel.
        subscriber_url = sqs.create_queue(QueueName="team-platform-events")["QueueUrl"]
        subscriber_arn = sqs.get_queue_attributes(QueueUrl=subscriber_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=runtime.events_topic_arn,
            Protocol="sqs",
            Endpoint=subscriber_arn,
            Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"channel": [channel]})},
        )
        stack.enter_context(
            runtime.env(
                STATE_MACHINE_ARN=runtime.state_machine_arn,
                UPSTREAM_TOPIC_ARN=upstream_topic_arn,
                TRACKED_CHANNELS=channel,
                POWERTOOLS_METRICS_DISABLED="true",  # metrics would print EMF lines over the progress display
                MANIFEST_NOT_FOUND_RETRY_SECONDS="60",
            )
        )
        tally = MirrorTally()
        for name in ("mirror_image", "mirror_archive"):
            runtime.register_function(name, _counting(runtime, name, tally))
        source = SqsEventSource(runtime, intake_url, "intake").start()
        stack.callback(source.stop)
        yield LocalStack(
            runtime, upstream_registry, private_registry, cdn, upstream_topic_arn, subscriber_url, source, tally
        )


def _counting(runtime: LocalAws, name: str, tally: MirrorTally) -> Callable[[dict[str, Any], Any], Any]:
    real = runtime.load_handler(name)

    def handler(event: dict[str, Any], context: Any) -> Any:
        result = real(event, context)
        tally.count(name, result)
        return result

    return handler


Progress = Callable[[str, str, int, int], None]  # (phase, detail, done, total)


def run_adoption(
    stack: LocalStack,
    template: str,
    *,
    approve: bool = True,
    progress: Progress | None = None,
    archive_size: int = 4096,
    layer_sizes: tuple[int, ...] = (2048, 4096),
    timeout: float = 300,
) -> DemoReport:
    """Publish a release upstream, announce it, and follow it through the real pipeline."""
    follower = _Follower(stack, progress or (lambda *_: None), timeout)
    release = follower.publish(template, archive_size=archive_size, layer_sizes=layer_sizes)
    expected = validate_manifest(release.manifest_text).require_valid()
    announced = follower.announce(release)
    follower.mirror(release, len(expected.image_assets()) + len(expected.archive_assets()))
    follower.until_gate(release)
    promoted_after = None
    if approve:
        follower.approve_and_promote(release)
        promoted_after = time.monotonic() - announced
    final = follower.ledger.get(release.release_id)
    assert final is not None
    images_ok, archives_ok = _check_independently(stack, release, promoted=approve)
    return DemoReport(
        release_id=release.release_id,
        status=final.status.value,
        phases=follower.phases,
        tally=stack.tally,
        images_verified=images_ok,
        archives_verified=archives_ok,
        ssm_pointer=_ssm_pointer(stack.runtime, release.channel) if approve else None,
        events=_collect_events(stack, expect_promoted=approve),
        notification_to_promoted=promoted_after,
        explore=stack.cli_env(),
    )


class _Follower:
    """Follows one release through the pipeline by what the ledger and the mirror functions say."""

    def __init__(self, stack: LocalStack, progress: Progress, timeout: float) -> None:
        self.stack = stack
        self.progress = progress
        self.timeout = timeout
        self.phases: list[tuple[str, float, str]] = []
        self.ledger = DynamoDbLedger(stack.runtime.ledger_table, resource=stack.runtime.resource("dynamodb"))
        self._mark = time.monotonic()

    def _phase(self, name: str, detail: str) -> None:
        now = time.monotonic()
        self.phases.append((name, now - self._mark, detail))
        self._mark = now

    def _status(self, release_id: str, wanted: set[ReleaseStatus] | None, stage: str) -> ReleaseRecord | None:
        current = self.ledger.get(release_id)
        if current is None:
            return None
        if current.status in TERMINAL and (wanted is None or current.status not in wanted):
            raise DemoError(f"release {release_id} ended {current.status.value}: {current.failure_cause or stage}")
        self.progress(stage, current.status.value, 0, 1)
        return current if wanted is None or current.status in wanted else None

    def publish(self, template: str, *, archive_size: int, layer_sizes: tuple[int, ...]) -> PublishedRelease:
        shape = validate_manifest(template).require_valid()
        total = len(shape.image_assets()) + len(shape.archive_assets())
        count = 0

        def on_artifact(name: str) -> None:
            nonlocal count
            count += 1
            self.progress("publish", name, count, total)

        publisher = image_publisher(self.stack.upstream_registry.url, layer_sizes=layer_sizes, seed="demo")
        simulator = UpstreamSimulator(self.stack.cdn.root, publisher)
        release = simulator.publish_release(template, archive_size=archive_size, on_artifact=on_artifact)
        self._phase(
            "upstream publishes the release", f"{total} artifacts, the manifest, releasechannels/{release.channel}.yaml"
        )
        return release

    def announce(self, release: PublishedRelease) -> float:
        announced = time.monotonic()
        self.stack.runtime.client("sns").publish(
            TopicArn=self.stack.upstream_topic_arn, Subject=release.subject, Message=release.announcement
        )
        self.progress("notify", release.announcement.split(".")[0], 0, 1)
        record = _wait(lambda: self._status(release.release_id, None, "notify"), self.timeout, "the intake")
        self.progress("notify", f"ledger: {record.status.value}", 1, 1)
        self._phase("notification → intake → workflow started", record.status.value)
        return announced

    def mirror(self, release: PublishedRelease, jobs: int) -> None:
        tally = self.stack.tally

        def done() -> ReleaseRecord | None:
            self.progress("mirror", "images and archives", tally.images + tally.archives, jobs)
            return self._status(release.release_id, set(ReleaseStatus) - {ReleaseStatus.ADOPTING}, "mirror")

        _wait(done, self.timeout, "the mirror")
        size = _size(tally.image_bytes + tally.archive_bytes)
        self._phase(
            "validate, plan, mirror (verified while streaming)",
            f"{tally.images} images, {tally.archives} archives, {size}",
        )

    def until_gate(self, release: PublishedRelease) -> None:
        _wait(
            lambda: self._status(release.release_id, {ReleaseStatus.AWAITING_APPROVAL}, "verify"),
            self.timeout,
            "verification, tests and the approval gate",
        )
        self.progress("verify", "awaiting approval", 1, 1)
        self._phase("verify, smoke tests, approval requested", "awaiting approval")

    def approve_and_promote(self, release: PublishedRelease) -> None:
        identity = self.stack.runtime.add_identity(APPROVER)
        approval = _approve_with_cli(self.stack, release.release_id, identity.access_key, identity.secret_key)
        self.progress("approve", approval, 1, 1)
        _wait(lambda: self._status(release.release_id, {ReleaseStatus.PROMOTED}, "promote"), self.timeout, "promotion")
        self.progress("promote", STAGE, 1, 1)
        self._phase("approved with `eksd-adopt approve`, promoted to prod", approval)


def _approve_with_cli(stack: LocalStack, release_id: str, access_key: str, secret_key: str) -> str:
    """The approver's path: the installed CLI signs the request with the approver's own credentials."""
    env = {
        **os.environ,
        **stack.cli_env(),
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
    }
    env.pop("AWS_SESSION_TOKEN", None)
    command = [sys.executable, "-m", "eksd_adopt", "approve", release_id, "--stage", STAGE]
    command += ["--comment", "approved by the demo"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise DemoError(f"eksd-adopt approve failed ({result.returncode}): {result.stderr.strip() or result.stdout}")
    return " ".join(result.stdout.split())[:120] or "approved"


def _collect_events(stack: LocalStack, *, expect_promoted: bool) -> Counter[str]:
    counts: Counter[str] = Counter()
    wanted = "release.promoted" if expect_promoted else "release.awaiting_approval"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for body in stack.runtime.drain(stack.subscriber_queue_url):
            counts[json.loads(body).get("event_type", "?")] += 1
        if counts[wanted]:
            break
        time.sleep(0.2)
    return counts


def _check_independently(stack: LocalStack, release: PublishedRelease, *, promoted: bool) -> tuple[int, int]:
    """Digests in the private registry and checksums of the objects in S3, read back without our copier."""
    runtime = stack.runtime
    stages = ["staging"] + ([STAGE] if promoted else [])
    images = 0
    # Plain HTTP HEADs, not our registry client: the registry itself says which digest a tag names.
    with httpx.Client(base_url=stack.private_registry.url, headers={"Accept": _MANIFEST_TYPES}) as registry:
        for uri, digest in release.images.items():
            repository, _, tag = uri.split("/", 1)[1].rpartition(":")
            for stage in stages:
                response = registry.head(f"/v2/{runtime.settings.prefix}/{stage}/{repository}/manifests/{tag}")
                found = response.headers.get("docker-content-digest")
                if response.status_code != 200 or found != digest:
                    raise DemoError(f"{stage} copy of {uri} has digest {found}, upstream {digest}")
            images += 1
    s3 = runtime.client("s3")
    archives = 0
    for uri, (_, sha256, sha512) in release.archives.items():
        path = uri.split(f"/kubernetes-{release.channel}/releases/{release.number}/", 1)[1]
        for stage in stages:
            key = f"{runtime.settings.prefix}/{stage}/kubernetes-{release.channel}/releases/{release.number}/{path}"
            body = s3.get_object(Bucket=runtime.bucket, Key=key)["Body"].read()
            if hashlib.sha256(body).hexdigest() != sha256 or hashlib.sha512(body).hexdigest() != sha512:
                raise DemoError(f"s3://{runtime.bucket}/{key} does not match the manifest's checksums")
        archives += 1
    return images, archives


def _ssm_pointer(runtime: LocalAws, channel: str) -> dict[str, Any]:
    value = runtime.client("ssm").get_parameter(Name=f"/eksd-adopt/{STAGE}/{channel}")["Parameter"]["Value"]
    return dict(json.loads(value))


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return str(count)


__all__ = ["APPROVER", "DemoError", "DemoReport", "LocalStack", "function_arn", "local_stack", "run_adoption"]
