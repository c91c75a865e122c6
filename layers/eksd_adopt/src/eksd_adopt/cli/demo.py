"""``demo``: show eksd-adopt doing its job on this machine."""

from __future__ import annotations

from pathlib import Path

import typer

from eksd_adopt.cli.common import console
from eksd_adopt.cli.release import PlanFormat, ReportFormat, plan, validate

# The demo runs from a checkout (`make demo`): the real manifests live in the repository's testdata.
DEFAULT_MANIFEST = Path(__file__).resolve().parents[5] / "testdata" / "eksd" / "kubernetes-1-20-eks-1.yaml"


def demo(
    manifest: Path = typer.Option(DEFAULT_MANIFEST, "--manifest", help="A real release manifest to shape the demo on."),
) -> None:
    """Validate and plan a real EKS-D manifest (the full local adoption builds on this)."""
    console.rule(f"1. validate {manifest.name}")
    validate(str(manifest), strict=False, output=ReportFormat.TEXT, policy=None, endpoint=None)
    console.rule("2. plan the copy jobs")
    plan(str(manifest), prefix="eksd", stage="staging", output=PlanFormat.TABLE, policy=None, endpoint=None)
    console.print("Validated the manifest and planned its copy jobs; nothing was copied.")
