"""Build the Lambda layer folder without Docker: the domain package plus its runtime wheels for arm64.

Usage: ``python -m infra.layer_build build/layer [--platform P --python-version V]``. CDK's Docker
bundling cannot run where there is no Docker engine, so the layer is assembled with pip's
cross-platform wheel selection instead. The defaults are Lambda's (arm64, the runtime's Python); the
layer import test builds the same layer for this machine's platform and Python to import every
handler against it.

Only what the functions import ships: the CLI (``eksd_adopt.cli``, ``python -m eksd_adopt``) and the
local runtime (``eksd_adopt.local``: moto, docker-registry, the demo) stay out of the layer.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from infra.constants import LAMBDA_PLATFORM, LAMBDA_PYTHON_VERSION, REPO_ROOT

PACKAGE_ROOT = REPO_ROOT / "layers" / "eksd_adopt"
# Parts of the package that no function imports, relative to the package folder.
EXCLUDED = ("cli", "local", "__main__.py")
# Distributions the Lambda Python runtime provides (the AWS SDK and its dependencies). aws-xray-sdk
# requires botocore, so pip installs it; a copy in the layer would shadow the runtime's botocore
# (/opt/python comes first on the path) and could disagree with the runtime's boto3.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six")


def runtime_requirements() -> list[str]:
    project = tomllib.loads((PACKAGE_ROOT / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"])


def _ignore(directory: str, names: list[str]) -> set[str]:
    ignored = set(shutil.ignore_patterns("__pycache__", "*.pyc")(directory, names))
    if Path(directory).resolve() == (PACKAGE_ROOT / "src" / "eksd_adopt").resolve():
        ignored.update(n for n in names if n in EXCLUDED)
    return ignored


def build(
    target: Path,
    *,
    platforms: Sequence[str] = (LAMBDA_PLATFORM,),
    python_version: str = LAMBDA_PYTHON_VERSION,
    pip_args: Sequence[str] = (),
) -> None:
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
            # Bytecode compiled here would be for this machine's Python, not the Lambda runtime's.
            "--no-compile",
            "--target",
            str(site),
            *(f"--platform={platform}" for platform in platforms),
            "--python-version",
            python_version,
            "--implementation",
            "cp",
            "--only-binary=:all:",
            *pip_args,
            *runtime_requirements(),
        ],
        check=True,
    )
    _remove_runtime_provided(site)
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts: nothing runs them in Lambda
    shutil.copytree(PACKAGE_ROOT / "src" / "eksd_adopt", site / "eksd_adopt", ignore=_ignore)


def _remove_runtime_provided(site: Path) -> None:
    """Delete the files of every RUNTIME_PROVIDED distribution pip put in ``site`` (from its RECORD)."""
    wanted = {name.lower() for name in RUNTIME_PROVIDED}
    for dist in importlib.metadata.distributions(path=[str(site)]):
        if dist.metadata["Name"].lower() not in wanted:
            continue
        for file in dist.files or ():
            path = (site / file).resolve()
            if path.is_relative_to(site.resolve()) and path.is_file():
                path.unlink()
    for directory in sorted((d for d in site.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.layer_build", description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", default="build/layer", type=Path)
    parser.add_argument(
        "--platform",
        action="append",
        dest="platforms",
        help=f"a pip wheel platform tag, repeatable (default {LAMBDA_PLATFORM})",
    )
    parser.add_argument(
        "--python-version",
        default=LAMBDA_PYTHON_VERSION,
        help=f"Python of the wheels (default {LAMBDA_PYTHON_VERSION})",
    )
    args = parser.parse_args(argv)
    build(args.target, platforms=args.platforms or (LAMBDA_PLATFORM,), python_version=args.python_version)


if __name__ == "__main__":
    main()
