"""The adoption workflow's data: its input, the release it carries, and each step's result."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

STAGING = "staging"


class AdoptionInput(BaseModel):
    """The adoption workflow's input: what the intake (or a person) starts ``adopt-<release_id>`` of the
    state machine ``eksd-adopt-release`` with, and what Validate reads. A key it does not know is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    release_id: str
    channel: str
    number: int
    kubernetes_version: str | None = None
    manifest_url: str
    manifest_sha256: str
    # The exact text fetched, when small enough to travel in the execution input; left out, Validate fetches
    # manifest_url again and checks it against manifest_sha256 (StartExecution refuses inputs over 256 KiB).
    manifest_yaml: str | None = None
    announced: bool = False


class ReleaseRef(BaseModel):
    """A release as the workflow's state carries it between steps (small: no manifest text)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    release_id: str
    channel: str
    number: int
    kubernetes_version: str | None = None
    manifest_url: str | None = None
    manifest_location: str | None = None  # s3:// URI of the upstream manifest, stored write-once


class CheckResult(BaseModel):
    """One check of one artifact: what was expected, what was found."""

    model_config = ConfigDict(frozen=True)

    artifact: str
    check: str
    ok: bool
    detail: str = ""


class CheckReport(BaseModel):
    """The outcome of verification or of the smoke tests: every check made, failures first."""

    name: str
    checks: list[CheckResult] = Field(default_factory=list)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> dict[str, object]:
        """Small enough for the workflow state, events and the approvers' message; ``completed_at`` goes
        into the signed adoption record as when this step ran."""
        return {
            "name": self.name,
            "ok": self.ok,
            "checks": len(self.checks),
            "failed": len(self.failures),
            "failures": [c.model_dump() for c in self.failures[:20]],
            "completed_at": datetime.now(UTC).isoformat(),
        }


class ComponentChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    component: str
    before: str | None  # gitTag in the release currently promoted, None when added
    after: str | None  # gitTag in this release, None when removed


class ReleaseDiff(BaseModel):
    """What changes in a stage if this release is promoted there."""

    current_release_id: str | None
    added: list[ComponentChange] = Field(default_factory=list)
    removed: list[ComponentChange] = Field(default_factory=list)
    changed: list[ComponentChange] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


class StagePointer(BaseModel):
    """The SSM parameter value naming a stage's current release of a channel."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    release_id: str
    channel: str
    number: int
    kubernetes_version: str | None = None
    manifest_location: str
    updated_at: datetime | None = None
