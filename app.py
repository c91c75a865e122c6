"""CDK app: `python app.py` synthesizes the eksd-adopt stack with cdk-nag AwsSolutions checks on."""

from __future__ import annotations

import os
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.constants import DEFAULT_LAYER_DIR
from infra.settings import DeploymentSettings
from infra.stack import EksdAdoptStack


def build_app(outdir: str | None = None, context: dict[str, object] | None = None) -> cdk.App:
    app = cdk.App(outdir=outdir or os.environ.get("CDK_OUTDIR", "cdk.out"), context=context)
    settings = DeploymentSettings.from_context(app.node)
    EksdAdoptStack(
        app,
        "EksdAdopt",
        settings=settings,
        layer_dir=Path(os.environ.get("EKSD_ADOPT_LAYER_DIR", DEFAULT_LAYER_DIR)),
        env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(verbose=True))
    return app


if __name__ == "__main__":
    build_app().synth()
