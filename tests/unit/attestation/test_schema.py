"""The predicate's checked-in JSON Schema: current with the model, and it accepts and refuses what the model does."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from eksd_adopt.attestation.statement import predicate_file_name, predicate_schema
from eksd_adopt.events.schema_gen import render_schemas
from tests.conftest import REPO_ROOT
from tests.unit.attestation.support import make_statement

SCHEMA = REPO_ROOT / "schemas" / "adoption-record.v1.schema.json"


def test_the_checked_in_schema_is_the_models() -> None:
    assert predicate_file_name() == SCHEMA.name
    assert SCHEMA.read_text(encoding="utf-8") == render_schemas()[SCHEMA.name], "run `make schemas` and commit it"
    assert json.loads(SCHEMA.read_text())["properties"].keys() == predicate_schema()["properties"].keys()


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _predicate() -> dict[str, Any]:
    return json.loads(make_statement(images=2, archives=2).payload())["predicate"]


def test_a_records_predicate_validates(validator: jsonschema.Draft202012Validator) -> None:
    validator.validate(_predicate())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "deletion"),
        ("stage", "Prod"),
        ("recorded_at", 5),  # "format: date-time" is an annotation in 2020-12: the type is what is checked
        ("surprise", 1),
        ("images", [{"name": "x"}]),
    ],
)
def test_the_schema_refuses_what_the_model_refuses(
    validator: jsonschema.Draft202012Validator, field: str, value: Any
) -> None:
    predicate = _predicate()
    predicate[field] = value
    assert not validator.is_valid(predicate)


def test_the_schema_refuses_a_digest_with_a_trailing_newline(validator: jsonschema.Draft202012Validator) -> None:
    predicate = _predicate()
    predicate["archives"][0]["sha256"] += "\n"
    assert not validator.is_valid(predicate)
