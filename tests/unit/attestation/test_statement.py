"""The in-toto statement: subjects derived from the predicate, deterministic bytes, strict parsing of what comes back."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from eksd_adopt.attestation.errors import StatementError
from eksd_adopt.attestation.statement import (
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    AdoptionStatement,
    Approval,
    release_of,
)
from tests.unit.attestation.support import RECORDED_AT, REGISTRY, make_predicate, make_statement


def test_subjects_are_every_image_archive_and_the_stage_manifest() -> None:
    statement = make_statement(images=17, archives=45)
    document = json.loads(statement.payload())
    assert document["_type"] == STATEMENT_TYPE == "https://in-toto.io/Statement/v1"
    assert document["predicateType"] == PREDICATE_TYPE
    subjects = {s["name"]: s["digest"] for s in document["subject"]}
    assert len(subjects) == 17 + 45 + 1
    image = document["predicate"]["images"][0]
    assert subjects[image["name"]] == {"sha256": image["digest"].removeprefix("sha256:")}
    assert image["name"].startswith(f"{REGISTRY}/eksd/prod/")
    archive = document["predicate"]["archives"][0]
    assert subjects[archive["key"]] == {"sha256": archive["sha256"], "sha512": archive["sha512"]}
    manifest = document["predicate"]["stage_manifest"]
    assert subjects[manifest["key"]] == {"sha256": manifest["sha256"]}
    assert [s["name"] for s in document["subject"]] == sorted(subjects)


def test_the_payload_is_deterministic_ascii_and_parses_back_equal() -> None:
    comment = "ok \u2714 f\u00fcr prod"
    approval = Approval(
        principal="arn:aws:iam::123456789012:user/bob", decided_at=RECORDED_AT, comment=comment, accepted_findings=()
    )
    statement = make_statement(approvals=(approval,))
    payload = statement.payload()
    assert payload == make_statement(approvals=(approval,)).payload()
    assert payload.isascii() and b" " not in payload.replace(b"ok \\u2714 f\\u00fcr prod", b"")
    parsed = AdoptionStatement.parse(payload)
    assert parsed == statement
    assert parsed.predicate.approvals[0].comment == comment
    assert '"recorded_at":"2026-03-04T05:06:07Z"' in payload.decode()


def test_times_in_other_zones_are_recorded_in_utc() -> None:
    local = RECORDED_AT.astimezone(timezone(timedelta(hours=2)))
    assert make_predicate(recorded_at=local).recorded_at.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError):
        make_predicate(recorded_at=datetime(2026, 1, 1))


def _document(**changes: Any) -> dict[str, Any]:
    document = json.loads(make_statement(images=2, archives=2).payload())
    document.update(changes)
    return document


def _parse(document: dict[str, Any]) -> AdoptionStatement:
    return AdoptionStatement.parse(json.dumps(document).encode())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"_type": "https://in-toto.io/Statement/v0.1"}, "_type"),
        ({"predicateType": "https://slsa.dev/provenance/v1"}, "predicateType"),
        ({"subject": []}, "subject"),
    ],
)
def test_another_statement_or_predicate_type_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(StatementError, match=message):
        _parse(_document(**changes))


def test_a_subject_differing_from_the_predicate_is_refused() -> None:
    document = _document()
    document["subject"][0]["digest"]["sha256"] = "0" * 64
    with pytest.raises(StatementError, match="subjects are not exactly"):
        _parse(document)
    document = _document()
    document["subject"].append({"name": "eksd/prod/extra", "digest": {"sha256": "1" * 64}})
    with pytest.raises(StatementError, match="subjects are not exactly"):
        _parse(document)


@pytest.mark.reliability(
    area="attestation",
    fault="a record whose fields end in a newline, hold non-ASCII digits or carry unknown predicate fields",
    expected="refused naming the field: every value matched whole against an ASCII-only pattern",
)
@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("predicate", "stage"), "prod\n"),
        (("predicate", "upstream", "channel"), "1-2\u0660"),
        (("predicate", "upstream", "release_id"), "1-20-\u0661"),
        (("predicate", "upstream", "manifest_sha256"), "a" * 63 + "\u0430"),
        (("predicate", "images", 0, "digest"), "sha256:" + "a" * 64 + "\n"),
        (("predicate", "images", 0, "tag"), "v1 2"),
        (("predicate", "archives", 0, "key"), "/eksd/prod/x"),
        (("predicate", "archives", 0, "key"), "eksd/prod/../x"),
        (("predicate", "archives", 0, "upstream_url"), "http://distro.eks.amazonaws.com/x"),
        (("predicate", "approvals", 0, "principal"), "arn:aws:iam::12345678901:user/bob"),
        (("predicate", "approvals", 0, "comment"), "line\x1b[31m"),
        (("predicate", "workflow_execution"), "arn:aws:states:eu-west-1:123456789012:stateMachine:x"),
        (("predicate", "surprise"), "field"),
        (("predicate", "upstream", "number"), "1"),  # strict: a string is no number
    ],
)
def test_malformed_fields_are_refused_naming_them(path: tuple[Any, ...], value: Any, observed: Any) -> None:
    document = _document()
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(StatementError, match=str(path[-1])) as caught:
        _parse(document)
    observed(f"refused: {str(caught.value)[:120]}")


def test_an_image_name_with_a_tag_or_an_upstream_without_one_is_refused() -> None:
    image = make_predicate(images=1).images[0]
    with pytest.raises(ValidationError, match="no tag"):
        image.model_validate({**image.model_dump(), "name": image.name + ":v1"})
    with pytest.raises(ValidationError, match="with a tag"):
        image.model_validate({**image.model_dump(), "upstream": "public.ecr.aws/eks-distro/kubernetes/pause"})


def test_an_artifact_listed_twice_is_refused() -> None:
    predicate = make_predicate(images=2, archives=1)
    with pytest.raises(ValidationError, match="listed twice"):
        predicate.model_validate({**predicate.model_dump(), "images": [predicate.images[0]] * 2})


def test_payload_that_is_not_json_or_not_an_object_is_refused() -> None:
    for payload in (b"not json", b"[]", b'"x"', b"[" * 100000):
        with pytest.raises(StatementError):
            AdoptionStatement.parse(payload)


def test_release_ids_are_split_and_checked() -> None:
    assert release_of("1-30-58") == ("1-30", 58)
    for bad in ("1-30", "1-30-0", "1-30-58\n", "1-3\u0660-5", "01-30-1"):
        with pytest.raises(ValueError, match="release id"):
            release_of(bad)
