"""The signed adoption record: an in-toto statement of every promoted artifact, DSSE-signed, stored and verified.

Pure domain code: KMS, SSM and the registry are reached through ports (:mod:`.ports`); the boto3
adapters are :mod:`.kms` and :mod:`.aws`, the registry's :mod:`.registry`; :mod:`.attach` attaches a
record to images as an OCI referrer. See docs/attestation.md.
"""

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
