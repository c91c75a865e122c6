"""Build the Lambda layer folder without Docker: the domain package plus its runtime wheels for arm64.

Usage: ``python -m infra.layer_build build/layer``. CDK's Docker bundling cannot run where there is
no Docker engine, so the layer is assembled with pip's cross-platform wheel selection instead.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from infra.constants import LAMBDA_PLATFORM, LAMBDA_PYTHON_VERSION, REPO_ROOT

PACKAGE_ROOT = REPO_ROOT / "layers" / "eksd_adopt"


def runtime_requirements() -> list[str]:
    project = tomllib.loads((PACKAGE_ROOT / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"])


def build(target: Path) -> None:
    site = target / "python"
    if target.exists():
        shutil.rmtree(target)
    site.mkdir(parents=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--target",
            str(site),
            "--platform",
            LAMBDA_PLATFORM,
            "--python-version",
            LAMBDA_PYTHON_VERSION,
            "--implementation",
            "cp",
            "--only-binary=:all:",
            *runtime_requirements(),
        ],
        check=True,
    )
    shutil.copytree(
        PACKAGE_ROOT / "src" / "eksd_adopt",
        site / "eksd_adopt",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "build/layer"))
