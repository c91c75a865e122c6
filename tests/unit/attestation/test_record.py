"""Records in the bucket: where they go, written once, a retried write signs nothing, the newest found by its name."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eksd_adopt.archives.store import InMemoryArchiveStore
from eksd_adopt.attestation import dsse
from eksd_adopt.attestation.errors import RecordConflictError, RecordNotFoundError, SignatureError
from eksd_adopt.attestation.record import (
    list_records,
    newest_record,
    public_key_key,
    publish_public_key,
    read_record,
    record_key,
    write_record,
)
from eksd_adopt.attestation.statement import AdoptionStatement, RecordKind
from tests.unit.attestation.support import RECORDED_AT, LocalSigner, make_predicate, make_statement


def test_the_record_lands_beside_the_stage_manifest() -> None:
    predicate = make_predicate()
    assert record_key("eksd", predicate) == (
        "eksd/prod/kubernetes-1-20/kubernetes-1-20-eks-1.promotion.20260304T050607Z.intoto.jsonl"
    )
    assert predicate.stage_manifest.key == "eksd/prod/kubernetes-1-20/kubernetes-1-20-eks-1.yaml"
    rollback = make_predicate(kind=RecordKind.ROLLBACK, workflow_execution=None, previous_release_id="1-20-3")
    assert (
        record_key("", rollback) == "prod/kubernetes-1-20/kubernetes-1-20-eks-1.rollback.20260304T050607Z.intoto.jsonl"
    )
    assert public_key_key("eksd") == "eksd/attestation/public-key.pem"


def test_a_record_is_one_envelope_line_that_verifies() -> None:
    bucket, signer = InMemoryArchiveStore(), LocalSigner()
    statement = make_statement()
    stored = write_record(bucket, "eksd", statement, signer)
    body, metadata = bucket.objects[stored.key]
    assert stored.created and body == stored.envelope + b"\n" and body.count(b"\n") == 1
    assert len(metadata["sha256"]) == 64
    payload = dsse.verify(read_record(bucket, stored.key), signer.public_key())
    assert AdoptionStatement.parse(payload) == statement


def test_writing_the_same_statement_again_signs_nothing_and_keeps_the_record() -> None:
    bucket, signer = InMemoryArchiveStore(), LocalSigner()
    first = write_record(bucket, "eksd", make_statement(), signer)
    again = write_record(bucket, "eksd", make_statement(), signer)
    assert signer.calls == 1
    assert not again.created and again.envelope == first.envelope


@pytest.mark.reliability(
    area="attestation",
    fault="another adoption record offered under an existing record's key",
    expected="refused (RecordConflictError); the stored record is unchanged",
)
def test_another_payload_under_the_same_key_is_refused(observed: object) -> None:
    bucket, signer = InMemoryArchiveStore(), LocalSigner()
    first = write_record(bucket, "eksd", make_statement(), signer)
    with pytest.raises(RecordConflictError, match="records are written once"):
        write_record(bucket, "eksd", make_statement(images=3), signer)
    assert bucket.objects[first.key][0] == first.envelope + b"\n"
    observed("refused, the first record kept")  # type: ignore[operator]


def test_a_writer_that_loses_the_race_takes_the_winners_identical_record() -> None:
    bucket, signer = InMemoryArchiveStore(), LocalSigner()
    statement = make_statement()
    winner = write_record(InMemoryArchiveStore(), "eksd", statement, LocalSigner())

    class Racing(InMemoryArchiveStore):
        def put_if_absent(self, key: str, data: bytes, **kwargs: object) -> bool:
            self.objects[key] = (winner.envelope + b"\n", {})  # the other writer's record lands first
            return False

    racing = Racing()
    stored = write_record(racing, "eksd", statement, signer)
    assert not stored.created and stored.envelope == winner.envelope
    assert bucket.objects == {}


def test_records_are_listed_oldest_first_and_the_newest_is_found() -> None:
    bucket, signer = InMemoryArchiveStore(), LocalSigner()
    keys = []
    for minutes, kind in ((0, RecordKind.PROMOTION), (30, RecordKind.ROLLBACK), (10, RecordKind.PROMOTION)):
        predicate = make_predicate(recorded_at=RECORDED_AT + timedelta(minutes=minutes), kind=kind)
        keys.append(write_record(bucket, "eksd", AdoptionStatement.of(predicate), signer).key)
    bucket.put("eksd/prod/kubernetes-1-20/kubernetes-1-20-eks-1.promotion.latest.intoto.jsonl", b"x", metadata={})
    bucket.put(
        "eksd/prod/kubernetes-1-20/kubernetes-1-20-eks-10.promotion.20990101T000000Z.intoto.jsonl", b"x", metadata={}
    )
    found = list_records(bucket, "eksd", "prod", "1-20-1")
    assert [r.key for r in found] == [keys[0], keys[2], keys[1]]
    assert newest_record(bucket, "eksd", "prod", "1-20-1").kind is RecordKind.ROLLBACK
    with pytest.raises(RecordNotFoundError, match="no adoption record of 1-20-2 in stage prod"):
        newest_record(bucket, "eksd", "prod", "1-20-2")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "exactly one"),
        (b'{"payload":"e30="}\n{"payload":"e30="}\n', "exactly one"),
        (b"{]", "not a DSSE envelope"),
    ],
)
def test_a_record_that_is_not_one_envelope_is_refused(body: bytes, message: str) -> None:
    bucket = InMemoryArchiveStore()
    bucket.put("k", body, metadata={})
    with pytest.raises(SignatureError, match=message):
        read_record(bucket, "k")


def test_an_oversized_record_is_refused_before_it_is_read() -> None:
    class Huge(InMemoryArchiveStore):
        def get(self, key: str) -> bytes | None:
            raise AssertionError("read although too large")

    bucket = Huge()
    bucket.put("k", b"x" * (dsse.MAX_ENVELOPE_BYTES + 1), metadata={})
    with pytest.raises(SignatureError, match="over the"):
        read_record(bucket, "k")


def test_the_public_key_is_published_once_and_never_replaced() -> None:
    bucket, signer = InMemoryArchiveStore(), LocalSigner()
    key = publish_public_key(bucket, "eksd", signer.public_key())
    assert bucket.objects[key][0] == dsse.public_key_pem(signer.public_key())
    assert publish_public_key(bucket, "eksd", signer.public_key()) == key
    with pytest.raises(RecordConflictError, match="another public key"):
        publish_public_key(bucket, "eksd", LocalSigner().public_key())
