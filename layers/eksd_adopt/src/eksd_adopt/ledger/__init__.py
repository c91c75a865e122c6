"""The release ledger: one record per release (``<channel>-<number>``), the source of truth for adoption state."""

from eksd_adopt.ledger.model import Decision, ReleaseRecord, ReleaseStatus
from eksd_adopt.ledger.store import InMemoryLedger, Ledger, LedgerConflictError

__all__ = ["Decision", "InMemoryLedger", "Ledger", "LedgerConflictError", "ReleaseRecord", "ReleaseStatus"]
