"""Errors of the signed adoption record: what signing, storing, attaching and verifying a record can raise."""

from __future__ import annotations

from eksd_adopt.errors import EksdAdoptError


class AttestationError(EksdAdoptError):
    """A record cannot be made, stored, read or checked (its message names the record or artifact)."""


class SignatureError(AttestationError):
    """A DSSE envelope does not verify with the key given (or is not a DSSE envelope at all)."""


class StatementError(AttestationError):
    """A verified payload is not an adoption record of the expected shape, release or stage."""


class RecordConflictError(AttestationError):
    """A write-once record (or the public key) already holds something else under its key."""


class RecordNotFoundError(AttestationError):
    """No record (or no stage pointer) exists for what was asked."""


class SigningError(AttestationError):
    """The signing service refused or failed to sign."""
