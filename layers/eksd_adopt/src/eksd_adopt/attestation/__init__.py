"""The signed adoption record: an in-toto statement of every promoted artifact, DSSE-signed, stored and verified.

Pure domain code: KMS, SSM and the registry are reached through ports (:mod:`.ports`); the boto3
adapters are :mod:`.kms` and :mod:`.aws`, the registry's :mod:`.registry`; :mod:`.attach` attaches a
record to images as an OCI referrer. See docs/attestation.md.

The names below load on first use (PEP 562 ``__getattr__``): ``eksd-adopt verify`` imports the modules it
needs, and must not pay for attaching (the OCI referrers code, Powertools' logger) at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eksd_adopt.lazy import lazy_exports

if TYPE_CHECKING:
    from eksd_adopt.attestation.dsse import PAYLOAD_TYPE, Envelope, Signer, key_fingerprint, load_public_key, pae
    from eksd_adopt.attestation.errors import (
        AttestationError,
        RecordConflictError,
        RecordNotFoundError,
        SignatureError,
        SigningError,
        StatementError,
    )
    from eksd_adopt.attestation.record import (
        StoredRecord,
        list_records,
        newest_record,
        public_key_key,
        publish_public_key,
        read_record,
        record_key,
        write_record,
    )
    from eksd_adopt.attestation.statement import (
        PREDICATE_TYPE,
        STATEMENT_TYPE,
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
    from eksd_adopt.attestation.verify import Outcome, SubjectCheck, VerificationReport, verify_adoption

# Each public name -> the module of this package defining it.
_WHERE = {
    "AdoptedArchive": "statement",
    "AdoptedImage": "statement",
    "AdoptionPredicate": "statement",
    "AdoptionStatement": "statement",
    "Approval": "statement",
    "AttestationError": "errors",
    "CheckOutcome": "statement",
    "Envelope": "dsse",
    "Outcome": "verify",
    "PAYLOAD_TYPE": "dsse",
    "PREDICATE_TYPE": "statement",
    "RecordConflictError": "errors",
    "RecordKind": "statement",
    "RecordNotFoundError": "errors",
    "STATEMENT_TYPE": "statement",
    "SignatureError": "errors",
    "Signer": "dsse",
    "SigningError": "errors",
    "StageManifest": "statement",
    "StatementError": "errors",
    "StoredRecord": "record",
    "SubjectCheck": "verify",
    "UpstreamRelease": "statement",
    "Verification": "statement",
    "VerificationReport": "verify",
    "key_fingerprint": "dsse",
    "list_records": "record",
    "load_public_key": "dsse",
    "newest_record": "record",
    "pae": "dsse",
    "public_key_key": "record",
    "publish_public_key": "record",
    "read_record": "record",
    "record_key": "record",
    "verify_adoption": "verify",
    "write_record": "record",
}

__all__ = [
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "AdoptedArchive",
    "AdoptedImage",
    "AdoptionPredicate",
    "AdoptionStatement",
    "Approval",
    "AttestationError",
    "CheckOutcome",
    "Envelope",
    "Outcome",
    "RecordConflictError",
    "RecordKind",
    "RecordNotFoundError",
    "SignatureError",
    "Signer",
    "SigningError",
    "StageManifest",
    "StatementError",
    "StoredRecord",
    "SubjectCheck",
    "UpstreamRelease",
    "Verification",
    "VerificationReport",
    "key_fingerprint",
    "list_records",
    "load_public_key",
    "newest_record",
    "pae",
    "public_key_key",
    "publish_public_key",
    "read_record",
    "record_key",
    "verify_adoption",
    "write_record",
]


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
