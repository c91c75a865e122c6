"""Workflow errors: their class names are the error names the state machine's Retry/Catch match on."""

from __future__ import annotations

from eksd_adopt.errors import EksdAdoptError


class WorkflowInputError(EksdAdoptError):
    """The execution input is inconsistent (e.g. the manifest text does not hash to manifest_sha256)."""


class ArtifactMissingError(EksdAdoptError):
    """A staged artifact is absent from the private registry or bucket."""


class VerificationFailedError(EksdAdoptError):
    """The staged copy does not match the manifest; nothing is promoted."""


class SmokeTestFailedError(EksdAdoptError):
    """A built-in smoke test failed on the staged copy; nothing is promoted."""


class RollbackError(EksdAdoptError):
    """The rollback target was never promoted in that stage, the stage has no pointer, or the rollback's signed
    record could not be written (the pointer then stays where it is)."""
