"""The end-to-end demo: a whole EKS-D release adoption on this machine, through the real pipeline.

Local services stand in for AWS and upstream (moto server with Step Functions execution, two
Debian ``docker-registry`` instances for ECR Public and the private ECR endpoint, a CDN, an
upstream topic); the upstream simulator publishes a release shaped like a real manifest; then
nothing is shortcut: notification → SNS → intake queue (with the stack's DLQ) → intake function →
workflow (validate, mirror, verify, test) → approval gate → the ``eksd-adopt approve`` CLI
(SigV4-signed by a local approver identity) → promotion → events to a subscriber queue. Every step
is checked independently at the end. Two local identities sign requests to the approvals endpoint:
``alice``, a session of the stage's approver role, and ``bob``, who is not an approver.
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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from eksd_adopt.attestation.record import records_prefix
from eksd_adopt.ledger.model import ReleaseRecord, ReleaseStatus
from eksd_adopt.local.aws import ACCOUNT, REGION, LocalAws, RuntimeSettings, function_arn
from eksd_adopt.local.cdn import LocalCdn
from eksd_adopt.local.checkout import checkout
from eksd_adopt.local.ecrfront import EcrFront
from eksd_adopt.local.eventsource import SqsEventSource
from eksd_adopt.local.explore import DemoError, DemoIdentity, DemoState, announce, publish_release
from eksd_adopt.local.registry import LocalRegistry
from eksd_adopt.local.scanner import DEMO_HIGH, DEMO_UNSCANNABLE, seed_demo
from eksd_adopt.local.upstream import PublishedRelease
from eksd_adopt.release.validate import validate_manifest

APPROVER = f"arn:aws:iam::{ACCOUNT}:role/ReleaseApprovers"  # the prod stage's approvers: any session of this role
ALICE = f"arn:aws:sts::{ACCOUNT}:assumed-role/ReleaseApprovers/alice"
BOB = f"arn:aws:sts::{ACCOUNT}:assumed-role/Developers/bob"
UPSTREAM_TOPIC = "eks-distro-updates"  # same name as the real topic; the intake trusts only its ARN
STAGE = "prod"
# The stack's redrive policy (infra/constructs/intake.py, MAX_RECEIVE_COUNT): a message the intake
# keeps refusing moves to the DLQ after this many receives instead of coming back for ever.
INTAKE_MAX_RECEIVE_COUNT = 7
INTAKE_VISIBILITY_SECONDS = 5  # the stack's is 6 min; the demo runs the same schedule in seconds
# The stack's rule: the not-yet-published window is (receives - 2) visibility timeouts long.
NOT_FOUND_RETRY_SECONDS = (INTAKE_MAX_RECEIVE_COUNT - 2) * INTAKE_VISIBILITY_SECONDS
_MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
TERMINAL = frozenset({ReleaseStatus.PROMOTED, ReleaseStatus.FAILED, ReleaseStatus.REJECTED, ReleaseStatus.EXPIRED})


@dataclass(frozen=True)
class ReleaseTally:
    """What the mirror and promote functions reported for one release."""

    images: int = 0
    archives: int = 0
    image_bytes: int = 0
    archive_bytes: int = 0
    blobs_uploaded: int = 0
    blobs_mounted: int = 0
    blobs_skipped: int = 0
    promoted_images: int = 0
    promoted_mounted: int = 0
    promoted_skipped: int = 0

    @property
    def jobs(self) -> int:
        return self.images + self.archives


class AdoptionTally:
    """The functions' results per release, counted as the workflow calls them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._releases: dict[str, ReleaseTally] = {}

    def of(self, release_id: str) -> ReleaseTally:
        with self._lock:
            return self._releases.get(release_id, ReleaseTally())

    def count(self, function: str, event: dict[str, Any], result: dict[str, Any]) -> None:
        if function == "workflow_promote":
            release_id = str((event.get("release") or {}).get("release_id", "?"))
        else:
            release_id = str(event.get("release_id", "?"))
        with self._lock:
            t = self._releases.get(release_id, ReleaseTally())
            if function == "images_mirror":
                t = replace(
                    t,
                    images=t.images + 1,
                    image_bytes=t.image_bytes + int(result.get("bytes_uploaded", 0)),
                    blobs_uploaded=t.blobs_uploaded + int(result.get("blobs_uploaded", 0)),
                    blobs_mounted=t.blobs_mounted + int(result.get("blobs_mounted", 0)),
                    blobs_skipped=t.blobs_skipped + int(result.get("blobs_skipped", 0)),
                )
            elif function == "archives_mirror":
                t = replace(t, archives=t.archives + 1, archive_bytes=t.archive_bytes + int(result.get("bytes", 0)))
            else:
                t = replace(
                    t,
                    promoted_images=t.promoted_images + int(result.get("images", 0)),
                    promoted_mounted=t.promoted_mounted + int(result.get("blobs_mounted", 0)),
                    promoted_skipped=t.promoted_skipped + int(result.get("blobs_skipped", 0)),
                )
            self._releases[release_id] = t


COUNTED_FUNCTIONS = ("images_mirror", "archives_mirror", "workflow_promote")


@dataclass
class DemoReport:
    release_id: str
    status: str
    phases: list[tuple[str, float, str]]
    tally: ReleaseTally
    images_verified: int
    archives_verified: int
    ssm_pointer: dict[str, Any] | None
    events: Counter[str]
    notification_to_promoted: float | None
    state: DemoState
    approval_view: str = ""  # `eksd-adopt approvals show` of the gate, as the approver read it
    record: RecordCheck | None = None


@dataclass(frozen=True)
class RecordCheck:
    """The promotion's signed record, checked by ``eksd-adopt verify`` and by the documented openssl recipe."""

    key: str
    verify: str  # eksd-adopt verify's verdict line
    openssl: str  # what openssl dgst -verify printed


@dataclass
class LocalStack:
    """The running local services, and what a person needs to explore them with the CLI."""

    runtime: LocalAws
    upstream_registry: LocalRegistry
    private_registry: LocalRegistry
    cdn: LocalCdn
    upstream_topic_arn: str
    subscriber_queue_url: str
    intake_queue_url: str
    dead_letter_queue_url: str
    intake_source: SqsEventSource
    tally: AdoptionTally
    state: DemoState
    registry_url: str = ""  # the private registry as the functions reach it (the ECR front): records name it

    @property
    def approver(self) -> DemoIdentity:
        return self.state.identity("alice")

    @property
    def other(self) -> DemoIdentity:
        return self.state.identity("bob")

    def cli_env(self, identity: DemoIdentity | None = None) -> dict[str, str]:
        """Environment for ``eksd-adopt`` commands against the local services, as ``identity`` (the approver)."""
        return self.state.env(identity or self.approver)


@contextmanager
def local_stack(
    template: str,
    workdir: Path,
    *,
    approvers: tuple[str, ...] = (APPROVER,),
    archive_size: int = 4096,
    layer_sizes: tuple[int, ...] = (2048, 4096),
) -> Iterator[LocalStack]:
    """Start every local service for releases shaped like ``template`` (a manifest's text); all stopped on exit."""
    channel = validate_manifest(template).require_valid().channel
    with ExitStack() as stack:
        upstream_registry = stack.enter_context(LocalRegistry(workdir / "upstream-registry"))
        private_registry = stack.enter_context(LocalRegistry(workdir / "private-registry"))
        # The functions reach it as ECR: behind the ECR front, logging in with moto's GetAuthorizationToken,
        # with blob mounting on as the stack sets it.
        private_ecr = stack.enter_context(EcrFront(private_registry.url, blob_mounting=True))
        cdn = LocalCdn(workdir / "cdn")
        cdn.start()
        stack.callback(cdn.stop)
        settings = RuntimeSettings(
            stages=(STAGE,),
            approval_timeout_seconds=3600,
            mirror_concurrency=8,
            stage_rules={
                STAGE: {
                    "approvers": list(approvers),
                    "required_approvals": 1,
                    # New HIGH findings need accepting; pause is FROM scratch, which ECR does not scan.
                    "findings": {"block_on": "HIGH", "unscannable": [DEMO_UNSCANNABLE]},
                }
            },
            target_registry_url=private_ecr.url,
            endpoints=(f"public.ecr.aws={upstream_registry.url}", f"distro.eks.amazonaws.com={cdn.base_url}"),
            extra_env={"TARGET_REGISTRY_AUTH": "ecr"},
        )
        runtime = stack.enter_context(LocalAws(settings))
        seed_demo(runtime.scanner)  # one new HIGH finding, so the approver's findings table is not empty
        sns, sqs = runtime.client("sns"), runtime.client("sqs")
        upstream_topic_arn = sns.create_topic(Name=UPSTREAM_TOPIC)["TopicArn"]
        intake_url, dead_letter_url = create_intake_queue(runtime, upstream_topic_arn)
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
                MANIFEST_NOT_FOUND_RETRY_SECONDS=str(NOT_FOUND_RETRY_SECONDS),
            )
        )
        tally = AdoptionTally()
        for name in COUNTED_FUNCTIONS:
            runtime.register_function(name, _counting(runtime, name, tally))
        source = SqsEventSource(runtime, intake_url, "intake_notification").start()
        stack.callback(source.stop)
        state = _demo_state(
            runtime, workdir, template, upstream_topic_arn, upstream_registry, cdn, archive_size, layer_sizes
        )
        state.write()
        yield LocalStack(
            runtime,
            upstream_registry,
            private_registry,
            cdn,
            upstream_topic_arn,
            subscriber_url,
            intake_url,
            dead_letter_url,
            source,
            tally,
            state,
            registry_url=private_ecr.url,
        )


def create_intake_queue(
    runtime: LocalAws, topic_arn: str, *, visibility_seconds: int = INTAKE_VISIBILITY_SECONDS
) -> tuple[str, str]:
    """The intake queue as the stack builds it, subscribed to ``topic_arn``; returns (queue URL, DLQ URL).

    The SNS envelope is kept (no raw delivery), as the deployed subscription does, and the redrive
    policy is the stack's, so a message the intake keeps refusing ends in the DLQ.
    """
    sqs = runtime.client("sqs")
    dead_letter_url = sqs.create_queue(QueueName="eksd-adopt-intake-dlq")["QueueUrl"]
    redrive = {"deadLetterTargetArn": _queue_arn(sqs, dead_letter_url), "maxReceiveCount": INTAKE_MAX_RECEIVE_COUNT}
    queue_url = sqs.create_queue(
        QueueName="eksd-adopt-intake",
        Attributes={"VisibilityTimeout": str(visibility_seconds), "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    runtime.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=_queue_arn(sqs, queue_url))
    return str(queue_url), str(dead_letter_url)


def _queue_arn(sqs: Any, queue_url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _demo_state(
    runtime: LocalAws,
    workdir: Path,
    template: str,
    upstream_topic_arn: str,
    upstream_registry: LocalRegistry,
    cdn: LocalCdn,
    archive_size: int,
    layer_sizes: tuple[int, ...],
) -> DemoState:
    """The state another shell reads (``eksd-adopt demo publish``), with the two identities' keys.

    The manifest the releases are shaped on is kept beside it, so ``demo publish`` shapes its release alike.
    """
    template_path = workdir / "template.yaml"
    template_path.write_text(template)
    identities = []
    for name, principal, approver in (("alice", ALICE, True), ("bob", BOB, False)):
        identity = runtime.add_identity(principal)
        identities.append(DemoIdentity(name=name, approver=approver, **_keys(identity)))
    return DemoState(
        pid=os.getpid(),
        workdir=workdir,
        channel=validate_manifest(template).require_valid().channel,
        stage=STAGE,
        region=REGION,
        aws_endpoint_url=runtime.url,
        ledger_table=runtime.ledger_table,
        state_machine_arn=runtime.state_machine_arn,
        events_topic_arn=runtime.events_topic_arn,
        approvals_url=runtime.approvals_url,
        endpoints=list(runtime.settings.endpoints),
        upstream_topic_arn=upstream_topic_arn,
        upstream_registry_url=upstream_registry.url,
        cdn_root=cdn.root,
        template=template_path,
        archive_size=archive_size,
        layer_sizes=list(layer_sizes),
        identities=identities,
    )


def _keys(identity: Any) -> dict[str, str]:
    return {
        "principal_arn": identity.principal_arn,
        "access_key": identity.access_key,
        "secret_key": identity.secret_key,
    }


def _counting(runtime: LocalAws, name: str, tally: AdoptionTally) -> Callable[[dict[str, Any], Any], Any]:
    real = runtime.load_handler(name)

    def handler(event: dict[str, Any], context: Any) -> Any:
        result = real(event, context)
        tally.count(name, event, result)
        return result

    return handler


Progress = Callable[[str, str, int, int], None]  # (phase, detail, done, total)


def run_adoption(
    stack: LocalStack,
    *,
    approve: bool = True,
    progress: Progress | None = None,
    timeout: float = 300,
) -> DemoReport:
    """Publish the template's release upstream, announce it, and follow it through the real pipeline."""
    follower = _Follower(stack, progress or (lambda *_: None), timeout)
    release = follower.publish()
    expected = validate_manifest(release.manifest_text).require_valid()
    announced = follower.announce(release)
    follower.mirror(release, len(expected.image_assets()) + len(expected.archive_assets()))
    follower.until_gate(release)
    approval_view = _show_with_cli(stack, release.release_id, stack.approver)
    promoted_after = None
    record = None
    if approve:
        follower.approve_and_promote(release)
        promoted_after = time.monotonic() - announced
        record = follower.verify_record(release)
    final = follower.ledger.get(release.release_id)
    assert final is not None
    images_ok, archives_ok = _check_independently(stack, release, promoted=approve)
    return DemoReport(
        release_id=release.release_id,
        status=final.status.value,
        phases=follower.phases,
        tally=stack.tally.of(release.release_id),
        images_verified=images_ok,
        archives_verified=archives_ok,
        ssm_pointer=_ssm_pointer(stack.runtime, release.channel) if approve else None,
        events=_collect_events(stack, expect_promoted=approve),
        notification_to_promoted=promoted_after,
        state=stack.state,
        approval_view=approval_view,
        record=record,
    )


class _Follower:
    """Follows one release through the pipeline by what the ledger and the mirror functions say."""

    def __init__(self, stack: LocalStack, progress: Progress, timeout: float) -> None:
        self.stack = stack
        self.progress = progress
        self.timeout = timeout
        self.phases: list[tuple[str, float, str]] = []
        self.ledger = stack.state.ledger()
        self._mark = time.monotonic()

    def _phase(self, name: str, detail: str) -> None:
        now = time.monotonic()
        self.phases.append((name, now - self._mark, detail))
        self._mark = now

    def _status(
        self, release_id: str, wanted: set[ReleaseStatus] | None, stage: str, done: int = 0, total: int = 1
    ) -> ReleaseRecord | None:
        current = self.ledger.get(release_id)
        if current is None:
            return None
        if current.status in TERMINAL and (wanted is None or current.status not in wanted):
            raise DemoError(f"release {release_id} ended {current.status.value}: {current.failure_cause or stage}")
        self.progress(stage, current.status.value, done, total)
        return current if wanted is None or current.status in wanted else None

    def publish(self) -> PublishedRelease:
        shape = validate_manifest(self.stack.state.template.read_text()).require_valid()
        total = len(shape.image_assets()) + len(shape.archive_assets())
        count = 0

        def on_artifact(name: str) -> None:
            nonlocal count
            count += 1
            self.progress("publish", name, count, total)

        release = publish_release(self.stack.state, on_artifact=on_artifact)
        self._phase("upstream publishes the release", f"{total} artifacts and the manifest")
        return release

    def announce(self, release: PublishedRelease) -> float:
        announced = time.monotonic()
        announce(self.stack.state, release)
        self.progress("notify", release.announcement.split(".")[0], 0, 1)
        record = _wait(lambda: self._status(release.release_id, None, "notify"), self.timeout, "the intake")
        self.progress("notify", f"ledger: {record.status.value}", 1, 1)
        self._phase("notification → intake → workflow", record.status.value)
        return announced

    def mirror(self, release: PublishedRelease, jobs: int) -> None:
        def done() -> ReleaseRecord | None:
            copied = self.stack.tally.of(release.release_id).jobs
            return self._status(
                release.release_id, set(ReleaseStatus) - {ReleaseStatus.ADOPTING}, "mirror", copied, jobs
            )

        _wait(done, self.timeout, "the mirror")
        tally = self.stack.tally.of(release.release_id)
        size = _size(tally.image_bytes + tally.archive_bytes)
        self._phase("validate, plan, mirror to staging", f"{tally.images} images, {tally.archives} archives, {size}")

    def until_gate(self, release: PublishedRelease) -> None:
        _wait(
            lambda: self._status(release.release_id, {ReleaseStatus.AWAITING_APPROVAL}, "verify"),
            self.timeout,
            "verification, tests and the approval gate",
        )
        self.progress("verify", "awaiting approval", 1, 1)
        self._phase("verify, smoke tests, approval gate", "awaiting approval")

    def approve_and_promote(self, release: PublishedRelease) -> None:
        approval = _approve_with_cli(self.stack, release.release_id, self.stack.approver)
        self.progress("approve", approval, 1, 1)
        _wait(lambda: self._status(release.release_id, {ReleaseStatus.PROMOTED}, "promote"), self.timeout, "promotion")
        self.progress("promote", STAGE, 1, 1)
        self._phase(f"approved by {self.stack.approver.name}, promoted", f"`eksd-adopt approve`, then {STAGE}")

    def verify_record(self, release: PublishedRelease) -> RecordCheck:
        """The stage's record, as a consumer checks it: ``eksd-adopt verify``, then openssl with no code of ours."""
        self.progress("record", "eksd-adopt verify", 0, 2)
        verdict = _verify_with_cli(self.stack, release.channel)
        self.progress("record", "openssl recipe (docs/attestation.md)", 1, 2)
        key, openssl = _verify_with_openssl(self.stack, release)
        self.progress("record", openssl, 2, 2)
        self._phase("signed record verified", f"`eksd-adopt verify`: {verdict}; openssl: {openssl}")
        return RecordCheck(key=key, verify=verdict, openssl=openssl)


def _verify_with_cli(stack: LocalStack, channel: str) -> str:
    """``eksd-adopt verify`` as a consumer with read rights runs it (exit 0 verified, 1 a mismatch, 2 usage)."""
    runtime = stack.runtime
    args = ["verify", "--stage", STAGE, "--channel", channel, "--bucket", runtime.bucket]
    args += ["--prefix", runtime.settings.prefix, "--registry", stack.registry_url, "--auth", "ecr"]
    report = json.loads(_cli(stack, stack.approver, [*args, "--kms-key", runtime.attestation_key_arn, "--json"]))
    return f"verified, {len(report['checks'])} checks ok"


def openssl_recipe(doc: Path | None = None) -> str:
    """The consumer's recipe exactly as docs/attestation.md shows it (tests/integration/attestation runs it too)."""
    path = doc or checkout() / "docs" / "attestation.md"
    text = path.read_text(encoding="utf-8")
    start, end = "<!-- openssl-recipe -->\n```sh\n", "\n```\n<!-- /openssl-recipe -->"
    if start not in text or end not in text:
        raise DemoError(f"{path.name} lost its openssl recipe block")
    return text.split(start, 1)[1].split(end, 1)[0]


def _verify_with_openssl(stack: LocalStack, release: PublishedRelease) -> tuple[str, str]:
    """The record and the public key as a consumer downloads them, then the documented jq/base64/openssl lines."""
    runtime = stack.runtime
    s3 = runtime.client("s3")
    prefix = records_prefix(runtime.settings.prefix, STAGE, release.release_id)
    listed = s3.list_objects_v2(Bucket=runtime.bucket, Prefix=prefix).get("Contents", [])
    keys = sorted(o["Key"] for o in listed if o["Key"].endswith(".intoto.jsonl"))
    if not keys:
        raise DemoError(f"no signed record under s3://{runtime.bucket}/{prefix}")
    folder = Path(stack.state.path).parent / "record"
    folder.mkdir(exist_ok=True)
    (folder / "record.intoto.jsonl").write_bytes(s3.get_object(Bucket=runtime.bucket, Key=keys[-1])["Body"].read())
    public = f"{runtime.settings.prefix}/attestation/public-key.pem"
    (folder / "pub.pem").write_bytes(s3.get_object(Bucket=runtime.bucket, Key=public)["Body"].read())
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", openssl_recipe()],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0 or "Verified OK" not in result.stdout:
        raise DemoError(f"the openssl recipe did not verify {keys[-1]}: {result.stderr.strip() or result.stdout}")
    return keys[-1], "Verified OK"


def _cli(stack: LocalStack, identity: DemoIdentity, args: list[str]) -> str:
    """The approver's path: the installed CLI signs the request with the approver's own credentials."""
    env = {**os.environ, **stack.cli_env(identity), "COLUMNS": "80"}
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)
    command = [sys.executable, "-m", "eksd_adopt", *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise DemoError(f"eksd-adopt {args[0]} failed ({result.returncode}): {result.stderr.strip() or result.stdout}")
    return result.stdout


def _approve_with_cli(stack: LocalStack, release_id: str, identity: DemoIdentity) -> str:
    # The stage blocks on new HIGH findings: the approver accepts the one the gate showed, by name.
    args = ["approve", release_id, "--stage", STAGE, "--comment", "approved by the demo"]
    output = _cli(stack, identity, [*args, "--accept-findings", DEMO_HIGH.id])
    return " ".join(output.split())[:120] or "approved"


def _show_with_cli(stack: LocalStack, release_id: str, identity: DemoIdentity) -> str:
    """What the approver read before deciding: the gate with its findings (``approvals show``)."""
    return _cli(stack, identity, ["approvals", "show", release_id, "--stage", STAGE]).rstrip()


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


class DemoWatch:
    """What changed in a running demo since the last look, as lines for its console.

    New ledger statuses (with what the mirror and promotion did), the stage's pointer moving (a
    promotion or a rollback) and messages the intake queue dead-lettered.
    """

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.ledger = stack.state.ledger()
        self.ssm = stack.runtime.client("ssm")
        self.sqs = stack.runtime.client("sqs")
        self._statuses = {r.release_id: r.status for r in self.ledger.list()}
        self._pointer = self._current_pointer()
        self._dead_letters = self._dead_letter_count()

    def changes(self) -> list[str]:
        lines: list[str] = []
        for record in sorted(self.ledger.list(), key=lambda r: r.number):
            if self._statuses.get(record.release_id) is not record.status:
                self._statuses[record.release_id] = record.status
                lines.append(self._describe(record))
        pointer = self._current_pointer()
        if pointer != self._pointer:
            self._pointer = pointer
            lines.append(f"{STAGE} {self.stack.state.channel} now points at {pointer}")
        dead_letters = self._dead_letter_count()
        if dead_letters != self._dead_letters:
            self._dead_letters = dead_letters
            lines.append(
                f"intake DLQ: {dead_letters} message(s), each refused {INTAKE_MAX_RECEIVE_COUNT} times by the intake"
            )
        return lines

    def _describe(self, record: ReleaseRecord) -> str:
        line = f"{record.release_id}: {record.status.value}"
        t = self.stack.tally.of(record.release_id)
        if record.status is ReleaseStatus.AWAITING_APPROVAL:
            blobs = f"uploaded {t.blobs_uploaded}, mounted {t.blobs_mounted}, skipped {t.blobs_skipped}"
            return f"{line} ({t.images} images mirrored, blobs {blobs})"
        if record.status is ReleaseStatus.PROMOTED:
            return f"{line} ({STAGE}: blobs mounted {t.promoted_mounted}, skipped {t.promoted_skipped})"
        why = record.failure_cause or "; ".join(record.problems)
        return f"{line} ({why[:100]})" if why else line

    def _current_pointer(self) -> str | None:
        try:
            return str(_ssm_pointer(self.stack.runtime, self.stack.state.channel)["release_id"])
        except self.ssm.exceptions.ParameterNotFound:
            return None

    def _dead_letter_count(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.stack.dead_letter_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])


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


__all__ = [
    "ALICE",
    "APPROVER",
    "BOB",
    "INTAKE_MAX_RECEIVE_COUNT",
    "DemoError",
    "DemoReport",
    "DemoWatch",
    "LocalStack",
    "ReleaseTally",
    "create_intake_queue",
    "function_arn",
    "local_stack",
    "run_adoption",
]
