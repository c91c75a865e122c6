"""Names shared by the CDK app, the functions' environments and the tests."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
WORKFLOWS_DIR = REPO_ROOT / "infra" / "workflows"
DEFAULT_LAYER_DIR = REPO_ROOT / "build" / "layer"

SERVICE_NAME = "eksd-adopt"
METRICS_NAMESPACE = "EksdAdopt"
LAMBDA_PYTHON_VERSION = "3.14"
LAMBDA_PLATFORM = "manylinux2014_aarch64"
