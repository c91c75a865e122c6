"""Generates the checked-in JSON Schema files (one per event type, the adoption record's predicate) and docs/events.md's generated part.

    python -m eksd_adopt.events.schema_gen schemas/ [--docs docs/events.md]   (or: make schemas)

The output is deterministic (sorted keys, two-space indent, trailing newline), so a test can
regenerate it in memory and compare it with the files byte for byte.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from eksd_adopt.events.catalog import FILTER_EXAMPLES, example_event
from eksd_adopt.events.model import EVENT_MODELS, SCHEMA_VERSION, AnyReleaseEvent, EventType

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
UNION_NAME = "release-event"
DOCS_START = "<!-- BEGIN GENERATED: python -m eksd_adopt.events.schema_gen schemas/ --docs docs/events.md -->"
DOCS_END = "<!-- END GENERATED -->"


def schema_file_name(name: str) -> str:
    return f"{name}.v{SCHEMA_VERSION}.schema.json"


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _with_header(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": f"urn:eksd-adopt:schema:{schema_file_name(name)}", **schema}


def render_schemas() -> dict[str, str]:
    """File name -> file text: one schema per event type and one for any event (a oneOf on ``event_type``)."""
    files: dict[str, str] = {}
    for event_type, model in EVENT_MODELS.items():
        # Serialization mode: the schema of what subscribers receive (every field present).
        schema = model.model_json_schema(mode="serialization")
        files[schema_file_name(event_type.value)] = _dump(_with_header(schema, event_type.value))
    union = TypeAdapter(AnyReleaseEvent).json_schema(mode="serialization")
    union["title"] = "ReleaseEvent"
    files[schema_file_name(UNION_NAME)] = _dump(_with_header(union, UNION_NAME))
    files.update(render_record_schemas())
    return files


def render_record_schemas() -> dict[str, str]:
    """The signed adoption record's predicate (its own version, in its predicate type URI and file name)."""
    from eksd_adopt.attestation.statement import PREDICATE_TYPE, predicate_file_name, predicate_schema

    name = predicate_file_name()
    schema = {"$schema": JSON_SCHEMA_DIALECT, "$id": f"urn:eksd-adopt:schema:{name}", **predicate_schema()}
    schema["description"] = f"The predicate of an in-toto Statement v1 whose predicateType is {PREDICATE_TYPE}."
    return {name: _dump(schema)}


def write_schemas(directory: Path) -> list[Path]:
    """Write every schema file; remove stale ones of ours (a renamed type must not linger)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = render_schemas()
    for stale in directory.glob("*.schema.json"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _type_text(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "")
    # A pipe inside a table cell ends the cell, even in a code span, unless escaped.
    return text.removeprefix("<class '").removesuffix("'>").replace("|", "\\|")


def render_docs_section() -> str:
    """The generated part of docs/events.md: every event with its fields and a real example, then filter examples."""
    out: list[str] = [DOCS_START, ""]
    out.append("## Events\n")
    out.append("| event type | model | stage | schema |")
    out.append("|---|---|---|---|")
    for event_type, model in EVENT_MODELS.items():
        stage = "required" if model.stage_required else "when it applies"
        out.append(
            f"| `{event_type.value}` | `{model.__name__}` | {stage} | "
            f"[`{schema_file_name(event_type.value)}`](../schemas/{schema_file_name(event_type.value)}) |"
        )
    out.append("")
    for event_type, model in EVENT_MODELS.items():
        example = example_event(event_type)
        detail_model = type(example.detail)
        out.append(f"### `{event_type.value}`\n")
        out.append(f"{(model.__doc__ or '').strip()}\n")
        out.append("| detail field | type | description |")
        out.append("|---|---|---|")
        for name, field in detail_model.model_fields.items():
            required = "" if not field.is_required() else " (required)"
            out.append(f"| `{name}` | `{_type_text(field.annotation)}`{required} | {field.description or ''} |")
        out.append("")
        out.append("Message attributes:\n")
        out.append("```json")
        out.append(json.dumps(example.message_attributes(), indent=2))
        out.append("```\n")
        out.append("Message:\n")
        out.append("```json")
        out.append(json.dumps(example.model_dump(mode="json"), indent=2))
        out.append("```\n")
    out.append("## Filter-policy examples\n")
    out.append(
        "Each policy below is what `eksd-adopt subscribe` and `ReleaseSubscription` set for the options shown; "
        "the integration suite subscribes with exactly these policies and checks what each queue receives.\n"
    )
    for title, event_filter in FILTER_EXAMPLES.items():
        out.append(f"### {title}\n")
        options = [f"--channel {c}" for c in event_filter.channels]
        options += [f"--event {t.value}" for t in event_filter.event_types]
        options += [f"--stage {s}" for s in event_filter.stages]
        options += [f"--kubernetes-minor {m}" for m in event_filter.kubernetes_minors]
        out.append("```sh")
        out.append(f"eksd-adopt subscribe --endpoint arn:aws:sqs:eu-west-1:444455556666:releases {' '.join(options)}")
        out.append("```\n")
        out.append("```python")
        out.append("ReleaseSubscription(")
        out.append('    self, "Releases", topic=EVENTS_TOPIC_ARN,')
        for name in ("channels", "event_types", "stages", "kubernetes_minors"):
            values = getattr(event_filter, name)
            if values:
                out.append(f"    {name}={[str(v) for v in values]!r},")
        out.append(")")
        out.append("```\n")
        out.append("Filter policy (scope `MessageAttributes`):\n")
        out.append("```json")
        out.append(json.dumps(event_filter.policy(), indent=2, sort_keys=True))
        out.append("```\n")
    out.append(DOCS_END)
    return "\n".join(out)


def splice_docs(document: str) -> str:
    """``document`` with its generated section replaced by the current one (ValueError without the markers)."""
    start, end = document.find(DOCS_START), document.find(DOCS_END)
    if start < 0 or end < start:
        raise ValueError(f"the document has no generated section ({DOCS_START!r} ... {DOCS_END!r})")
    return document[:start] + render_docs_section() + document[end + len(DOCS_END) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eksd_adopt.events.schema_gen", description=__doc__)
    parser.add_argument("directory", type=Path, help="where the schema files go, e.g. schemas/")
    parser.add_argument("--docs", type=Path, help="also refresh the generated section of this page")
    args = parser.parse_args(argv)
    for path in write_schemas(args.directory):
        print(path)
    if args.docs:
        try:
            args.docs.write_text(splice_docs(args.docs.read_text(encoding="utf-8")), encoding="utf-8")
        except (OSError, ValueError) as exc:
            print(f"error: {args.docs}: {exc}", file=sys.stderr)
            return 2
        print(args.docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["EventType", "render_docs_section", "render_schemas", "splice_docs", "write_schemas"]
