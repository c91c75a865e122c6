"""Names shared by the CDK app, the functions' environments and the tests."""

from pathlib import Path

from eksd_adopt import observability

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
WORKFLOWS_DIR = REPO_ROOT / "infra" / "workflows"
DEFAULT_LAYER_DIR = REPO_ROOT / "build" / "layer"

# The names the functions report under (the alarms and the dashboard read them): defined once, in the domain.
SERVICE_NAME = observability.SERVICE_NAME
METRICS_NAMESPACE = observability.METRICS_NAMESPACE
LAMBDA_PYTHON_VERSION = "3.14"
LAMBDA_PLATFORM = "manylinux2014_aarch64"

# Where the stack deploys: the regions of the aws partition (the upstream topic is in us-east-1, and an
# SQS queue subscribes to a topic only within its partition) where CloudFormation has every resource
# type of the template. AWS::Lambda::Url, the approvers' endpoint, is missing in the others (cfn-lint's
# region schemas, rule E3006: ap-east-2, ap-south-2, ap-southeast-4..7, ca-west-1, eu-central-2,
# il-central-1, me-central-1, mx-central-1, GovCloud). tests/infra/test_cfn_lint.py lints the
# template for every region listed here, and checks that each other region lacks a resource type.
DEPLOY_REGIONS = (
    "af-south-1",
    "ap-east-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)
