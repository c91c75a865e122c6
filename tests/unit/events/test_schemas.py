"""The checked-in JSON Schemas and docs/events.md match the models (regenerated in memory, byte for byte)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from eksd_adopt.events import EventType
from eksd_adopt.events.catalog import example_event
from eksd_adopt.events.schema_gen import (
    DOCS_END,
    DOCS_START,
    UNION_NAME,
    main,
    render_docs_section,
    render_schemas,
    schema_file_name,
    splice_docs,
)
from tests.conftest import REPO_ROOT

SCHEMAS = REPO_ROOT / "schemas"
DOCS = REPO_ROOT / "docs" / "events.md"
FIX = "run `make schemas` and commit the result"


def test_schema_files_match_the_models_byte_for_byte() -> None:
    expected = render_schemas()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in SCHEMAS.glob("*.schema.json")}
    assert sorted(on_disk) == sorted(expected), FIX
    for name, text in expected.items():
        assert on_disk[name] == text, f"{name} differs from the models: {FIX}"


def test_one_schema_per_event_type_plus_the_union() -> None:
    names = set(render_schemas())
    events = {schema_file_name(t.value) for t in EventType} | {schema_file_name(UNION_NAME)}
    assert names == events | {"adoption-record.v1.schema.json"}  # and the signed record's predicate


def test_docs_generated_section_is_current() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert render_docs_section() in text, f"docs/events.md is stale: {FIX}"
    assert splice_docs(text) == text


def test_docs_show_every_event_type_and_its_example() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for event_type in EventType:
        assert f"### `{event_type.value}`" in text
        assert json.dumps(example_event(event_type).model_dump(mode="json"), indent=2) in text


@pytest.fixture(scope="module")
def validators() -> dict[str, jsonschema.Draft202012Validator]:
    found = {}
    for name in [t.value for t in EventType] + [UNION_NAME]:
        schema = json.loads((SCHEMAS / schema_file_name(name)).read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        found[name] = jsonschema.Draft202012Validator(schema)
    return found


def test_examples_validate_against_their_schema_and_the_union(
    validators: dict[str, jsonschema.Draft202012Validator],
) -> None:
    for event_type in EventType:
        instance = example_event(event_type).model_dump(mode="json")
        validators[event_type.value].validate(instance)
        validators[UNION_NAME].validate(instance)
        others = [t for t in EventType if t is not event_type]
        assert not any(validators[t.value].is_valid(instance) for t in others), event_type


def test_schema_refuses_what_the_model_refuses(validators: dict[str, jsonschema.Draft202012Validator]) -> None:
    good = example_event(EventType.PROMOTED).model_dump(mode="json")
    validator = validators["release.promoted"]
    for bad in (
        good | {"channel": "1.30"},
        good | {"event_type": "release.failed"},
        good | {"extra": 1},
        {k: v for k, v in good.items() if k != "kubernetes_minor"},
        good | {"detail": {**good["detail"], "imagez": 1}},
    ):
        assert not validator.is_valid(bad), bad


def test_generator_writes_files_and_removes_stale_ones(tmp_path: Path) -> None:
    (tmp_path / "release.shipped.v1.schema.json").write_text("{}")
    (tmp_path / "README.txt").write_text("kept")
    docs = tmp_path / "events.md"
    docs.write_text(f"intro\n{DOCS_START}\nold\n{DOCS_END}\n")
    assert main([str(tmp_path), "--docs", str(docs)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.schema.json")) == sorted(render_schemas())
    assert (tmp_path / "README.txt").read_text() == "kept"
    assert render_docs_section() in docs.read_text()
    assert docs.read_text().startswith("intro\n")


def test_generator_refuses_docs_without_markers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "events.md"
    docs.write_text("no markers here\n")
    assert main([str(tmp_path), "--docs", str(docs)]) == 2
    assert "no generated section" in capsys.readouterr().err
    assert docs.read_text() == "no markers here\n"
