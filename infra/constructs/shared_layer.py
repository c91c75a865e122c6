"""The Lambda layer that carries the domain package and its runtime dependencies."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.function_factory import RUNTIME


class DomainLayer(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, layer_dir: Path) -> None:
        super().__init__(scope, construct_id)
        if not (layer_dir / "python" / "eksd_adopt").is_dir():
            raise FileNotFoundError(f"{layer_dir} holds no built layer: run `make layer` first")
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(layer_dir)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="eksd-adopt domain package with pydantic, PyYAML, httpx, tenacity, Powertools (with aws-xray-sdk)",
        )
