"""A promoted, signed release on local services: images in a docker-registry, archives, manifest, pointer and record in (moto) AWS.

Shaped like ``kubernetes-1-20-eks-1`` (17 images, 45 archives): the stage's images are pushed where
promotion puts them (``<prefix>/<stage>/<upstream path>:<tag>``), the archives at their stage keys with
their sha256/sha512 metadata, the stage's manifest and its SSM pointer, and the record signed through
KMS and stored write-once beside the manifest. Used by the integration tests and ``bench/verify.py``.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eksd_adopt.archives.manifests import manifest_key
from eksd_adopt.archives.s3store import S3ArchiveStore
from eksd_adopt.attestation.aws import POINTER_PARAMETER
from eksd_adopt.attestation.kms import KmsPublicKey, KmsSigner
from eksd_adopt.attestation.record import publish_public_key, write_record
from eksd_adopt.attestation.statement import (
    AdoptedArchive,
    AdoptedImage,
    AdoptionPredicate,
    AdoptionStatement,
    Approval,
    CheckOutcome,
    RecordKind,
    StageManifest,
    UpstreamRelease,
    Verification,
)
from eksd_adopt.local.images import publish_image
from eksd_adopt.plan import plan_release
from eksd_adopt.release.validate import validate_manifest

TESTDATA = Path(__file__).resolve().parents[2].parent / "testdata" / "eksd"
RECORDED_AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:eksd-adopt-release:adopt-1-20-1"


@dataclass
class PromotedRelease:
    bucket: str
    prefix: str
    stage: str
    channel: str
    release_id: str
    kms_key: str
    registry_url: str
    statement: AdoptionStatement
    record_key: str
    public_key_key: str

    def image_repository(self, index: int = 0) -> str:
        return self.statement.predicate.images[index].name.split("/", 1)[1]


def promote_release(
    registry_url: str,
    registry_host: str,
    *,
    s3: Any,
    ssm: Any,
    kms: Any,
    bucket: str,
    prefix: str = "eksd",
    stage: str = "prod",
    manifest: Path = TESTDATA / "kubernetes-1-20-eks-1.yaml",
    archive_size: int = 2048,
) -> PromotedRelease:
    text = manifest.read_bytes()
    release = validate_manifest(text).require_valid(strict=False)
    plan = plan_release(release, prefix=prefix, stage=stage)
    s3.create_bucket(Bucket=bucket)
    store = S3ArchiveStore(bucket, client=s3)

    def push(job: Any) -> AdoptedImage:
        platforms = [f"linux/{arch}" for arch in job.arch] or ["linux/amd64"]
        digest = publish_image(
            registry_url, job.target_repository, job.tag, platforms=platforms, layer_sizes=(512,), seed=job.source
        )
        return AdoptedImage(
            component=job.component,
            asset=job.asset,
            upstream=job.source,
            name=f"{registry_host}/{job.target_repository}",
            tag=job.tag,
            digest=digest,
            platforms=job.arch,
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        images = list(pool.map(push, plan.images))
    archives = []
    for job in plan.archives:
        data = hashlib.shake_256(job.target_key.encode()).digest(archive_size)
        sha256, sha512 = hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest()
        store.put(job.target_key, data, metadata={"sha256": sha256, "sha512": sha512})
        archives.append(
            AdoptedArchive(
                component=job.component,
                asset=job.asset,
                upstream_url=job.source_url,
                key=job.target_key,
                sha256=sha256,
                sha512=sha512,
            )
        )
    stage_key = manifest_key(prefix, stage, release.channel, release.number)
    stage_body = text.replace(b"public.ecr.aws", registry_host.encode())  # a stand-in for the rewritten manifest
    store.put(stage_key, stage_body, metadata={"sha256": hashlib.sha256(stage_body).hexdigest()})
    ssm.put_parameter(
        Name=POINTER_PARAMETER.format(stage=stage, channel=release.channel),
        Value=json.dumps(
            {
                "release_id": release.release_id,
                "channel": release.channel,
                "number": release.number,
                "kubernetes_version": release.kubernetes_version,
                "manifest_location": f"s3://{bucket}/{stage_key}",
                "updated_at": RECORDED_AT.isoformat(),
            }
        ),
        Type="String",
        Overwrite=True,
    )
    done = CheckOutcome(ok=True, checks=len(images) * 2 + len(archives), failed=0, completed_at=RECORDED_AT)
    predicate = AdoptionPredicate(
        kind=RecordKind.PROMOTION,
        recorded_at=RECORDED_AT,
        stage=stage,
        previous_release_id=None,
        workflow_execution=EXECUTION,
        upstream=UpstreamRelease(
            release_id=release.release_id,
            channel=release.channel,
            number=release.number,
            kubernetes_version=release.kubernetes_version,
            manifest_url=f"https://distro.eks.amazonaws.com/kubernetes-{release.channel}/{manifest.name}",
            manifest_sha256=hashlib.sha256(text).hexdigest(),
        ),
        stage_manifest=StageManifest(key=stage_key, sha256=hashlib.sha256(stage_body).hexdigest()),
        images=tuple(images),
        archives=tuple(archives),
        verification=Verification(digests=done, checksum_files=done, smoke_tests=done, team_tests=None),
        approvals=(
            Approval(
                principal="arn:aws:sts::123456789012:assumed-role/ReleaseApprovers/alice",
                counted_as="arn:aws:iam::123456789012:role/ReleaseApprovers",
                decided_at=RECORDED_AT,
                comment="looks good",
            ),
        ),
    )
    statement = AdoptionStatement.of(predicate)
    key_id = str(kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"])
    stored = write_record(store, prefix, statement, KmsSigner(key_id, client=kms))
    public = publish_public_key(store, prefix, KmsPublicKey(key_id, client=kms).load())
    return PromotedRelease(
        bucket=bucket,
        prefix=prefix,
        stage=stage,
        channel=release.channel,
        release_id=release.release_id,
        kms_key=key_id,
        registry_url=registry_url,
        statement=statement,
        record_key=stored.key,
        public_key_key=public,
    )
