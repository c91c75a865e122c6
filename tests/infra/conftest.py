"""One synthesized template for the whole infrastructure suite (synth takes ~10 s), with cdk-nag on."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def cloud_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    # Synthesis raises when any cdk-nag AwsSolutions rule is violated and not acknowledged.
    build_app(outdir=str(outdir)).synth()
    return outdir


@pytest.fixture(scope="session")
def template_json(cloud_assembly: Path) -> dict[str, Any]:
    return json.loads((cloud_assembly / "EksdAdopt.template.json").read_text())


@pytest.fixture(scope="session")
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)


def resources_of(template_json: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == kind}
