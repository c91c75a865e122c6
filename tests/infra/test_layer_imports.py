"""Every Lambda handler imports against the layer as Lambda would load it, and nothing else.

The layer is built by ``infra.layer_build`` (the code path ``make layer`` uses) for this machine's
platform and Python instead of Lambda's arm64 one, then each ``functions/<name>/handler.py`` is
imported in a fresh interpreter (``python -I -S``: no site-packages, no user paths) whose path holds
only the layer's ``python/`` folder, the function's folder and what the Lambda Python runtime itself
provides (boto3 and botocore with their dependencies). A runtime dependency missing from
``layers/eksd_adopt/pyproject.toml`` (aws-xray-sdk for Powertools' Tracer was one) fails here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging import tags

from infra.constants import FUNCTIONS_DIR
from infra.layer_build import build

pytestmark = pytest.mark.slow

HANDLERS = sorted(p.parent.name for p in FUNCTIONS_DIR.glob("*/handler.py"))
# What the Lambda Python runtime ships besides the standard library: boto3, botocore and their own
# dependencies (https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html, "runtime-included SDK").
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six")
# What no function imports: the CLI, ``python -m eksd_adopt`` and the local runtime (moto, registries, demo).
NOT_FOR_LAMBDA = ("cli", "local", "__main__.py")


def _native_platforms() -> list[str]:
    """Every wheel platform tag this interpreter accepts (pip's --platform takes exact tags, one per flag)."""
    return list(tags.platform_tags())


@pytest.fixture(scope="session")
def native_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layer, built once per session for this machine (pip's cache makes a rebuild cheap)."""
    target = tmp_path_factory.mktemp("layer")
    build(
        target,
        platforms=_native_platforms(),
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
        pip_args=["--disable-pip-version-check"],
    )
    return target / "python"


@pytest.fixture(scope="session")
def runtime_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding only what the Lambda runtime provides, linked from this venv."""
    folder = tmp_path_factory.mktemp("lambda-runtime")
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, f"{name} is not installed in the test environment"
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (folder / source.name).symlink_to(source)
    return folder


def test_every_function_directory_is_checked() -> None:
    assert len(HANDLERS) >= 13, HANDLERS


def test_the_layer_holds_only_what_lambda_needs(native_layer: Path) -> None:
    package = native_layer / "eksd_adopt"
    assert (package / "__init__.py").is_file()
    present = sorted(name for name in NOT_FOR_LAMBDA if (package / name).exists())
    assert present == [], f"the layer ships {present}: the CLI and the local runtime stay out of it"
    assert not list(native_layer.rglob("__pycache__/*.pyc"))  # nothing compiled by the build machine
    # The runtime's SDK is used, never a second copy from the layer (aws-xray-sdk depends on botocore).
    shipped = sorted(name for name in RUNTIME_PROVIDED if (native_layer / name).exists())
    assert shipped == [], f"the layer ships {shipped}, which the Lambda runtime provides"


@pytest.mark.parametrize("name", HANDLERS)
def test_handler_imports_with_only_the_layer_and_the_runtime(name: str, native_layer: Path, runtime_sdk: Path) -> None:
    paths = [str(FUNCTIONS_DIR / name), str(native_layer), str(runtime_sdk)]
    # -I: no PYTHON* variables, no script or user site folder; -S: no site-packages; -B: the layer stays
    # as built. Then the handler's
    # module-level code runs (Logger, Tracer, Metrics, pydantic models) exactly as at a cold start.
    program = (
        "import json, sys\n"
        f"sys.path[:0] = {json.dumps(paths)}\n"
        "import handler\n"
        "assert callable(handler.handler)\n"
        "venv = [m.__file__ for m in list(sys.modules.values()) if 'site-packages' in (getattr(m, '__file__', '') or '')]\n"
        "print(json.dumps(venv))\n"
    )
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": f"eksd-adopt-{name}",
        "POWERTOOLS_SERVICE_NAME": "eksd-adopt",
        "POWERTOOLS_METRICS_NAMESPACE": "EksdAdopt",
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", program],
        check=False,  # the assertion below reports the import error
        capture_output=True,
        text=True,
        env=environment,
        cwd=str(native_layer.parent),
        timeout=120,
    )
    assert result.returncode == 0, f"functions/{name}/handler.py fails at import:\n{result.stderr[-3000:]}"
    loaded_from_venv = [p for p in json.loads(result.stdout.strip().splitlines()[-1]) if str(runtime_sdk) not in p]
    assert loaded_from_venv == [], loaded_from_venv
