"""The ledger interface, and an in-memory implementation used by unit tests."""

from __future__ import annotations

import builtins
import threading
from datetime import datetime
from typing import Any, Protocol

from eksd_adopt.errors import EksdAdoptError
from eksd_adopt.ledger.model import Decision, ReleaseRecord, ReleaseStatus, utcnow


class LedgerConflictError(EksdAdoptError):
    """A conditional write lost: the record exists already, or is not in the expected state."""


class Ledger(Protocol):
    def create(self, record: ReleaseRecord) -> bool:
        """Write ``record`` if no record has its release id. True when this call created it."""
        ...

    def get(self, release_id: str) -> ReleaseRecord | None: ...

    def update(
        self,
        release_id: str,
        *,
        status: ReleaseStatus | None = None,
        expected: frozenset[ReleaseStatus] | None = None,
        **fields: Any,
    ) -> ReleaseRecord:
        """Set fields (and status), only when the current status is in ``expected`` (if given).

        ``updated_at`` is now unless the caller passes its own (the intake passes its clock's).
        """
        ...

    def add_decision(self, release_id: str, decision: Decision) -> ReleaseRecord: ...

    def add_message_id(self, release_id: str, message_id: str) -> None: ...

    def list(self, channel: str | None = None) -> list[ReleaseRecord]:
        """Records, newest release first (by channel, then number)."""
        ...

    def newest(
        self,
        channel: str,
        *,
        statuses: frozenset[ReleaseStatus] | None = None,
        excluding: str | None = None,
        at_least: int | None = None,
    ) -> ReleaseRecord | None:
        """The channel's record with the highest number (in ``statuses``, other than ``excluding``, >= ``at_least``)."""
        ...

    def unstarted(self, channel: str | None = None) -> builtins.list[ReleaseRecord]:
        """Records with no execution yet: ``detected``, or ``adopting`` with no execution ARN (of one channel or all).

        Newest first. What the reconciler acts on; it reads these rather than every channel's whole history.
        """
        ...


def is_unstarted(record: ReleaseRecord) -> bool:
    return record.status is ReleaseStatus.DETECTED or (
        record.status is ReleaseStatus.ADOPTING and record.execution_arn is None
    )


def sort_records(records: list[ReleaseRecord]) -> list[ReleaseRecord]:
    def key(r: ReleaseRecord) -> tuple[int, int, int]:
        major, _, minor = r.channel.partition("-")
        return (int(major or 0), int(minor or 0), r.number)

    return sorted(records, key=key, reverse=True)


class InMemoryLedger:
    """Same semantics as the DynamoDB ledger, conditional writes included."""

    def __init__(self) -> None:
        self._records: dict[str, ReleaseRecord] = {}
        self._lock = threading.Lock()

    def create(self, record: ReleaseRecord) -> bool:
        with self._lock:
            if record.release_id in self._records:
                return False
            self._records[record.release_id] = record.model_copy(deep=True)
            return True

    def get(self, release_id: str) -> ReleaseRecord | None:
        record = self._records.get(release_id)
        return record.model_copy(deep=True) if record else None

    def update(
        self,
        release_id: str,
        *,
        status: ReleaseStatus | None = None,
        expected: frozenset[ReleaseStatus] | None = None,
        **fields: Any,
    ) -> ReleaseRecord:
        with self._lock:
            record = self._records.get(release_id)
            if record is None:
                raise LedgerConflictError(f"release {release_id} is not in the ledger")
            if expected is not None and record.status not in expected:
                raise LedgerConflictError(
                    f"release {release_id} is {record.status.value}, not one of {sorted(s.value for s in expected)}"
                )
            changes: dict[str, Any] = {"updated_at": utcnow(), **fields}
            if status is not None:
                changes["status"] = status
            updated = ReleaseRecord.model_validate({**record.model_dump(), **changes})
            self._records[release_id] = updated
            return updated.model_copy(deep=True)

    def add_decision(self, release_id: str, decision: Decision) -> ReleaseRecord:
        with self._lock:
            record = self._records[release_id]
            record.decisions.append(decision)
            record.updated_at = utcnow()
            return record.model_copy(deep=True)

    def add_message_id(self, release_id: str, message_id: str) -> None:
        with self._lock:
            record = self._records[release_id]
            if message_id not in record.message_ids:
                record.message_ids.append(message_id)
                record.announced = True

    def list(self, channel: str | None = None) -> list[ReleaseRecord]:
        return sort_records([r.model_copy(deep=True) for r in self._records.values() if channel in (None, r.channel)])

    def newest(
        self,
        channel: str,
        *,
        statuses: frozenset[ReleaseStatus] | None = None,
        excluding: str | None = None,
        at_least: int | None = None,
    ) -> ReleaseRecord | None:
        for record in self.list(channel):
            if at_least is not None and record.number < at_least:
                return None
            if (statuses is None or record.status in statuses) and record.release_id != excluding:
                return record
        return None

    def unstarted(self, channel: str | None = None) -> builtins.list[ReleaseRecord]:
        return [r for r in self.list(channel) if is_unstarted(r)]


def mark_promoted(ledger: Ledger, release_id: str, stage: str, when: datetime | None = None) -> ReleaseRecord:
    record = ledger.get(release_id)
    if record is None:
        raise LedgerConflictError(f"release {release_id} is not in the ledger")
    stages = {**record.promoted_stages, stage: when or utcnow()}
    return ledger.update(release_id, status=ReleaseStatus.PROMOTED, promoted_stages=stages)
