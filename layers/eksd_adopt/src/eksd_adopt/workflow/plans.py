"""The copy plan outside the workflow's state: one JSON document in the bucket, named in the state by a small reference.

Step Functions holds a state's input and output to 256 KiB, and about a kilobyte per job would reach
that with a few hundred jobs. So Validate stores the whole plan once and the state carries a
:class:`PlanRef` (location, sha256, counts) and one :class:`JobItem` (kind and index, ~30 bytes) per
job for the Map; each step that needs jobs reads the plan back and checks its sha256.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from eksd_adopt.plan import ArchiveCopyJob, CopyPlan, ImageCopyJob
from eksd_adopt.workflow.errors import ArtifactMissingError, WorkflowInputError
from eksd_adopt.workflow.ports import DocumentStore

UPSTREAM = "upstream"
PLAN_CONTENT_TYPE = "application/json"


class PlanRef(BaseModel):
    """What the state carries of a plan: where it is, its digest, and enough to name the release."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    release_id: str
    channel: str
    number: int
    stage: str
    prefix: str
    location: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # pydantic matches with Rust regex: $ is the very end
    images: int = Field(ge=0)
    archives: int = Field(ge=0)


class JobItem(BaseModel):
    """One Map item: which job of the stored plan an iteration copies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["image", "archive"]
    index: int = Field(ge=0)


class MirrorItem(BaseModel):
    """What a mirror function gets from the Map: the release, the plan's reference and its item."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    release_id: str
    plan: PlanRef
    job: JobItem


def plan_key(prefix: str, channel: str, number: int) -> str:
    """``<prefix>/upstream/kubernetes-<ch>/kubernetes-<ch>-eks-<N>.plan.json``, beside the stored manifest."""
    return "/".join(
        (prefix.strip("/"), UPSTREAM, f"kubernetes-{channel}", f"kubernetes-{channel}-eks-{number}.plan.json")
    )


def store_plan(plan: CopyPlan, store: DocumentStore) -> PlanRef:
    """Write the plan (the same manifest always gives the same bytes) and return its reference."""
    body = plan.model_dump_json().encode()
    location = store.put(plan_key(plan.prefix, plan.channel, plan.number), body, content_type=PLAN_CONTENT_TYPE)
    return PlanRef(
        release_id=plan.release_id,
        channel=plan.channel,
        number=plan.number,
        stage=plan.stage,
        prefix=plan.prefix,
        location=location,
        sha256=hashlib.sha256(body).hexdigest(),
        images=len(plan.images),
        archives=len(plan.archives),
    )


def job_items(ref: PlanRef) -> list[JobItem]:
    """The Map's items: every image job, then every archive job, by index into the stored plan."""
    return [JobItem(kind="image", index=i) for i in range(ref.images)] + [
        JobItem(kind="archive", index=i) for i in range(ref.archives)
    ]


def load_plan(ref: PlanRef, store: DocumentStore) -> CopyPlan:
    """The stored plan, refused unless it is byte for byte the one the reference names."""
    body = store.get(ref.location)
    digest = hashlib.sha256(body).hexdigest()
    if digest != ref.sha256:
        raise ArtifactMissingError(
            f"plan {ref.location} hashes to {digest}, not {ref.sha256}: it changed after Validate"
        )
    try:
        plan = CopyPlan.model_validate_json(body)
    except ValidationError as exc:  # pragma: no cover - the digest matched what Validate wrote
        raise ArtifactMissingError(f"plan {ref.location} is not a copy plan: {exc}") from exc
    if (plan.release_id, len(plan.images), len(plan.archives)) != (ref.release_id, ref.images, ref.archives):
        raise ArtifactMissingError(f"plan {ref.location} is not the plan of {ref.release_id} the state names")
    return plan


def load_job(item: MirrorItem, documents: Callable[[], DocumentStore]) -> ImageCopyJob | ArchiveCopyJob:
    """The job a Map item names, from the stored plan (read once per process: a warm function reuses it)."""
    plan = _PLANS.get(item.plan, documents)
    jobs: tuple[ImageCopyJob, ...] | tuple[ArchiveCopyJob, ...] = (
        plan.images if item.job.kind == "image" else plan.archives
    )
    if item.job.index >= len(jobs):
        raise ArtifactMissingError(
            f"plan {item.plan.location} has {len(jobs)} {item.job.kind} jobs, no index {item.job.index}"
        )
    return jobs[item.job.index]


class _PlanCache:
    """Plans already read and checked, by location and sha256: the same digest is the same plan, so a hit is safe.

    Every Map iteration names the same plan; without this each would GET and parse the whole of it.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self.plans: OrderedDict[tuple[str, str], CopyPlan] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, ref: PlanRef, documents: Callable[[], DocumentStore]) -> CopyPlan:
        key = (ref.location, ref.sha256)
        with self.lock:
            plan = self.plans.get(key)
        if plan is None:
            plan = load_plan(ref, documents())
            with self.lock:
                self.plans[key] = plan
                while len(self.plans) > self.size:
                    self.plans.popitem(last=False)
        return plan


_PLANS = _PlanCache()


def mirror_request(event: Mapping[str, Any], kind: str, documents: Callable[[], DocumentStore]) -> dict[str, Any]:
    """The request a mirror function copies: a Map item's job, read from the stored plan; a direct call's own job.

    The workflow passes ``{"release_id", "plan", "job": {"kind", "index"}}``; a person or a test may
    still invoke a mirror function with ``{"job": <the whole job>}``.
    """
    if "plan" not in event:
        return dict(event)
    item = MirrorItem.model_validate(event)
    if item.job.kind != kind:
        raise WorkflowInputError(f"the {kind} mirror was handed {item.job.kind} job {item.job.index}")
    return {"release_id": item.release_id, "job": load_job(item, documents).model_dump(mode="json")}


__all__ = [
    "JobItem",
    "MirrorItem",
    "PlanRef",
    "job_items",
    "load_job",
    "load_plan",
    "mirror_request",
    "plan_key",
    "store_plan",
]
